# -*- coding: utf-8 -*-
# vim: ft=sls
# docker: the container runtime on every Kubernetes node: Docker engine plus
# containerd, trusting the private registry, with the pause image pre-pulled.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - docker.package
  - docker.config
  - docker.service
  - docker.images
{{ failpoint('docker') }}
