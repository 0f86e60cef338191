# -*- coding: utf-8 -*-
# vim: ft=sls
# Remove Telegraf, Grafana and InfluxDB (their data directories are kept).

include:
  - monitoring.telegraf.clean
  - monitoring.grafana.clean
  - monitoring.influxdb.clean
