# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "monitoring/map.jinja" import monitoring with context %}

monitoring-telegraf-clean-service-dead:
  service.dead:
    - name: {{ monitoring.telegraf.service }}
    - enable: False

monitoring-telegraf-clean-pkg-removed:
  pkg.removed:
    - name: {{ monitoring.telegraf.pkg.name }}
    - require:
      - service: monitoring-telegraf-clean-service-dead

monitoring-telegraf-clean-file-absent:
  file.absent:
    - names:
      - {{ monitoring.telegraf.kubelet_token }}
      - {{ monitoring.telegraf.repo.list_file }}
