"""What the cluster wizard accepts: minion ids, node addresses and the cluster settings.

Each check returns the clean value or raises Invalid(field, message), the message
saying what is supported. They run before anything is stored: a value that the
pillar (rendered through Jinja), Salt, kubeadm or flannel would choke on later
never reaches the database.
"""
from __future__ import annotations

import ipaddress
import posixpath
import re

from portal import validation
from portal.services.errors import Invalid

TEXT_LIMIT = 255  # the columns' size (ClusterNode, ClusterSettings)

# Minion ids as the portal lets them reach Salt. Salt itself refuses '/', '\\' and NUL
# (salt.utils.verify.valid_id); the portal also keeps out glob characters (key matching
# takes patterns), template delimiters (the pillar goes through Jinja), spaces and
# anything an ssh command line could take for an option.
MINION_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?\Z")
MINION_ID_RULE = ("A minion id is letters, digits, '.', '-' and '_' (at most 255 characters), "
                  "starting and ending with a letter or digit.")

# What salt_states/kubernetes supports: kubeadm's v1beta3 configuration
# (parameters/defaults.yaml: kubeadm_api, 1.22 to 1.30), packages from the
# per-minor-version pkgs.k8s.io repositories (1.24 on), containerd as the runtime.
K8S_MIN, K8S_MAX = (1, 24), (1, 30)
VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,4})\Z")

# flannel gives every node a /24 of the pod network (its SubnetLen, the controller
# manager's node-cidr-mask-size): at least four nodes' worth, at most a /8.
POD_PREFIX = (8, 22)
# kube-apiserver takes at most a /12 of service addresses; kubeadm puts DNS on the 10th.
SERVICE_PREFIX = (12, 28)

# Ports Kubernetes itself listens on, on the nodes the registry may share.
KUBE_PORTS = {6443: "the API server", 2379: "etcd", 2380: "etcd", 10249: "kube-proxy",
              10250: "the kubelet", 10256: "kube-proxy", 10257: "the controller manager",
              10259: "the scheduler"}
NODE_PORTS = range(30000, 32768)

EXPORT_CHARS = re.compile(r"[A-Za-z0-9._/-]+\Z")
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run")
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/var", "/root", "/home", "/tmp",
               "/srv", "/opt", "/mnt", "/media")


