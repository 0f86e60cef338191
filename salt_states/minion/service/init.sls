# -*- coding: utf-8 -*-
# vim: ft=sls
# Run salt-minion: a systemd service, or (service:manager daemon, for hosts
# without systemd) `<bin> -d -c <config_dir>`, started only when it is not
# running already and restarted when the configuration changed.
{%- set sls_config = 'minion.config' %}
{%- from "minion/map.jinja" import minion with context %}

include:
  - {{ sls_config }}

{%- if minion.service.manager == 'daemon' %}

minion-service-stop-cmd-run:
  cmd.run:
    - name: >-
        kill "$(cat {{ minion.pidfile }})";
        for i in $(seq 1 30); do {{ minion.alive }} || exit 0; sleep 1; done;
        echo "salt-minion did not stop in 30 s" >&2; exit 1
    - onlyif: {{ minion.alive }}
    - onchanges:
      - sls: {{ sls_config }}

minion-service-start-cmd-run:
  cmd.run:
    - name: {{ minion.bin }} -d -c {{ minion.config_dir }}
    - unless: {{ minion.alive }}
    - require:
      - sls: {{ sls_config }}
      - cmd: minion-service-stop-cmd-run
{%- if not opts.get('test') %}

minion-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        salt-minion did not start. Run `{{ minion.bin }} -l debug -c {{ minion.config_dir }}`
        on this host to see why (a bad configuration in {{ minion.config_file }},
        or another salt-minion already running with {{ minion.pidfile }}).
    - onfail:
      - cmd: minion-service-start-cmd-run
{%- endif %}
{%- else %}
{%-   if minion.install.method == 'pip' %}

minion-service-unit-file-managed:
  file.managed:
    - name: {{ minion.service.unit_file }}
    - source: salt://minion/files/salt-minion.service.jinja
    - template: jinja
    - context:
        minion: {{ minion | json }}
    - mode: '0644'
    - require:
      - sls: {{ sls_config }}

minion-service-reload-cmd-run:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: minion-service-unit-file-managed
{%-   endif %}

minion-service-running-service-running:
  service.running:
    - name: {{ minion.service.name }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}
{%-   if minion.install.method == 'pip' %}
      - file: minion-service-unit-file-managed
    - require:
      - cmd: minion-service-reload-cmd-run
{%-   endif %}
{%- if not opts.get('test') %}

minion-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        salt-minion did not start: see `journalctl -u {{ minion.service.name }}`
        (a bad configuration in {{ minion.config_file }}, or a master address
        it cannot resolve).
    - onfail:
      - service: minion-service-running-service-running
{%- endif %}
{%- endif %}
