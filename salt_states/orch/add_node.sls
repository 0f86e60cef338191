# -*- coding: utf-8 -*-
# vim: ft=sls
{#- Add one node to a running cluster without re-running the others:
      salt-run state.orchestrate orch.add_node pillar='{"hummer_node": "node3", "hummer_run_id": "r9"}'

    The node must already be in hummer:nodes (the portal writes it there
    first) with its roles. Touched: the new minion, the master (a fresh join
    token only), and the NFS server's export list when hummer:cluster:network
    is empty (exports then name each node's address; set the network to avoid
    this step).

    reachable   the new node and the master answer
    common      common + nfs.client on the new node
    runtime     docker + kubernetes packages on it (node role)
    token       kubernetes.master.token on the master (node role)
    join        kubernetes.node on it (node role)
    exports     nfs.server.config + nfs.server.service on the nfs node (see above)
    telegraf    monitoring.telegraf on it
#}
{%- from "lib/cluster.jinja" import cluster with context %}
{%- from "orch/map.jinja" import run, chain with context %}
{%- set node = run.get('hummer_node', '') %}
{%- set roles = (cluster.nodes.get(node) or {}).get('roles', []) %}
{%- set worker = 'node' in roles %}

{%- if not node or node not in cluster.nodes %}

orch-add_node-pillar-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Pass the new node's minion id as pillar hummer_node, and list it under
        hummer:nodes (with its roles) in the cluster pillar first
        {%- if node %} ('{{ node }}' is not there){% endif %}.
{%- elif 'master' in roles %}

orch-add_node-master-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        {{ node }} has the master role: adding a control-plane node is not
        supported yet (one master per cluster). Give it the node role.
{%- else %}
{%-   set exports = cluster.roles.nfs if not cluster.settings.get('network') else [] %}
{%-   set steps = [
        ('common', [node], ['common', 'nfs.client'], ['reachable']),
        ('runtime', [node] if worker else [], ['docker', 'kubernetes'], ['common']),
        ('token', [cluster.master] if worker and cluster.master else [], ['kubernetes.master.token'], ['runtime']),
        ('join', [node] if worker else [], ['kubernetes.node'], ['token']),
        ('exports', exports, ['nfs.server.config', 'nfs.server.service'], ['join']),
        ('telegraf', [node], ['monitoring.telegraf'], ['exports']),
      ] %}
{{ chain('add_node', ([node] + ([cluster.master] if worker and cluster.master else [])) | unique | list, steps) }}
{%- endif %}
