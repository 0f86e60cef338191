# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "nfs/map.jinja" import nfs with context %}

nfs-mount-clean-mount-unmounted:
  mount.unmounted:
    - name: {{ nfs.mount_point }}
    - config: {{ nfs.mount.fstab }}
    - persist: True