def _shown(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def minion_id(value, field: str | None = "minion_id") -> str:
    if not isinstance(value, str) or not MINION_ID.match(value):
        raise Invalid(field, f"'{_shown(value or '')}' is not a valid minion id. {MINION_ID_RULE}")
    return value


def ip_address(value: str, field: str = "address") -> str:
    """A plain IPv4 address or an IPv6 address without a zone id, normalised."""
    value = (value or "").strip()
    if len(value) > 45 or "%" in value or not value:
        raise Invalid(field, f"'{_shown(value)}' is not an IP address; give the node's address, such as "
                             "192.0.2.13 (an IPv6 address without a %zone).")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(field, f"'{_shown(value)}' is not an IP address; give the node's address, such as "
                             "192.0.2.13.") from None


def name(value: str) -> str:
    value = (value or "").strip()
    message = validation.dns_label(value, "Cluster name")
    if message:
        raise Invalid("name", message)
    return value


def kubernetes_version(value: str) -> str:
    value = (value or "").strip()
    supported = (f"Kubernetes {K8S_MIN[0]}.{K8S_MIN[1]}.0 to {K8S_MAX[0]}.{K8S_MAX[1]}.x is supported "
                 "(the kubernetes formula's kubeadm v1beta3 configuration)")
    match = VERSION.match(value)
    if not match:
        raise Invalid("kubernetes_version", f"Give a Kubernetes version such as 1.30.4. {supported}.")
    if not K8S_MIN <= (int(match[1]), int(match[2])) <= K8S_MAX:
        raise Invalid("kubernetes_version", f"{supported}; {_shown(value)} is not.")
    return ".".join(str(int(part)) for part in match.groups())


def _network(field: str, what: str, value: str, example: str):
    value = (value or "").strip()
    if not value:
        raise Invalid(field, f"Give the {what} in CIDR notation, such as {example}.")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        reason = "it has host bits set" if "has host bits set" in str(error) else "not a network"
        raise Invalid(field, f"'{_shown(value)}' is not a network in CIDR notation such as {example} "
                             f"({reason}).") from None
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_unspecified or net.is_reserved:
        raise Invalid(field, f"{net} is a loopback, link-local, multicast or reserved range; give a private "
                             f"network such as {example}.")
    return net


def networks(pod_value: str, service_value: str) -> tuple[str, str]:
    """The pod and service networks: one IP family (IPv4), sensible sizes, not overlapping."""
    pod = _network("pod_cidr", "pod network", pod_value, "172.16.0.0/16")
    service = _network("service_cidr", "service network", service_value, "10.0.1.0/24")
    if pod.version != service.version:
        if pod.version == 6:
            raise Invalid("pod_cidr", f"The pod network {pod} is IPv6 but the service network {service} is "
                                      "IPv4: give both in the same IP family (IPv4, which flannel here uses).")
        raise Invalid("service_cidr", f"The service network {service} is IPv6 but the pod network {pod} is "
                                      "IPv4: give both in the same IP family (IPv4, which flannel here uses).")
    if pod.version == 6:
        raise Invalid("pod_cidr", "IPv6 networks are not supported: the cluster's flannel configuration is "
                                  "IPv4 only. Give an IPv4 network such as 172.16.0.0/16.")
    low, high = POD_PREFIX
    if not low <= pod.prefixlen <= high:
        raise Invalid("pod_cidr", f"The pod network must be a /{low} to /{high} (flannel gives each node a /24 "
                                  f"of it); {pod} is a /{pod.prefixlen}.")
    low, high = SERVICE_PREFIX
    if not low <= service.prefixlen <= high:
        raise Invalid("service_cidr", f"The service network must be a /{low} to /{high}; {service} is a "
                                      f"/{service.prefixlen}.")
    if pod.overlaps(service):
        raise Invalid("service_cidr", f"The service network {service} overlaps the pod network {pod}: give "
                                      "two networks that do not overlap.")
    return str(pod), str(service)


def registry_port(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid("registry_port", "The registry port must be between 1 and 65535.")
    if value in KUBE_PORTS:
        raise Invalid("registry_port", f"Port {value} is {KUBE_PORTS[value]}'s; choose a port Kubernetes does "
                                       "not use (1-65535, not 30000-32767 either), such as 5000.")
    if value in NODE_PORTS:
        raise Invalid("registry_port", "Ports 30000-32767 are Kubernetes' NodePort range; choose another "
                                       "(1-65535), such as 5000.")
    return value


def nfs_export(value: str) -> str:
    value = (value or "").strip()
    rule = "The NFS export must be an absolute path such as /hummer"
    if not value:
        raise Invalid("nfs_export", f"{rule}.")
    if len(value) > TEXT_LIMIT:
        raise Invalid("nfs_export", f"{rule}, of at most {TEXT_LIMIT} characters.")
    if not value.startswith("/") or not EXPORT_CHARS.match(value):
        raise Invalid("nfs_export", f"{rule}: letters, digits, '.', '_', '-' and '/', no spaces.")
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise Invalid("nfs_export", f"{rule}, without '.' or '..' in it.")
    if value == "/" or value.strip("/") == "":
        raise Invalid("nfs_export", f"{rule}, not / itself: exporting the whole file system is refused.")
    normal = posixpath.normpath(value)
    if normal != value or value.startswith("//"):
        raise Invalid("nfs_export", f"{rule}, written plainly (no doubled or trailing '/'): {normal}.")
    if any(normal == tree or normal.startswith(tree + "/") for tree in SYSTEM_TREES) or normal in SYSTEM_DIRS:
        raise Invalid("nfs_export", f"{rule}, not the system directory {normal}: use a directory of its own, "
                                    f"such as /srv/hummer.")
    return normal
