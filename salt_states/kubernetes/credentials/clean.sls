# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "kubernetes/map.jinja" import kubernetes with context %}

kubernetes-credentials-clean-kubelet-file-absent:
  file.absent:
    - name: {{ kubernetes.kubelet_credentials }}
