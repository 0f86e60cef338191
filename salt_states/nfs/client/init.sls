# -*- coding: utf-8 -*-
# vim: ft=sls
# NFS client tools on every node (the kubelet mounts NFS volumes).
{%- from "nfs/map.jinja" import nfs with context %}
{%- from "lib/failpoint.jinja" import failpoint with context %}

{%- if nfs.pkg.manage %}

nfs-client-pkg-installed:
  pkg.installed:
    - name: {{ nfs.pkg.client }}
    - refresh: True
    - cache_valid_time: 3600
{%- else %}

nfs-client-test-show_notification:
  test.show_notification:
    - text: NFS client tools are not managed here (hummer:nfs:pkg:manage is false).
{%- endif %}
{{ failpoint('nfs', 'client') }}
