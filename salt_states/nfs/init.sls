# -*- coding: utf-8 -*-
# vim: ft=sls
# nfs: the client tools. The server is `nfs.server` (nfs role), the portal
# host's mount is `nfs.mount` (portal role); see top.sls and orch/cluster.sls.

include:
  - nfs.client
