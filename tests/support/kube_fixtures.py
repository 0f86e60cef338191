"""pytest plugin: a real Kubernetes control plane for the test suite.

Fixtures:
  kube_cluster    (session)  KubeCluster: .kubeconfig, .api_url, .token, .ca_file,
                             .bin_dir, .kubelet (the simulated kubelet), .stop()
  kube_api        (session)  kubernetes.client.ApiClient for the cluster
  kube_namespace  (function) a fresh namespace (its default ServiceAccount and
                             token exist), deleted afterwards; yields its name
  kubelet         (function) the simulated kubelet, its tunables (registry,
                             Job rule, delays) restored to defaults afterwards

Environment: HUMMER_KUBE_NODES (default 3), HUMMER_KUBE_BIN_DIR (binaries),
HUMMER_KUBE_KEEP=1 (keep the cluster's temp dir and logs).
"""
from __future__ import annotations

import os
import re
import uuid

import pytest

from portal.adapters.kube import close_all
from tests.support.kube_cluster import KubeCluster
from tests.support.waiting import wait_for  # noqa: F401 (also imported from here by older tests)


def pytest_configure(config):
    config.addinivalue_line("markers", "kube: needs the real Kubernetes control plane (kube_cluster fixture)")


@pytest.fixture(scope="session")
def kube_cluster():
    cluster = KubeCluster(nodes=int(os.environ.get("HUMMER_KUBE_NODES", "3")),
                          keep_workdir=os.environ.get("HUMMER_KUBE_KEEP") == "1")
    cluster.start()
    try:
        yield cluster
    finally:
        close_all()  # the portal's clients first: no watch retries a stopped API server
        cluster.stop()


@pytest.fixture(scope="session")
def kube_api(kube_cluster):
    client = kube_cluster.api_client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubelet(kube_cluster):
    sim = kube_cluster.kubelet
    sim.reset()
    try:
        yield sim
    finally:
        sim.reset()


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", nodeid.split("::")[-1].lower()).strip("-")
    return f"t-{base[:40].strip('-')}-{uuid.uuid4().hex[:6]}"


def create_namespace(cluster: KubeCluster, api, name: str, timeout: float = 30.0) -> str:
    """Create a namespace and wait until pods can be created in it (the
    controller-manager made its default ServiceAccount and token)."""
    from kubernetes import client
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"hummer.io/test": "true"})))
    wait_for(lambda: cluster.service_account_ready(name), timeout=timeout, interval=0.05,
             what=f"the default ServiceAccount token in namespace {name}")
    return name


def delete_namespace(api, name: str) -> None:
    """Start deleting a namespace; gone already is fine."""
    from kubernetes import client
    try:
        client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:
        if e.status != 404:
            raise


@pytest.fixture
def kube_namespace(request, kube_cluster, kube_api):
    name = create_namespace(kube_cluster, kube_api, _namespace_name(request.node.nodeid))
    try:
        yield name
    finally:
        delete_namespace(kube_api, name)
