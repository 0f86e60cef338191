# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "monitoring/map.jinja" import monitoring with context %}

monitoring-grafana-clean-service-dead:
  service.dead:
    - name: {{ monitoring.grafana.service }}
    - enable: False

monitoring-grafana-clean-pkg-removed:
  pkg.removed:
    - name: {{ monitoring.grafana.pkg.name }}
    - require:
      - service: monitoring-grafana-clean-service-dead

monitoring-grafana-clean-file-absent:
  file.absent:
    - names:
      - {{ monitoring.grafana.provisioning_dir }}/datasources/hummer.yaml
      - {{ monitoring.grafana.provisioning_dir }}/dashboards/hummer.yaml
      - {{ monitoring.grafana.dashboards_dir }}
      - {{ monitoring.grafana.repo.list_file }}
