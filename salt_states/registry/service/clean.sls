# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "registry/map.jinja" import registry with context %}

registry-service-clean-service-dead:
  service.dead:
    - name: {{ registry.service }}
    - enable: False
