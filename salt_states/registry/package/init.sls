# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "registry/map.jinja" import registry with context %}

{%- if registry.pkg.manage %}

registry-package-pkg-installed:
  pkg.installed:
    - name: {{ registry.pkg.name }}
    - refresh: True
    - cache_valid_time: 3600
{%- if not opts.get('test') %}

registry-package-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Installing {{ registry.pkg.name }} failed. It comes from the
        distribution's own repositories (main): check the apt sources and
        `apt-get update` on this node.
    - onfail:
      - pkg: registry-package-pkg-installed
{%- endif %}
{%- else %}

registry-package-test-show_notification:
  test.show_notification:
    - text: The registry package is not managed here (hummer:registry:pkg:manage is false).
{%- endif %}
