# -*- coding: utf-8 -*-
# vim: ft=sls
# portal: Hummer on the portal host.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - portal.package
  - nfs.mount
  - portal.database
  - portal.app
  - portal.config
  - portal.service
  - portal.web
{{ failpoint('portal') }}
