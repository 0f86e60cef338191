# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- from "lib/aptrepo.jinja" import apt_repo with context %}
{{ apt_repo('monitoring-grafana-repo', 'Grafana', monitoring.grafana.repo, 'hummer:monitoring:grafana:repo') }}
