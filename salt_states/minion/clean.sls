# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop salt-minion and remove the configuration Hummer wrote; the venv and the
# minion's keys are kept.
{%- from "minion/map.jinja" import minion with context %}

{%- if minion.service.manager == 'daemon' %}

minion-clean-stop-cmd-run:
  cmd.run:
    - name: kill "$(cat {{ minion.pidfile }})"
    - onlyif: {{ minion.alive }}
{%- else %}

minion-clean-service-dead:
  service.dead:
    - name: {{ minion.service.name }}
    - enable: False
{%- endif %}

minion-clean-file-absent:
  file.absent:
    - names:
      - {{ minion.config_file }}
{%- if minion.install.method == 'pip' and minion.service.manager != 'daemon' %}
      - {{ minion.service.unit_file }}
{%- endif %}
