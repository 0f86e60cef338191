# -*- coding: utf-8 -*-
# vim: ft=sls
# Hummer's pillar: defaults, then the cluster pillar the portal generates.
# Later files win (dictionaries merge recursively, lists are replaced).
base:
  '*':
    - hummer.defaults
    - hummer.cluster
