"""The portal's way to the Kubernetes adapter: the configured cluster, and its state
for the banners the pages show."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from portal.adapters import kube as kube_adapter
from portal.services.errors import Unavailable


def kube() -> kube_adapter.Kube:
    """The cluster client; Unavailable (503) when none is configured."""
    try:
        return kube_adapter.connect(current_app.config.get("KUBECONFIG", ""))
    except kube_adapter.KubeError as error:
        raise Unavailable(error.message) from error


def configured() -> bool:
    return bool(current_app.config.get("KUBECONFIG"))


@dataclass(frozen=True)
class State:
    ok: bool
    message: str = ""


def state() -> State:
    """For banners: is the cluster configured and reachable (as far as the cache knows)?"""
    if not configured():
        return State(False, "No Kubernetes cluster is configured (HUMMER_KUBECONFIG), so apps "
                            "cannot run yet. Everything else works.")
    try:
        k = kube()
        k.cache("deployments", timeout=10)
    except (Unavailable, kube_adapter.KubeError) as error:
        return State(False, f"The Kubernetes cluster is not reachable: {getattr(error, 'message', error)}")
    informer = k.informers["deployments"]
    if informer.error:
        return State(False, "The connection to the Kubernetes cluster was lost; app data may be "
                            f"out of date ({informer.error}).")
    return State(True)


def unavailable(error: kube_adapter.KubeError) -> Unavailable:
    return Unavailable(f"The Kubernetes cluster did not answer: {error.message}")
