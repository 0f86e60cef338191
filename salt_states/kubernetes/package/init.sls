# -*- coding: utf-8 -*-
# vim: ft=sls
# kubeadm, kubelet and kubectl at hummer:cluster:kubernetes_version, held.
{%- set sls_repo = 'kubernetes.repo' %}
{%- from "kubernetes/map.jinja" import kubernetes with context %}

{%- if kubernetes.pkg.manage %}

include:
  - {{ sls_repo }}

kubernetes-package-pkg-installed:
  pkg.installed:
    - pkgs:
{%-   for name in kubernetes.pkg.names %}
      - {{ name }}: '{{ kubernetes.package_version }}'
{%-   endfor %}
    - refresh: True
    - hold: {{ kubernetes.pkg.hold }}
    - update_holds: True
    # The repository may not be configured yet when a plan (test=True) runs.
    - skip_suggestions: True
    - require:
      - sls: {{ sls_repo }}
{%- if not opts.get('test') %}

kubernetes-package-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Installing {{ kubernetes.pkg.names | join(', ') }} {{ kubernetes.package_version }}
        failed. Check that {{ kubernetes.repo.url }} serves that version
        (`apt-cache madison kubeadm`); the repository is per minor version, so
        a new minor version needs a new hummer:kubernetes:repo:url.
    - onfail:
      - pkg: kubernetes-package-pkg-installed
{%- endif %}
{%- else %}

kubernetes-package-test-show_notification:
  test.show_notification:
    - text: Kubernetes packages are not managed here (hummer:kubernetes:pkg:manage is false).
{%- endif %}

{%- if kubernetes.kubelet_service %}

kubernetes-package-kubelet-service-enabled:
  service.enabled:
    - name: {{ kubernetes.kubelet_service }}
{%-   if kubernetes.pkg.manage %}
    - require:
      - pkg: kubernetes-package-pkg-installed
{%-   endif %}
{%- endif %}
