# -*- coding: utf-8 -*-
# vim: ft=sls
# The control plane: kubeadm init with hummer:cluster's CIDRs, flannel, and
# the portal's service account and kubeconfig. The join token
# (kubernetes.master.token) is not part of it, so not of the highstate either,
# which would make a new token on every run: the orchestrations apply it
# (orch/cluster.sls with this SLS, orch/add_node.sls alone).
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - kubernetes
  - kubernetes.master.config
  - kubernetes.master.kubeadm
  - kubernetes.master.cni
  - kubernetes.master.portal_access
{{ failpoint('kubernetes', 'master') }}
