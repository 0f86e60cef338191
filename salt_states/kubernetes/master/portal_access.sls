# -*- coding: utf-8 -*-
# vim: ft=sls
# The portal's ServiceAccount with least rights, its kubeconfig, and
# Telegraf's read-only token, published through the Salt mine for the portal
# host (hummer:kubernetes:mine:kubeconfig) and the nodes (...:telegraf_token).
# The portal reads the kubeconfig once and stores it encrypted.
{%- set sls_kubeadm = 'kubernetes.master.kubeadm' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set kubectl = kubernetes.kubectl ~ ' --kubeconfig ' ~ kubernetes.admin_conf %}
{%- set rbac = kubernetes.config_dir ~ '/portal-rbac.yaml' %}

include:
  - {{ sls_kubeadm }}

kubernetes-master-portal_access-rbac-cmd-run:
  cmd.run:
    - name: {{ kubectl }} apply -f {{ rbac }}
    - unless: {{ kubectl }} diff -f {{ rbac }} >/dev/null
    - require:
      - sls: {{ sls_kubeadm }}

kubernetes-master-portal_access-kubeconfig-cmd-run:
  cmd.run:
    - name: {{ kubernetes.config_dir }}/portal-kubeconfig.sh
    - creates:
      - {{ kubernetes.portal.kubeconfig }}
      - {{ kubernetes.telegraf.token_file }}
    - require:
      - cmd: kubernetes-master-portal_access-rbac-cmd-run

kubernetes-master-portal_access-mine-kubeconfig-module-run:
  module.run:
    - mine.send:
      - {{ kubernetes.mine.kubeconfig }}
      - mine_function: file.read
      - path: {{ kubernetes.portal.kubeconfig }}
      - allow_tgt: {{ (kubernetes.portal_nodes or [grains['id']]) | join(',') }}
      - allow_tgt_type: list
    - require:
      - cmd: kubernetes-master-portal_access-kubeconfig-cmd-run

kubernetes-master-portal_access-mine-telegraf-module-run:
  module.run:
    - mine.send:
      - {{ kubernetes.mine.telegraf_token }}
      - mine_function: file.read
      - path: {{ kubernetes.telegraf.token_file }}
      - allow_tgt: {{ (kubernetes.all_nodes or [grains['id']]) | join(',') }}
      - allow_tgt_type: list
    - require:
      - cmd: kubernetes-master-portal_access-kubeconfig-cmd-run
{%- if not opts.get('test') %}

kubernetes-master-portal_access-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Could not create the portal's service account or its kubeconfig.
        Check `{{ kubectl }} -n {{ kubernetes.portal.namespace }} get
        serviceaccounts,secrets`; the token secrets are filled by
        kube-controller-manager.
    - onfail:
      - cmd: kubernetes-master-portal_access-rbac-cmd-run
      - cmd: kubernetes-master-portal_access-kubeconfig-cmd-run
      - module: kubernetes-master-portal_access-mine-kubeconfig-module-run
      - module: kubernetes-master-portal_access-mine-telegraf-module-run
{%- endif %}
