# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'monitoring.telegraf.config' %}
{%- from "monitoring/map.jinja" import monitoring with context %}

include:
  - {{ sls_config }}

monitoring-telegraf-service-service-running:
  service.running:
    - name: {{ monitoring.telegraf.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}
{%- if not opts.get('test') %}

monitoring-telegraf-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Telegraf did not start. `telegraf --test --config {{ monitoring.telegraf.config }}`
        shows which input or output it rejects.
    - onfail:
      - service: monitoring-telegraf-service-service-running
{%- endif %}
