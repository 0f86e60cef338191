# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "portal/map.jinja" import portal with context %}

{%- if portal.pkg.manage %}

portal-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ portal.pkg.names | json }}
    - refresh: True
    - cache_valid_time: 3600
{%- else %}

portal-package-test-show_notification:
  test.show_notification:
    - text: The portal's packages are not managed here (hummer:portal:pkg:manage is false).
{%- endif %}
