# -*- coding: utf-8 -*-
# vim: ft=sls
# registry: Docker Distribution on the registry node (port, storage, deletion,
# optional htpasswd and TLS). Garbage collection is `registry.gc`, on demand.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - registry.package
  - registry.config
  - registry.service
{{ failpoint('registry') }}
