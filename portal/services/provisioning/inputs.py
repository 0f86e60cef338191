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

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal import validation
from portal.services.errors import Invalid

TEXT_LIMIT = 255  # the columns' size (ClusterNode, ClusterSettings)

# Minion ids as the portal lets them reach Salt. Salt itself refuses '/', '\\' and NUL
# (salt.utils.verify.valid_id); the portal also keeps out glob characters (key matching
# takes patterns), template delimiters (the pillar goes through Jinja), spaces and
# anything an ssh command line could take for an option.
MINION_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?\Z")
MINION_ID_RULE = _l("A minion id is letters, digits, '.', '-' and '_' (at most 255 characters), "
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
KUBE_PORTS = {6443: _l("the API server"), 2379: "etcd", 2380: "etcd", 10249: "kube-proxy",
              10250: _l("the kubelet"), 10256: "kube-proxy", 10257: _l("the controller manager"),
              10259: _l("the scheduler")}
NODE_PORTS = range(30000, 32768)

EXPORT_CHARS = re.compile(r"[A-Za-z0-9._/-]+\Z")
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run")
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/var", "/root", "/home", "/tmp",
               "/srv", "/opt", "/mnt", "/media")


def _shown(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def minion_id(value, field: str | None = "minion_id") -> str:
    if not isinstance(value, str) or not MINION_ID.match(value):
        raise Invalid(field, _("'%(value)s' is not a valid minion id. %(rule)s", value=_shown(value or ""),
                               rule=MINION_ID_RULE))
    return value


def ip_address(value: str, field: str = "address") -> str:
    """A plain IPv4 address or an IPv6 address without a zone id, normalised."""
    value = (value or "").strip()
    if len(value) > 45 or "%" in value or not value:
        raise Invalid(field, _("'%(value)s' is not an IP address; give the node's address, such as "
                               "192.0.2.13 (an IPv6 address without a %%zone).", value=_shown(value)))
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(field, _("'%(value)s' is not an IP address; give the node's address, such as "
                               "192.0.2.13.", value=_shown(value))) from None


def name(value: str) -> str:
    value = (value or "").strip()
    message = validation.dns_label(value, _("Cluster name"))
    if message:
        raise Invalid("name", message)
    return value


def kubernetes_version(value: str) -> str:
    value = (value or "").strip()
    low, high = f"{K8S_MIN[0]}.{K8S_MIN[1]}.0", f"{K8S_MAX[0]}.{K8S_MAX[1]}.x"
    match = VERSION.match(value)
    if not match:
        raise Invalid("kubernetes_version", _(
            "Give a Kubernetes version such as 1.30.4. Kubernetes %(low)s to %(high)s is supported "
            "(the kubernetes formula's kubeadm v1beta3 configuration).", low=low, high=high))
    if not K8S_MIN <= (int(match[1]), int(match[2])) <= K8S_MAX:
        raise Invalid("kubernetes_version", _(
            "Kubernetes %(low)s to %(high)s is supported (the kubernetes formula's kubeadm v1beta3 "
            "configuration); %(value)s is not.", low=low, high=high, value=_shown(value)))
    return ".".join(str(int(part)) for part in match.groups())


def _network(field: str, value: str, example: str):
    value = (value or "").strip()
    if not value:
        raise Invalid(field, _("Give the pod network in CIDR notation, such as %(example)s.", example=example)
                      if field == "pod_cidr" else
                      _("Give the service network in CIDR notation, such as %(example)s.", example=example))
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "has host bits set" in str(error):
            message = _("'%(value)s' is not a network in CIDR notation such as %(example)s (it has host bits "
                        "set).", value=_shown(value), example=example)
        else:
            message = _("'%(value)s' is not a network in CIDR notation such as %(example)s (not a network).",
                        value=_shown(value), example=example)
        raise Invalid(field, message) from None
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_unspecified or net.is_reserved:
        raise Invalid(field, _("%(net)s is a loopback, link-local, multicast or reserved range; give a private "
                               "network such as %(example)s.", net=net, example=example))
    return net


def networks(pod_value: str, service_value: str) -> tuple[str, str]:
    """The pod and service networks: one IP family (IPv4), sensible sizes, not overlapping."""
    pod = _network("pod_cidr", pod_value, "172.16.0.0/16")
    service = _network("service_cidr", service_value, "10.0.1.0/24")
    if pod.version != service.version:
        if pod.version == 6:
            raise Invalid("pod_cidr", _("The pod network %(pod)s is IPv6 but the service network %(service)s is "
                                        "IPv4: give both in the same IP family (IPv4, which flannel here uses).",
                                        pod=pod, service=service))
        raise Invalid("service_cidr", _("The service network %(service)s is IPv6 but the pod network %(pod)s is "
                                        "IPv4: give both in the same IP family (IPv4, which flannel here uses).",
                                        pod=pod, service=service))
    if pod.version == 6:
        raise Invalid("pod_cidr", _("IPv6 networks are not supported: the cluster's flannel configuration is "
                                    "IPv4 only. Give an IPv4 network such as 172.16.0.0/16."))
    low, high = POD_PREFIX
    if not low <= pod.prefixlen <= high:
        raise Invalid("pod_cidr", _("The pod network must be a /%(low)d to /%(high)d (flannel gives each node a "
                                    "/24 of it); %(net)s is a /%(prefix)d.", low=low, high=high, net=pod,
                                    prefix=pod.prefixlen))
    low, high = SERVICE_PREFIX
    if not low <= service.prefixlen <= high:
        raise Invalid("service_cidr", _("The service network must be a /%(low)d to /%(high)d; %(net)s is a "
                                        "/%(prefix)d.", low=low, high=high, net=service, prefix=service.prefixlen))
    if pod.overlaps(service):
        raise Invalid("service_cidr", _("The service network %(service)s overlaps the pod network %(pod)s: give "
                                        "two networks that do not overlap.", service=service, pod=pod))
    return str(pod), str(service)


def registry_port(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid("registry_port", _("The registry port must be between 1 and 65535."))
    if value in KUBE_PORTS:
        raise Invalid("registry_port", _("Port %(port)d is %(owner)s's; choose a port Kubernetes does "
                                         "not use (1-65535, not 30000-32767 either), such as 5000.",
                                         port=value, owner=KUBE_PORTS[value]))
    if value in NODE_PORTS:
        raise Invalid("registry_port", _("Ports 30000-32767 are Kubernetes' NodePort range; choose another "
                                         "(1-65535), such as 5000."))
    return value


def nfs_export(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer."))
    if len(value) > TEXT_LIMIT:
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer, of at most "
                                      "%(num)d characters.", num=TEXT_LIMIT))
    if not value.startswith("/") or not EXPORT_CHARS.match(value):
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer: letters, "
                                      "digits, '.', '_', '-' and '/', no spaces."))
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer, without '.' "
                                      "or '..' in it."))
    if value == "/" or value.strip("/") == "":
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer, not / itself: "
                                      "exporting the whole file system is refused."))
    normal = posixpath.normpath(value)
    if normal != value or value.startswith("//"):
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer, written "
                                      "plainly (no doubled or trailing '/'): %(path)s.", path=normal))
    if any(normal == tree or normal.startswith(tree + "/") for tree in SYSTEM_TREES) or normal in SYSTEM_DIRS:
        raise Invalid("nfs_export", _("The NFS export must be an absolute path such as /hummer, not the system "
                                      "directory %(path)s: use a directory of its own, such as /srv/hummer.",
                                      path=normal))
    return normal
