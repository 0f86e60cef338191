# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "registry/map.jinja" import registry with context %}
{%- if registry.service_manager == 'daemon' %}

registry-service-clean-stop-cmd-run:
  cmd.run:
    - name: kill "$(cat {{ registry.daemon.pidfile }})"
    - onlyif: {{ registry.alive }}
{%- else %}

registry-service-clean-service-dead:
  service.dead:
    - name: {{ registry.service }}
    - enable: False
{%- endif %}
