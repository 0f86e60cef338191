# -*- coding: utf-8 -*-
# vim: ft=sls
# influxd under systemd, restarted when its configuration changes, and answering
# before anything goes on (monitoring.influxdb.database then makes the database).
{%- set sls_config = 'monitoring.influxdb.config' %}
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- set influx = 'influx -host ' ~ monitoring.influxdb_local_host ~ ' -port ' ~ monitoring.influxdb.port %}

include:
  - {{ sls_config }}

monitoring-influxdb-service-service-running:
  service.running:
    - name: {{ monitoring.influxdb.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}

monitoring-influxdb-service-ready-cmd-run:
  cmd.run:
    - name: >-
        for i in $(seq 1 30); do {{ influx }} -execute 'SHOW DATABASES' >/dev/null 2>&1 && exit 0; sleep 1; done;
        exit 1
    - unless: {{ influx }} -execute 'SHOW DATABASES' >/dev/null
    - require:
      - service: monitoring-influxdb-service-service-running
{%- if not opts.get('test') %}

monitoring-influxdb-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        InfluxDB did not start or does not answer on {{ monitoring.influxdb_local_url }}.
        See `journalctl -u {{ monitoring.influxdb.service }}`;
        port {{ monitoring.influxdb.port }} or {{ monitoring.influxdb.rpc_port }} may be in use.
    - onfail:
      - service: monitoring-influxdb-service-service-running
      - cmd: monitoring-influxdb-service-ready-cmd-run
{%- endif %}
