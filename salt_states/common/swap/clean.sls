# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "common/map.jinja" import common with context %}

common-swap-clean-fstab-file-replace:
  file.replace:
    - name: {{ common.swap.fstab }}
    - pattern: '^# disabled by Hummer \(kubelet needs swap off\): (.*)$'
    - repl: '\1'
    - ignore_if_missing: True
    - backup: False
