# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop and remove InfluxDB; its data directory stays.
{%- from "monitoring/map.jinja" import monitoring with context %}

monitoring-influxdb-clean-service-dead:
  service.dead:
    - name: {{ monitoring.influxdb.service }}
    - enable: False

monitoring-influxdb-clean-pkg-removed:
  pkg.removed:
    - pkgs: {{ monitoring.influxdb.pkg.names | json }}
    - require:
      - service: monitoring-influxdb-clean-service-dead
