# -*- coding: utf-8 -*-
# vim: ft=sls
# kubernetes: what every Kubernetes node needs (the apt repository, kubeadm,
# kubelet and kubectl pinned and held, the kubelet's registry login). The
# roles are kubernetes.master and kubernetes.node (see top.sls and
# orch/cluster.sls).
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - kubernetes.repo
  - kubernetes.package
  - kubernetes.credentials
{{ failpoint('kubernetes') }}
