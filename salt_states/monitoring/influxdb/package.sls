# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "monitoring/map.jinja" import monitoring with context %}

{%- if monitoring.influxdb.pkg.manage %}

monitoring-influxdb-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ monitoring.influxdb.pkg.names | json }}
    - refresh: True
    - cache_valid_time: 3600
{%- else %}

monitoring-influxdb-package-test-show_notification:
  test.show_notification:
    - text: InfluxDB is not installed here (hummer:monitoring:influxdb:pkg:manage is false).
{%- endif %}
