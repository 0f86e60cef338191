# -*- coding: utf-8 -*-
# vim: ft=sls
# The Kubernetes apt repository from hummer:kubernetes:repo (a mirror may
# replace it): one flat ("/") repository per minor version upstream.
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- from "lib/aptrepo.jinja" import apt_repo with context %}
{%- set minor = kubernetes.version.split('.')[:2] | join('.') %}
{{ apt_repo('kubernetes-repo', 'Kubernetes v' ~ minor, kubernetes.repo, 'hummer:kubernetes:repo') }}
