# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_repo = 'monitoring.telegraf.repo' %}
{%- from "monitoring/map.jinja" import monitoring with context %}

{%- if monitoring.telegraf.pkg.manage %}

include:
  - {{ sls_repo }}

monitoring-telegraf-package-pkg-installed:
  pkg.installed:
    - name: {{ monitoring.telegraf.pkg.name }}
    - refresh: True
    # The repository may not be configured yet when a plan (test=True) runs.
    - skip_suggestions: True
    - require:
      - sls: {{ sls_repo }}
{%- else %}

monitoring-telegraf-package-test-show_notification:
  test.show_notification:
    - text: Telegraf is not installed here (hummer:monitoring:telegraf:pkg:manage is false).
{%- endif %}
