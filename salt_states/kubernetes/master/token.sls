# -*- coding: utf-8 -*-
# vim: ft=sls
# A fresh join token for the nodes, published through the Salt mine under
# hummer:kubernetes:mine:join and readable only by the cluster's nodes.
# Each apply makes a new token, so only the orchestrations apply it:
# orch/cluster.sls in its master step, orch/add_node.sls alone before joining
# a new node. It is in no highstate (top.sls, kubernetes.master).
{%- set sls_kubeadm = 'kubernetes.master.kubeadm' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set join_file = kubernetes.config_dir ~ '/join-command' %}

include:
  - {{ sls_kubeadm }}

kubernetes-master-token-create-cmd-run:
  cmd.run:
    - name: >-
        umask 077 && kubeadm token create --print-join-command
        --ttl {{ kubernetes.token_ttl }} > {{ join_file }}.new
        && grep -q '^kubeadm join ' {{ join_file }}.new
        && mv {{ join_file }}.new {{ join_file }}
    - require:
      - sls: {{ sls_kubeadm }}

kubernetes-master-token-mine-module-run:
  module.run:
    - mine.send:
      - {{ kubernetes.mine.join }}
      - mine_function: file.read
      - path: {{ join_file }}
      - allow_tgt: {{ (kubernetes.workers or [grains['id']]) | join(',') }}
      - allow_tgt_type: list
    - require:
      - cmd: kubernetes-master-token-create-cmd-run
{%- if not opts.get('test') %}

kubernetes-master-token-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Could not create or publish a join token. `kubeadm token create`
        needs a running API server (`kubectl --kubeconfig
        {{ kubernetes.admin_conf }} get nodes`); publishing needs the master
        to reach the Salt master.
    - onfail:
      - cmd: kubernetes-master-token-create-cmd-run
      - module: kubernetes-master-token-mine-module-run
{%- endif %}
