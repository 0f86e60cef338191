# -*- coding: utf-8 -*-
# vim: ft=sls
# NFS server on the nfs node, exporting hummer:cluster:nfs_export.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - nfs.server.package
  - nfs.server.config
  - nfs.server.service
{{ failpoint('nfs', 'server') }}
