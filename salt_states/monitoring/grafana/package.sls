# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_repo = 'monitoring.grafana.repo' %}
{%- from "monitoring/map.jinja" import monitoring with context %}

{%- if monitoring.grafana.pkg.manage %}

include:
  - {{ sls_repo }}

monitoring-grafana-package-pkg-installed:
  pkg.installed:
    - name: {{ monitoring.grafana.pkg.name }}
    - refresh: True
    # The repository may not be configured yet when a plan (test=True) runs.
    - skip_suggestions: True
    - require:
      - sls: {{ sls_repo }}
{%- else %}

monitoring-grafana-package-test-show_notification:
  test.show_notification:
    - text: Grafana is not installed here (hummer:monitoring:grafana:pkg:manage is false).
{%- endif %}
