# -*- coding: utf-8 -*-
# vim: ft=sls
# telegraf.conf; on Kubernetes nodes also the token for the kubelet's stats,
# which the master published through the Salt mine
# (kubernetes.master.portal_access). Without the token the kubernetes input
# is left out until the next run.
{%- set sls_package = 'monitoring.telegraf.package' %}
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- from "lib/owner.jinja" import owned_by with context %}
{%- set t = monitoring.telegraf %}
{%- set token = '' %}
{%- if monitoring.kubelet and monitoring.master %}
{%-   set token = (salt['mine.get'](monitoring.master, 'hummer_telegraf_token').get(monitoring.master) or '') | trim %}
{%- endif %}

include:
  - {{ sls_package }}

{%- if token %}

monitoring-telegraf-config-token-file-managed:
  file.managed:
    - name: {{ t.kubelet_token }}
    - contents: {{ token | json }}
{{ owned_by('root', t.group) }}
    - mode: '0640'
    - makedirs: True
    - show_changes: False
    - require:
      - sls: {{ sls_package }}
{%- elif monitoring.kubelet %}

monitoring-telegraf-config-token-test-show_notification:
  test.show_notification:
    - text: >-
        No kubelet token from master {{ monitoring.master or '(none)' }} in the
        Salt mine yet; the kubernetes input is left out until it is published
        (kubernetes.master.portal_access).
{%- endif %}

monitoring-telegraf-config-file-managed:
  file.managed:
    - name: {{ t.config }}
    - source: salt://monitoring/files/telegraf.conf.jinja
    - template: jinja
    - context:
        monitoring: {{ monitoring | json }}
        kubelet_token: {{ (token != '') | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}
