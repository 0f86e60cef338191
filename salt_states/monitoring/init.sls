# -*- coding: utf-8 -*-
# vim: ft=sls
# monitoring: InfluxDB 1.x and Grafana on the monitoring node. Every node runs
# `monitoring.telegraf` (see top.sls and orch/cluster.sls).
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - monitoring.influxdb
  - monitoring.grafana
{{ failpoint('monitoring') }}
