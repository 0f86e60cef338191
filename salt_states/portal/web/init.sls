# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'portal.config' %}
{%- from "portal/map.jinja" import portal with context %}

include:
  - {{ sls_config }}

portal-web-nginx-config-cmd-run:
  cmd.run:
    - name: nginx -t
    - onchanges:
      - sls: {{ sls_config }}

portal-web-service-running:
  service.running:
    - name: {{ portal.nginx.service }}
    - enable: True
    - reload: True
    - require:
      - cmd: portal-web-nginx-config-cmd-run
    - watch:
      - sls: {{ sls_config }}
{%- if not opts.get('test') %}

portal-web-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        nginx rejected {{ portal.nginx.site }} (`nginx -t` says where) or did
        not start; port {{ portal.nginx.port }} may be in use.
    - onfail:
      - cmd: portal-web-nginx-config-cmd-run
      - service: portal-web-service-running
{%- endif %}
