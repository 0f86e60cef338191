# -*- coding: utf-8 -*-
# vim: ft=sls
# grafana.ini, the InfluxDB datasource and Hummer's dashboards, provisioned.
{%- set sls_package = 'monitoring.grafana.package' %}
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- from "lib/owner.jinja" import owned_by with context %}
{%- set g = monitoring.grafana %}

include:
  - {{ sls_package }}

monitoring-grafana-config-ini-file-managed:
  file.managed:
    - name: {{ g.config }}
    - source: salt://monitoring/files/grafana.ini.jinja
    - template: jinja
    - context:
        monitoring: {{ monitoring | json }}
{{ owned_by('root', g.group) }}
    - mode: '0640'
    - makedirs: True
    - show_changes: False
    - require:
      - sls: {{ sls_package }}

monitoring-grafana-config-datasource-file-managed:
  file.managed:
    - name: {{ g.provisioning_dir }}/datasources/hummer.yaml
    - source: salt://monitoring/files/grafana-datasource.yaml.jinja
    - template: jinja
    - context:
        monitoring: {{ monitoring | json }}
{{ owned_by('root', g.group) }}
    - mode: '0640'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

monitoring-grafana-config-dashboards-file-managed:
  file.managed:
    - name: {{ g.provisioning_dir }}/dashboards/hummer.yaml
    - source: salt://monitoring/files/grafana-dashboards.yaml.jinja
    - template: jinja
    - context:
        monitoring: {{ monitoring | json }}
{{ owned_by('root', g.group) }}
    - mode: '0640'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

monitoring-grafana-config-dashboard-files-file-recurse:
  file.recurse:
    - name: {{ g.dashboards_dir }}
    - source: salt://monitoring/files/dashboards
    - include_pat: '*.json'
    - file_mode: '0644'
    - dir_mode: '0755'
    - makedirs: True
    - clean: True
    - require:
      - sls: {{ sls_package }}
