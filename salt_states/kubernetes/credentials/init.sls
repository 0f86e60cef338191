# -*- coding: utf-8 -*-
# vim: ft=sls
# The kubelet's login to the private registry (hummer:registry:auth), so that
# every pod's image is pulled with it, whatever the pod names in
# imagePullSecrets. Mode 0600; nothing is written without a username.
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set auth = kubernetes.registry_auth %}

{%- if auth.basic %}

kubernetes-credentials-kubelet-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](kubernetes.kubelet_credentials) }}
    - makedirs: True

kubernetes-credentials-kubelet-file-serialize:
  file.serialize:
    - name: {{ kubernetes.kubelet_credentials }}
    - dataset:
        auths:
          {{ kubernetes.registry | json }}:
            username: {{ auth.username | json }}
            password: {{ auth.password | json }}
            auth: {{ auth.basic | json }}
    - serializer: json
    - mode: '0600'
    - show_changes: False
    - require:
      - file: kubernetes-credentials-kubelet-file-directory
{%- else %}

kubernetes-credentials-kubelet-test-show_notification:
  test.show_notification:
    - text: >-
        The kubelet pulls from {{ kubernetes.registry }} without a login
        (hummer:registry:auth:username is empty).
{%- endif %}
