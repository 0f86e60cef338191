# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "nfs/map.jinja" import nfs with context %}

{%- if nfs.pkg.manage %}

nfs-server-package-pkg-installed:
  pkg.installed:
    - name: {{ nfs.pkg.server }}
    - refresh: True
    - cache_valid_time: 3600
{%- else %}

nfs-server-package-test-show_notification:
  test.show_notification:
    - text: The NFS server package is not managed here (hummer:nfs:pkg:manage is false).
{%- endif %}
