"""Builders of the objects behind a Hummer volume, pure functions like objects.py: the
PersistentVolume of type nfs (pre-bound to its claim, reclaim policy Retain), the
PersistentVolumeClaim in the project's namespace, and the StorageClass both name, which
allows expansion so that a claim may grow (Kubernetes refuses to resize a claim of no class).
"""
from __future__ import annotations

from portal.adapters.kube.labels import MANAGED, VOLUME_LABEL

STORAGE_CLASS = "hummer-nfs"


def storage_class() -> dict:
    """No provisioner: Hummer makes each PersistentVolume itself; the class exists for
    allowVolumeExpansion, which the API server's resize admission asks of a claim's class."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "labels": dict(MANAGED)},
            "provisioner": "kubernetes.io/no-provisioner", "allowVolumeExpansion": True,
            "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"}


def persistent_volume(pv_name: str, namespace: str, claim: str, capacity: str, access_mode: str,
                      server: str, path: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "labels": {VOLUME_LABEL: claim, **MANAGED}},
            "spec": {"capacity": {"storage": capacity}, "accessModes": [access_mode],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": STORAGE_CLASS,
                     "nfs": {"server": server, "path": path},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                  "namespace": namespace, "name": claim}}}


def claim(namespace: str, name: str, capacity: str, access_mode: str, pv_name: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": {VOLUME_LABEL: name, **MANAGED}},
            "spec": {"accessModes": [access_mode], "resources": {"requests": {"storage": capacity}},
                     "storageClassName": STORAGE_CLASS, "volumeName": pv_name}}


def claims_of(template: dict) -> tuple[str, ...]:
    """The claims a pod template mounts."""
    return tuple(sorted({(v.get("persistentVolumeClaim") or {}).get("claimName")
                         for v in (template.get("spec") or {}).get("volumes") or []} - {None}))
