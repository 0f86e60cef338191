# -*- coding: utf-8 -*-
# vim: ft=sls
# Highstate by role. Roles live in pillar (hummer:nodes:<minion id>:roles),
# and pillar/hummer/cluster.sls gives each minion its own list as
# hummer:roles, so `salt '*' state.apply` puts every node in its place.
# The order across nodes is orch/cluster.sls's business, not this file's.
base:
  'hummer:roles:*':
    - match: pillar
    - common
    - nfs
    - monitoring.telegraf
  'hummer:roles:registry':
    - match: pillar
    - registry
  'hummer:roles:nfs':
    - match: pillar
    - nfs.server
  'I@hummer:roles:master or I@hummer:roles:node':
    - match: compound
    - docker
    - kubernetes
  'hummer:roles:master':
    - match: pillar
    - kubernetes.master
  'I@hummer:roles:node and not I@hummer:roles:master':
    - match: compound
    - kubernetes.node
  'hummer:roles:monitoring':
    - match: pillar
    - monitoring
  'hummer:roles:portal':
    - match: pillar
    - portal
