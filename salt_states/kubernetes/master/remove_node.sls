# -*- coding: utf-8 -*-
# vim: ft=sls
# On the master: drain the node named by pillar hummer_node (a minion id) and
# delete it from the cluster. orch/remove_node.sls then resets the host.
{%- from "kubernetes/map.jinja" import kubernetes, cluster with context %}
{%- set kubectl = kubernetes.kubectl ~ ' --kubeconfig ' ~ kubernetes.admin_conf %}
{%- set target = salt['pillar.get']('hummer_node', '') %}
{%- set node_name = cluster.hostname.get(target, target) %}

{%- if not target %}

kubernetes-master-remove_node-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: Which node? Pass its minion id as pillar hummer_node.
{%- else %}

kubernetes-master-remove_node-drain-cmd-run:
  cmd.run:
    - name: >-
        {{ kubectl }} drain {{ node_name }} --ignore-daemonsets
        --delete-emptydir-data --force --timeout={{ kubernetes.drain_timeout }}
    - onlyif: {{ kubectl }} get node {{ node_name }}

kubernetes-master-remove_node-delete-cmd-run:
  cmd.run:
    - name: {{ kubectl }} delete node {{ node_name }} --wait=true
    - onlyif: {{ kubectl }} get node {{ node_name }}
    - require:
      - cmd: kubernetes-master-remove_node-drain-cmd-run
{%- if not opts.get('test') %}

kubernetes-master-remove_node-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Draining or deleting node {{ node_name }} failed. Pods that a
        PodDisruptionBudget protects block a drain: see `{{ kubectl }} get
        pods -A -o wide --field-selector spec.nodeName={{ node_name }}`.
    - onfail:
      - cmd: kubernetes-master-remove_node-drain-cmd-run
      - cmd: kubernetes-master-remove_node-delete-cmd-run
{%- endif %}
{%- endif %}
