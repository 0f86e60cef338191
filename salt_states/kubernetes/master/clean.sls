# -*- coding: utf-8 -*-
# vim: ft=sls
# Tear the control plane down (kubeadm reset) and forget its files.
{%- from "kubernetes/map.jinja" import kubernetes with context %}

include:
  - kubernetes.node.clean

kubernetes-master-clean-config-file-absent:
  file.absent:
    - names:
      - {{ kubernetes.config_dir }}
      - {{ kubernetes.root_kubeconfig }}
    - require:
      - sls: kubernetes.node.clean
