# -*- coding: utf-8 -*-
# vim: ft=sls
# Join this node with the command the master published in the Salt mine
# (kubernetes.master.token). A node that already joined is left alone.
{%- set sls_kubernetes = 'kubernetes' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- from "lib/failpoint.jinja" import failpoint with context %}
{%- set joined = salt['file.file_exists'](kubernetes.kubelet_conf) %}
{%- set published = salt['mine.get'](kubernetes.master, kubernetes.mine.join) if kubernetes.master else {} %}
{%- set join = (published.get(kubernetes.master) or '') | trim %}

include:
  - {{ sls_kubernetes }}
{{ failpoint('kubernetes', 'node') }}

{%- if joined %}

kubernetes-node-join-test-show_notification:
  test.show_notification:
    - text: {{ grains['id'] }} already joined ({{ kubernetes.kubelet_conf }} exists).
{%- elif join.startswith('kubeadm join ') %}

kubernetes-node-join-cmd-run:
  cmd.run:
    - name: >-
        {{ join }} --cri-socket {{ kubernetes.cri_socket }}
        --node-name {{ kubernetes.node_name }}
    - creates: {{ kubernetes.kubelet_conf }}
    - timeout: 600
    - output_loglevel: quiet
    - require:
      - sls: {{ sls_kubernetes }}
{%- if not opts.get('test') %}

kubernetes-node-join-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        kubeadm join failed on {{ grains['id'] }}. Check that this node reaches
        {{ kubernetes.endpoint }} (`curl -k https://{{ kubernetes.endpoint }}/healthz`),
        that swap is off, and that the token is still valid (tokens live
        {{ kubernetes.token_ttl }}: run kubernetes.master.token on
        {{ kubernetes.master }} again). `kubeadm reset -f` cleans up before a retry.
    - onfail:
      - cmd: kubernetes-node-join-cmd-run
{%- endif %}
{%- else %}

kubernetes-node-join-test-configurable_test_state:
  test.configurable_test_state:
    - name: join the cluster with the master's token
    - changes: True
    - result: False
    - comment: >-
        No join command from master {{ kubernetes.master or '(none: give a node the master role)' }}
        in the Salt mine ({{ kubernetes.mine.join }}). Apply
        kubernetes.master.token on the master first (orch/cluster.sls and
        orch/add_node.sls do). In test mode this is the expected plan: the
        token is published during the real run.
{%- endif %}
