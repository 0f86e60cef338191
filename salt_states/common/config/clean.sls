# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "common/map.jinja" import common with context %}

common-config-clean-hosts-file-blockreplace:
  file.blockreplace:
    - name: {{ common.hosts.file }}
    - marker_start: '# BEGIN Hummer cluster nodes (managed by Salt, do not edit)'
    - marker_end: '# END Hummer cluster nodes'
    - content: ''
    - backup: False

common-config-clean-files-file-absent:
  file.absent:
    - names:
      - {{ common.time.config }}
      - {{ common.kernel.modules_file }}
      - {{ common.kernel.sysctl_file }}
