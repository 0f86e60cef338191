# -*- coding: utf-8 -*-
# vim: ft=sls
# Removes the configuration; the stored images in the storage directory stay.
{%- set sls_service_clean = 'registry.service.clean' %}
{%- from "registry/map.jinja" import registry with context %}

include:
  - {{ sls_service_clean }}

registry-config-clean-file-absent:
  file.absent:
    - names:
      - {{ registry.config_file }}
      - {{ registry.htpasswd.file }}
    - require:
      - sls: {{ sls_service_clean }}
