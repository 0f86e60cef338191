# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop exporting; the exported directory and its data stay.
{%- from "nfs/map.jinja" import nfs with context %}

nfs-server-clean-exports-file-absent:
  file.absent:
    - name: {{ nfs.exports_file }}

nfs-server-clean-exportfs-cmd-run:
  cmd.run:
    - name: exportfs -ra
    - onlyif: command -v exportfs
    - onchanges:
      - file: nfs-server-clean-exports-file-absent
