# -*- coding: utf-8 -*-
# vim: ft=sls
include:
  - monitoring.influxdb.package
  - monitoring.influxdb.config
  - monitoring.influxdb.service
  - monitoring.influxdb.database
