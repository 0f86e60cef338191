# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop the portal and remove its service and site; the database, the venv,
# the instance directory and the NFS mount are kept.
{%- from "portal/map.jinja" import portal with context %}

portal-clean-service-dead:
  service.dead:
    - name: {{ portal.service }}
    - enable: False

portal-clean-file-absent:
  file.absent:
    - names:
      - {{ portal.unit_file }}
      - {{ portal.nginx.enabled_link }}
      - {{ portal.nginx.site }}
    - require:
      - service: portal-clean-service-dead
