# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "kubernetes/map.jinja" import kubernetes with context %}

kubernetes-package-clean-pkg-removed:
  pkg.removed:
    - pkgs: {{ kubernetes.pkg.names | json }}
