# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'docker.config' %}
{%- from "docker/map.jinja" import docker with context %}

include:
  - {{ sls_config }}

docker-service-running-service-running:
  service.running:
    - names: {{ docker.services | json }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}
{%- if not opts.get('test') %}

docker-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        containerd or docker did not start with the new configuration. See
        `journalctl -u containerd -u docker`; a syntax error in
        {{ docker.containerd_config }} or {{ docker.daemon_json }} is the usual cause.
    - onfail:
      - service: docker-service-running-service-running
{%- endif %}
