# -*- coding: utf-8 -*-
# vim: ft=sls
# A master that also has the node role runs workloads: drop the
# control-plane taint. (orch/cluster.sls applies this when roles say so.)
{%- set sls_kubeadm = 'kubernetes.master.kubeadm' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set kubectl = kubernetes.kubectl ~ ' --kubeconfig ' ~ kubernetes.admin_conf %}

include:
  - {{ sls_kubeadm }}

kubernetes-master-schedulable-cmd-run:
  cmd.run:
    - name: {{ kubectl }} taint nodes {{ kubernetes.node_name }} node-role.kubernetes.io/control-plane:NoSchedule-
    - onlyif: >-
        {{ kubectl }} get node {{ kubernetes.node_name }} -o jsonpath='{.spec.taints}'
        | grep -q node-role.kubernetes.io/control-plane
    - require:
      - sls: {{ sls_kubeadm }}
