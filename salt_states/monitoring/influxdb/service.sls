# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'monitoring.influxdb.config' %}
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- set influx = 'influx -host 127.0.0.1 -port ' ~ monitoring.influxdb.port %}

include:
  - {{ sls_config }}

monitoring-influxdb-service-service-running:
  service.running:
    - name: {{ monitoring.influxdb.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}

monitoring-influxdb-service-database-cmd-run:
  cmd.run:
    - name: >-
        for i in $(seq 1 30); do {{ influx }} -execute 'SHOW DATABASES' >/dev/null 2>&1 && break; sleep 1; done;
        {{ influx }} -execute 'CREATE DATABASE "{{ monitoring.database }}" WITH DURATION {{ monitoring.retention }}'
    - unless: >-
        {{ influx }} -format csv -execute 'SHOW DATABASES' | grep -q ',{{ monitoring.database }}$'
    - require:
      - service: monitoring-influxdb-service-service-running
{%- if not opts.get('test') %}

monitoring-influxdb-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        InfluxDB did not start or did not create the database
        {{ monitoring.database }}. See `journalctl -u {{ monitoring.influxdb.service }}`;
        port {{ monitoring.influxdb.port }} may be in use.
    - onfail:
      - service: monitoring-influxdb-service-service-running
      - cmd: monitoring-influxdb-service-database-cmd-run
{%- endif %}
