# -*- coding: utf-8 -*-
# vim: ft=sls
# kubeadm init, once (admin.conf marks it done), then root's kubeconfig.
{%- set sls_package = 'kubernetes.package' %}
{%- set sls_config = 'kubernetes.master.config' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}

include:
  - {{ sls_package }}
  - {{ sls_config }}

kubernetes-master-kubeadm-init-cmd-run:
  cmd.run:
    - name: >-
        kubeadm init --config {{ kubernetes.config_dir }}/kubeadm-config.yaml
        --upload-certs --skip-token-print
    - creates: {{ kubernetes.admin_conf }}
    - timeout: 900
    - require:
      - sls: {{ sls_package }}
      - sls: {{ sls_config }}
{%- if not opts.get('test') %}

kubernetes-master-kubeadm-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        kubeadm init failed on {{ grains['id'] }}; its output is in this
        state's return above. Usual causes: swap still on (`swapon --show`),
        ports 6443/10250/2379 in use (`ss -ltnp`), the images missing from
        {{ kubernetes.image_repository }} (`kubeadm config images list
        --config {{ kubernetes.config_dir }}/kubeadm-config.yaml`), or
        containerd not running. `kubeadm reset -f` cleans up before a retry.
    - onfail:
      - cmd: kubernetes-master-kubeadm-init-cmd-run
{%- endif %}

kubernetes-master-kubeadm-root-kubeconfig-file-managed:
  file.managed:
    - name: {{ kubernetes.root_kubeconfig }}
    - source: {{ kubernetes.admin_conf }}
    - makedirs: True
    - mode: '0600'
    - show_changes: False
    - onlyif: test -f {{ kubernetes.admin_conf }}
    - require:
      - cmd: kubernetes-master-kubeadm-init-cmd-run
