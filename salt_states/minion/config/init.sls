# -*- coding: utf-8 -*-
# vim: ft=sls
# The minion's configuration: the master, its ports, the id and
# state_events (the portal follows per-state progress through it).
{%- set sls_install = 'minion.install' %}
{%- from "minion/map.jinja" import minion with context %}

include:
  - {{ sls_install }}
{%- if not minion.master %}
{%-   if opts.get('test') %}

minion-config-master-test-show_notification:
  test.show_notification:
    - text: >-
        hummer:minion:master is empty; a real run stops here. Set it to the
        Salt master's address as this host reaches it.
{%-   else %}

minion-config-master-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        hummer:minion:master is empty: set it to the Salt master's address as
        this host reaches it (the portal passes HUMMER_SALT_MASTER_ADDRESS).
{%-   endif %}
{%- endif %}

minion-config-file-file-managed:
  file.managed:
    - name: {{ minion.config_file }}
    - source: salt://minion/files/hummer.conf.jinja
    - template: jinja
    - context:
        minion: {{ minion | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_install }}
