# -*- coding: utf-8 -*-
# vim: ft=sls
include:
  - monitoring.grafana.repo
  - monitoring.grafana.package
  - monitoring.grafana.config
  - monitoring.grafana.service
