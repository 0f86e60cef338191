# -*- coding: utf-8 -*-
# vim: ft=sls
# common: base packages, /etc/hosts for the cluster, time sync, swap off,
# kernel modules and sysctls for Kubernetes. Every cluster node gets it.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - common.package
  - common.config
  - common.kernel
  - common.swap
  - common.service
{{ failpoint('common') }}
