# -*- coding: utf-8 -*-
# vim: ft=sls
# minion: salt-minion on a new host, pointed at the Salt master. Applied over
# SSH (salt-ssh) before the host is a minion; not part of orch.cluster.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - minion.install
  - minion.config
  - minion.service
{{ failpoint('minion') }}
