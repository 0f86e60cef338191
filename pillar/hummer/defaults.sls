# -*- coding: utf-8 -*-
# vim: ft=sls
# Cluster-wide defaults. The generated cluster pillar (generated/cluster.yaml)
# overrides any of them; component tuning lives under hummer:<component>
# (see salt_states/<component>/pillar.example).
hummer:
  cluster:
    # A name for humans (Grafana folder, kubeadm clusterName, the portal).
    name: hummer
    # Kubernetes version for kubeadm/kubelet/kubectl (pinned, held).
    kubernetes_version: '1.30.4'
    # The original Hummer guide's networks; they must not overlap each other
    # or the nodes' network.
    pod_cidr: 172.16.0.0/16
    service_cidr: 10.0.1.0/24
    # DNS domain of the cluster's services.
    dns_domain: cluster.local
    # The private registry: host defaults to the registry node's address.
    registry_host: ''
    registry_port: 5000
    # Where kubeadm, flannel and the pause image are pulled from; empty: the
    # private registry itself (push `kubeadm config images list` there).
    image_repository: ''
    # The NFS export on the nfs node, and where the portal host mounts it.
    nfs_export: /hummer
    nfs_mount: /hummer
    # Who may mount the export: a CIDR such as 192.0.2.0/24; empty exports
    # to each cluster node's address.
    network: ''
  # minion id -> {address, hostname (the Kubernetes node name), roles}
  nodes: {}
