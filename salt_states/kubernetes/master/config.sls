# -*- coding: utf-8 -*-
# vim: ft=sls
# The master's input files: kubeadm's configuration, the flannel manifest,
# the portal's RBAC manifest and the script that builds its kubeconfig.
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set files = {
      'kubeadm': ['kubeadm-config.yaml', '0600'],
      'flannel': ['kube-flannel.yml', '0644'],
      'rbac': ['portal-rbac.yaml', '0644'],
      'kubeconfig-script': ['portal-kubeconfig.sh', '0700'],
    } %}

kubernetes-master-config-dir-file-directory:
  file.directory:
    - name: {{ kubernetes.config_dir }}
    - mode: '0700'
    - makedirs: True
{%- for key, file in files | dictsort %}

kubernetes-master-config-{{ key }}-file-managed:
  file.managed:
    - name: {{ kubernetes.config_dir }}/{{ file[0] }}
    - source: salt://kubernetes/files/{{ file[0] }}.jinja
    - template: jinja
    - context:
        kubernetes: {{ kubernetes | json }}
    - mode: '{{ file[1] }}'
    - require:
      - file: kubernetes-master-config-dir-file-directory
{%- endfor %}
