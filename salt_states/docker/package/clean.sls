# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_service_clean = 'docker.service.clean' %}
{%- from "docker/map.jinja" import docker with context %}

include:
  - {{ sls_service_clean }}

docker-package-clean-pkg-removed:
  pkg.removed:
    - pkgs: {{ docker.pkg.names | json }}
    - require:
      - sls: {{ sls_service_clean }}
