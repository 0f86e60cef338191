# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'monitoring.grafana.config' %}
{%- from "monitoring/map.jinja" import monitoring with context %}

include:
  - {{ sls_config }}

monitoring-grafana-service-service-running:
  service.running:
    - name: {{ monitoring.grafana.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}
{%- if not opts.get('test') %}

monitoring-grafana-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Grafana did not start. See `journalctl -u {{ monitoring.grafana.service }}`;
        a provisioning file it cannot parse under {{ monitoring.grafana.provisioning_dir }}
        stops it, as does port {{ monitoring.grafana.port }} in use.
    - onfail:
      - service: monitoring-grafana-service-service-running
{%- endif %}
