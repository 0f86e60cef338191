# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'common.config' %}
{%- from "common/map.jinja" import common with context %}

include:
  - {{ sls_config }}

common-service-timesync-service-running:
  service.running:
    - name: {{ common.time.service }}
    - enable: True
    - require:
      - sls: {{ sls_config }}
    - watch:
      - file: common-config-timesyncd-file-managed
