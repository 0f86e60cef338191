# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "kubernetes/map.jinja" import kubernetes with context %}

kubernetes-repo-clean-file-absent:
  file.absent:
    - names:
      - {{ kubernetes.repo.list_file }}
      - {{ kubernetes.repo.keyring }}
      - {{ kubernetes.repo.keyring_asc }}
