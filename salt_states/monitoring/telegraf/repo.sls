# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- from "lib/aptrepo.jinja" import apt_repo with context %}
{{ apt_repo('monitoring-telegraf-repo', 'InfluxData', monitoring.telegraf.repo, 'hummer:monitoring:telegraf:repo') }}
