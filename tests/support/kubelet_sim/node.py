"""The simulated nodes as the API server sees them: the Node object, its
conditions, registration (again, if somebody deleted it) and heartbeats."""
from __future__ import annotations

import hashlib
import uuid

from .podstate import rfc3339
from .rest import ApiError, Rest

KUBELET_VERSION = "v1.20.2"


def node_conditions(now: float, boot: float) -> list[dict]:
    hb, tr = rfc3339(now), rfc3339(boot)
    spec = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status (simulated)")]
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": hb,
             "lastTransitionTime": tr} for t, s, r, m in spec]


def node_manifest(name: str, ip: str, port: int, capacity: dict, labels: dict, now: float, boot: float) -> dict:
    machine = hashlib.md5(name.encode()).hexdigest()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "hummer.io/simulated": "true", **labels},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {},
        "status": {
            "capacity": dict(capacity), "allocatable": dict(capacity),
            "conditions": node_conditions(now, boot),
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {"machineID": machine, "systemUUID": str(uuid.UUID(machine)),
                         "bootID": str(uuid.uuid4()), "kernelVersion": "6.1.0-simulated",
                         "osImage": "Hummer simulated node", "containerRuntimeVersion": "containerd://1.4.13",
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


def register_node(rest: Rest, body: dict) -> None:
    """Create the Node, or update the status of the one that is there; drop the
    node.kubernetes.io/ taints (not-ready, unreachable) a restart left behind."""
    name = body["metadata"]["name"]
    try:
        node = rest.request("POST", "/api/v1/nodes", body)
    except ApiError as e:
        if e.status != 409:
            raise
        node = rest.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": body["status"]},
                            content_type="application/merge-patch+json")
    taints = (node.get("spec") or {}).get("taints") or []
    keep = [t for t in taints if not t.get("key", "").startswith("node.kubernetes.io/")]
    if keep != taints:
        rest.request("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": keep or None}},
                     content_type="application/merge-patch+json")


def heartbeat(rest: Rest, name: str, now: float, boot: float) -> None:
    """Renew the node's conditions (raises ApiError 404 when the node is gone)."""
    rest.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": node_conditions(now, boot)}},
                 content_type="application/merge-patch+json", timeout=10)
