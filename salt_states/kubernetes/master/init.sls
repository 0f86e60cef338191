# -*- coding: utf-8 -*-
# vim: ft=sls
# The control plane: kubeadm init with hummer:cluster's CIDRs, flannel, a
# join token in the Salt mine, and the portal's service account and kubeconfig.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - kubernetes
  - kubernetes.master.config
  - kubernetes.master.kubeadm
  - kubernetes.master.cni
  - kubernetes.master.token
  - kubernetes.master.portal_access
{{ failpoint('kubernetes', 'master') }}
