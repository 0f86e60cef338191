# -*- coding: utf-8 -*-
# vim: ft=sls
{#- The whole cluster, in order. Run it on the Salt master:
      salt-run state.orchestrate orch.cluster pillar='{"hummer_run_id": "r1"}' [test=True]

    reachable   every node answers (a node that does not stops the run here,
                before anything changes)
    registry    registry on the registry node        } in parallel
    nfs-server  NFS server on the nfs node           }
    common      common + nfs.client on every node
    runtime     docker + kubernetes packages on master and nodes
    master      kubernetes.master (init, flannel, portal access) and
                kubernetes.master.token (a fresh join token, in the mine)
    nodes       kubernetes.node on the nodes that are not masters
    monitoring  InfluxDB and Grafana on the monitoring node
    telegraf    Telegraf on every node
    portal      the portal on the portal host

    A step whose role has no node, or that pillar hummer_skip_steps names
    (the portal's "retry from here"), is left out; what required it requires
    what it required. A failing step stops its minions at the first failing
    state (failhard) and every later step (require); the runner's return
    names the node, the state and its comment (see
    portal.adapters.salt.summarize_orchestration).
#}
{%- from "lib/cluster.jinja" import cluster with context %}
{%- from "orch/map.jinja" import chain with context %}
{%- set roles = cluster.roles %}
{%- set all_nodes = cluster.nodes.keys() | sort %}
{%- set kube_nodes = (roles.master + roles.node) | unique | sort %}
{%- set workers = roles.node | reject('in', roles.master) | list %}
{%- set master_sls = ['kubernetes.master'] %}
{%- if roles.master and roles.master[0] in roles.node %}
{%-   do master_sls.append('kubernetes.master.schedulable') %}
{%- endif %}
{#- Here, not in kubernetes.master: a highstate would make a new token each time. #}
{%- do master_sls.append('kubernetes.master.token') %}
{%- set steps = [
      ('registry', roles.registry, ['registry'], ['reachable']),
      ('nfs-server', roles.nfs, ['nfs.server'], ['reachable']),
      ('common', all_nodes, ['common', 'nfs.client'], ['registry', 'nfs-server']),
      ('runtime', kube_nodes, ['docker', 'kubernetes'], ['common']),
      ('master', roles.master, master_sls, ['runtime']),
      ('nodes', workers, ['kubernetes.node'], ['master']),
      ('monitoring', roles.monitoring, ['monitoring'], ['nodes']),
      ('telegraf', all_nodes, ['monitoring.telegraf'], ['monitoring']),
      ('portal', roles.portal, ['portal'], ['telegraf']),
    ] %}

{%- if not all_nodes %}

orch-cluster-nodes-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        The cluster pillar lists no node (hummer:nodes is empty). Write
        pillar/generated/cluster.yaml (the portal does) and run again.
{%- else %}

{{ chain('cluster', all_nodes, steps) }}
{%- endif %}
