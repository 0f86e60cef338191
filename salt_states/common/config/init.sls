# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_package = 'common.package' %}
{%- from "common/map.jinja" import common, cluster with context %}

include:
  - {{ sls_package }}

common-config-hosts-file-blockreplace:
  file.blockreplace:
    - name: {{ common.hosts.file }}
    - marker_start: '# BEGIN Hummer cluster nodes (managed by Salt, do not edit)'
    - marker_end: '# END Hummer cluster nodes'
    - source: salt://common/files/hosts.jinja
    - template: jinja
    - context:
        cluster: {{ cluster | json }}
    - append_if_not_found: True
    - backup: False
    - require:
      - sls: {{ sls_package }}

common-config-timesyncd-file-managed:
  file.managed:
    - name: {{ common.time.config }}
    - source: salt://common/files/timesyncd.conf.jinja
    - template: jinja
    - context:
        common: {{ common | json }}
    - makedirs: True
    - mode: '0644'
    - require:
      - sls: {{ sls_package }}

common-config-modules-file-managed:
  file.managed:
    - name: {{ common.kernel.modules_file }}
    - source: salt://common/files/modules-load.conf.jinja
    - template: jinja
    - context:
        common: {{ common | json }}
    - makedirs: True
    - mode: '0644'

common-config-sysctl-file-managed:
  file.managed:
    - name: {{ common.kernel.sysctl_file }}
    - source: salt://common/files/sysctl.conf.jinja
    - template: jinja
    - context:
        common: {{ common | json }}
    - makedirs: True
    - mode: '0644'
