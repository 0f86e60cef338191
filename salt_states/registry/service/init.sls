# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'registry.config' %}
{%- from "registry/map.jinja" import registry with context %}

include:
  - {{ sls_config }}

registry-service-running-service-running:
  service.running:
    - name: {{ registry.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}

registry-service-listening-cmd-run:
  cmd.run:
    - name: >-
        curl -sS {% if registry.tls.enabled %}-k {% endif %}--retry 30 --retry-delay 1 --retry-connrefused
        -o /dev/null -w '%{http_code}'
        {% if registry.tls.enabled %}https{% else %}http{% endif %}://127.0.0.1:{{ registry.port }}/v2/
        | grep -Eqx '200|401'
    - onchanges:
      - service: registry-service-running-service-running
    - require:
      - service: registry-service-running-service-running
{%- if not opts.get('test') %}

registry-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        The registry does not answer on port {{ registry.port }}. See
        `journalctl -u {{ registry.service }}`: a port already in use, a bad
        TLS certificate or key, or a storage directory it cannot write
        ({{ registry.storage_dir }}).
    - onfail:
      - service: registry-service-running-service-running
      - cmd: registry-service-listening-cmd-run
{%- endif %}
