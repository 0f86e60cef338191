# -*- coding: utf-8 -*-
# vim: ft=sls
# Unmount and stop exporting; exported data and packages are kept.

include:
  - nfs.mount.clean
  - nfs.server.clean
