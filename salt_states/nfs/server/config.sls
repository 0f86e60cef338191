# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_package = 'nfs.server.package' %}
{%- from "nfs/map.jinja" import nfs with context %}

include:
  - {{ sls_package }}

nfs-server-config-export-file-directory:
  file.directory:
    - name: {{ nfs.export }}
    - mode: '{{ nfs.export_mode }}'
    - makedirs: True

{%- if nfs.clients %}

nfs-server-config-exports-file-managed:
  file.managed:
    - name: {{ nfs.exports_file }}
    - source: salt://nfs/files/hummer.exports.jinja
    - template: jinja
    - context:
        nfs: {{ nfs | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}
      - file: nfs-server-config-export-file-directory
{%- else %}

nfs-server-config-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Nobody to export {{ nfs.export }} to: set hummer:cluster:network (a
        CIDR) or list the cluster's nodes under hummer:nodes.
{%- endif %}
