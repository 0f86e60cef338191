# -*- coding: utf-8 -*-
# vim: ft=sls
# Reset this host's Kubernetes state (kubeadm reset), then remove the
# packages and the repository.

include:
  - kubernetes.node.clean
  - kubernetes.credentials.clean
  - kubernetes.package.clean
  - kubernetes.repo.clean
