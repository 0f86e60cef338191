"""The test API server's aggregation layer, and the metrics stand-in registered in it.

apiserver_flags() turns the layer on: the request-header CA and names, the proxy
client certificate (both from kube_pki.make_pki), and --enable-aggregator-routing
(the API server dials the Service's endpoints itself: there is no kube-proxy to make
a ClusterIP reachable).

register_metrics_api() registers the simulated kubelet's metrics server
(kubelet_sim/metrics.py) as metrics-server would be: the Service
kube-system/metrics-server (no selector), its Endpoints, and the APIService
v1beta1.metrics.k8s.io (insecureSkipTLSVerify, metrics-server's priorities).

The Endpoints point to 127.0.0.1:<port>, which the API refuses to store (endpoint
addresses may not be loopback). So they are written straight into etcd, as the API
server would have stored them (JSON, which it reads beside protobuf); from there the
API server lists, watches and routes to them like any other. They are marked
endpointslice.kubernetes.io/skip-mirror, so no EndpointSlice copies them.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid

from tests.support.kube_pki import FRONT_PROXY_CLIENT as FRONT_PROXY_CLIENT

NAMESPACE, SERVICE = "kube-system", "metrics-server"
APISERVICE = "v1beta1.metrics.k8s.io"
SERVICE_PORT = 443
LABELS = {"k8s-app": "metrics-server", "hummer.io/simulated": "true"}


def apiserver_flags(pki: dict) -> list[str]:
    return [
        f"--requestheader-client-ca-file={pki['front_proxy_ca']}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki['front_proxy_client_crt']}",
        f"--proxy-client-key-file={pki['front_proxy_client_key']}",
        "--enable-aggregator-routing=true",
    ]


def service(port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "spec": {"ports": [{"name": "https", "port": SERVICE_PORT, "protocol": "TCP", "targetPort": port}]}}


def endpoints(port: int, ip: str = "127.0.0.1") -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "uid": str(uuid.uuid4()),
                         "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "labels": {**LABELS, "endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def apiservice() -> dict:
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": APISERVICE, "labels": dict(LABELS)},
            "spec": {"service": {"name": SERVICE, "namespace": NAMESPACE, "port": SERVICE_PORT},
                     "group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                     "groupPriorityMinimum": 100, "versionPriority": 100}}


def etcd_put(etcd_url: str, key: str, value: bytes, timeout: float = 5.0) -> None:
    """One key through etcd's v3 JSON gateway."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value).decode()}).encode()
    req = urllib.request.Request(f"{etcd_url}/v3/kv/put", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


def register_metrics_api(rest, etcd_url: str, port: int) -> None:
    """Service, Endpoints and APIService for the metrics stand-in on 127.0.0.1:port.
    rest: a kubelet_sim.Rest with the admin token. Raises ApiError; a 404 (kube-system
    not made yet, just after the API server's start) is for the caller to retry."""
    from tests.support.kubelet_sim.rest import ApiError
    try:
        rest.request("POST", f"/api/v1/namespaces/{NAMESPACE}/services", service(port))
    except ApiError as e:
        if e.status != 409:
            raise
    etcd_put(etcd_url, f"/registry/services/endpoints/{NAMESPACE}/{SERVICE}",
             json.dumps(endpoints(port)).encode())
    try:
        rest.request("POST", "/apis/apiregistration.k8s.io/v1/apiservices", apiservice())
    except ApiError as e:
        if e.status != 409:
            raise


def available(get_json) -> bool:
    """The APIService's Available condition is True, and the API server proxies to it
    (the proxy's handler follows the condition a moment later: until then, a 404 or a
    503). get_json: path -> doc, or None for a 404."""
    doc = get_json(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}") or {}
    if not any(c.get("type") == "Available" and c.get("status") == "True"
               for c in doc.get("status", {}).get("conditions", [])):
        return False
    nodes = get_json("/apis/metrics.k8s.io/v1beta1/nodes") or {}
    return nodes.get("kind") == "NodeMetricsList"
