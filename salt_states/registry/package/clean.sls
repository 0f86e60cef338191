# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_service_clean = 'registry.service.clean' %}
{%- from "registry/map.jinja" import registry with context %}

include:
  - {{ sls_service_clean }}

registry-package-clean-pkg-removed:
  pkg.removed:
    - name: {{ registry.pkg.name }}
    - require:
      - sls: {{ sls_service_clean }}
