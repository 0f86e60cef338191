# -*- coding: utf-8 -*-
# vim: ft=sls
# Telegraf on every node: host inputs, plus the `kubernetes` input (kubelet
# stats) on Kubernetes nodes, writing to InfluxDB's database `hummer`.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - monitoring.telegraf.repo
  - monitoring.telegraf.package
  - monitoring.telegraf.config
  - monitoring.telegraf.service
{{ failpoint('monitoring', 'telegraf') }}
