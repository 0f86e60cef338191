# -*- coding: utf-8 -*-
# vim: ft=sls
# Reset this host: kubeadm reset, CNI configuration and flannel's interfaces.
{%- from "kubernetes/map.jinja" import kubernetes with context %}

kubernetes-node-clean-reset-cmd-run:
  cmd.run:
    - name: kubeadm reset -f --cri-socket {{ kubernetes.cri_socket }}
    - onlyif: command -v kubeadm && test -e {{ kubernetes.kubelet_conf }} -o -e {{ kubernetes.admin_conf }}

kubernetes-node-clean-cni-file-absent:
  file.absent:
    - names:
      - /etc/cni/net.d
      - /run/flannel
    - require:
      - cmd: kubernetes-node-clean-reset-cmd-run

kubernetes-node-clean-links-cmd-run:
  cmd.run:
    - name: for link in cni0 flannel.1; do ip link delete "$link" 2>/dev/null || true; done
    - onlyif: ip link show cni0 || ip link show flannel.1
    - require:
      - cmd: kubernetes-node-clean-reset-cmd-run
