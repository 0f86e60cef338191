# -*- coding: utf-8 -*-
# vim: ft=sls
{#- Remove one node from the cluster:
      salt-run state.orchestrate orch.remove_node pillar='{"hummer_node": "node3", "hummer_run_id": "r10"}'

    reachable   the master answers (the node itself may be gone already)
    drain       on the master: kubectl drain and delete the node
    reset       on the node: kubeadm reset, CNI files, flannel links, Telegraf off

    Afterwards the portal (or the operator) removes the node from
    hummer:nodes and deletes its key (`salt-key -d node3`). A node that is
    already gone fails the reset step; the cluster side is done by then.
#}
{%- from "lib/cluster.jinja" import cluster with context %}
{%- from "orch/map.jinja" import run, chain with context %}
{%- set node = run.get('hummer_node', '') %}

{%- if not node %}

orch-remove_node-pillar-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: Pass the node's minion id as pillar hummer_node.
{%- elif node in cluster.roles.master %}

orch-remove_node-master-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        {{ node }} is the master; removing it would destroy the cluster.
        Tear the cluster down with kubernetes.master.clean instead.
{%- elif not cluster.master %}

orch-remove_node-nomaster-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: No node has the master role in hummer:nodes, so nobody can drain {{ node }}.
{%- else %}
{%-   set steps = [
        ('drain', [cluster.master], ['kubernetes.master.remove_node'], ['reachable']),
        ('reset', [node], ['kubernetes.node.clean', 'monitoring.telegraf.clean'], ['drain']),
      ] %}
{{ chain('remove_node', [cluster.master], steps) }}
{%- endif %}
