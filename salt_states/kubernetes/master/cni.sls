# -*- coding: utf-8 -*-
# vim: ft=sls
# flannel, from the manifest kubernetes.master.config templated from pillar.
{%- set sls_kubeadm = 'kubernetes.master.kubeadm' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set kubectl = kubernetes.kubectl ~ ' --kubeconfig ' ~ kubernetes.admin_conf %}

include:
  - {{ sls_kubeadm }}

kubernetes-master-cni-flannel-cmd-run:
  cmd.run:
    - name: {{ kubectl }} apply -f {{ kubernetes.config_dir }}/kube-flannel.yml
    - unless: >-
        {{ kubectl }} diff -f {{ kubernetes.config_dir }}/kube-flannel.yml >/dev/null
    - require:
      - sls: {{ sls_kubeadm }}
{%- if not opts.get('test') %}

kubernetes-master-cni-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Applying the flannel manifest failed; `{{ kubectl }} get pods -n
        kube-flannel` and the output above tell why. Check that the flannel
        images are in {{ kubernetes.image_repository }}.
    - onfail:
      - cmd: kubernetes-master-cni-flannel-cmd-run
{%- endif %}
