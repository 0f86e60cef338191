# -*- coding: utf-8 -*-
# vim: ft=sls
# The export mounted at hummer:cluster:nfs_mount on the portal host, in fstab.
{%- set sls_client = 'nfs.client' %}
{%- from "nfs/map.jinja" import nfs with context %}

include:
  - {{ sls_client }}

{%- if nfs.server %}

nfs-mount-mount-mounted:
  mount.mounted:
    - name: {{ nfs.mount_point }}
    - device: {{ nfs.server }}:{{ nfs.export }}
    - fstype: {{ nfs.mount.fstype }}
    - opts: {{ nfs.mount.options }}
    - config: {{ nfs.mount.fstab }}
    - persist: True
    - mkmnt: True
    - require:
      - sls: {{ sls_client }}
{%- if not opts.get('test') %}

nfs-mount-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Mounting {{ nfs.server }}:{{ nfs.export }} at {{ nfs.mount_point }}
        failed. Check that the nfs step succeeded, that this host's address is
        in the export list (`showmount -e {{ nfs.server }}`) and that port
        2049 is reachable.
    - onfail:
      - mount: nfs-mount-mount-mounted
{%- endif %}
{%- else %}

nfs-mount-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        No NFS server to mount from: give one node the nfs role in
        hummer:nodes, or set hummer:nfs:server.
{%- endif %}
