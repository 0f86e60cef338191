# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'portal.config' %}
{%- set sls_app = 'portal.app' %}
{%- set sls_database = 'portal.database' %}
{%- from "portal/map.jinja" import portal with context %}

include:
  - {{ sls_config }}
  - {{ sls_app }}
  - {{ sls_database }}
  - nfs.mount

portal-service-service-running:
  service.running:
    - name: {{ portal.service }}
    - enable: True
    - require:
      - sls: {{ sls_database }}
      - sls: nfs.mount
    - watch:
      - sls: {{ sls_config }}
      - sls: {{ sls_app }}
{%- if not opts.get('test') %}

portal-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        The portal did not start. `journalctl -u {{ portal.service }}` shows
        whether the database migration (ExecStartPre) or gunicorn failed;
        {{ portal.env_file }} holds its settings.
    - onfail:
      - service: portal-service-service-running
{%- endif %}
