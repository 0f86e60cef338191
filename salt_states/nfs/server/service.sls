# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_config = 'nfs.server.config' %}
{%- from "nfs/map.jinja" import nfs with context %}

include:
  - {{ sls_config }}

nfs-server-service-service-running:
  service.running:
    - name: {{ nfs.service }}
    - enable: True
    - require:
      - sls: {{ sls_config }}

nfs-server-service-exportfs-cmd-run:
  cmd.run:
    - name: exportfs -ra
    - onchanges:
      - sls: {{ sls_config }}
    - require:
      - service: nfs-server-service-service-running
{%- if not opts.get('test') %}

nfs-server-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        The NFS server did not start or refused the exports in
        {{ nfs.exports_file }}. See `journalctl -u {{ nfs.service }}` and
        `exportfs -v`; in a container the kernel NFS server is not available.
    - onfail:
      - service: nfs-server-service-service-running
      - cmd: nfs-server-service-exportfs-cmd-run
{%- endif %}
