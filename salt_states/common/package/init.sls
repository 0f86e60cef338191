# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "common/map.jinja" import common with context %}

{%- if common.pkg.manage %}

common-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ common.pkg.names | json }}
    - refresh: True
    - cache_valid_time: 3600
{%- else %}

common-package-test-show_notification:
  test.show_notification:
    - text: Base packages are not managed here (hummer:common:pkg:manage is false).
{%- endif %}
