# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_package = 'monitoring.influxdb.package' %}
{%- from "monitoring/map.jinja" import monitoring with context %}

include:
  - {{ sls_package }}

monitoring-influxdb-config-file-managed:
  file.managed:
    - name: {{ monitoring.influxdb.config }}
    - source: salt://monitoring/files/influxdb.conf.jinja
    - template: jinja
    - context:
        monitoring: {{ monitoring | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}
