"""Builders of the Kubernetes objects Hummer sends, from the domain's types: pure
functions, no calls.

An `AppSpec` (portal.domain.apps, already validated by services.apps) becomes a
Deployment, zero, one or two Services (internal ports in a ClusterIP Service named
like the app, external ones in a NodePort Service `<app>-ext`) and, with autoscaling,
a HorizontalPodAutoscaler (autoscaling/v1); the pod template names the project's
pull Secret in imagePullSecrets when there is one. Projects become a Namespace, a
ResourceQuota, a LimitRange and, for a registry that needs a login, the pull Secret
(`pull_secret`, a kubernetes.io/dockerconfigjson Secret). `spec_from_objects` reads an AppSpec back from the
live objects (for the edit form).

Everything is a plain JSON dict in the API's own form: `to_yaml()` of these dicts is
exactly what is sent, and `kubectl apply -f` accepts it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shlex
from dataclasses import asdict

import yaml

from portal.adapters.kube.labels import (
    APP_LABEL,
    MANAGED,
    NAME_LABEL,
    PLAN_ANNOTATION,
    PROJECT_LABEL,
    PULL_SECRET_ANNOTATION,
    RESTART_ANNOTATION,
)
from portal.domain.apps import AppSpec, EnvSpec, PortSpec, ProbeSpec, VolumeMountSpec, split_image

QUOTA_NAME = "hummer-quota"
LIMITS_NAME = "hummer-limits"
PULL_SECRET_NAME = "hummer-registry"
PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
EXTERNAL_SUFFIX = "-ext"


def labels(app: str) -> dict:
    return {APP_LABEL: app, NAME_LABEL: app, **MANAGED}


def _meta(app: str, name: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace, "labels": labels(app)}


def _probe(p: ProbeSpec) -> dict | None:
    """A probe with the values the API server would default (scheme, successThreshold)
    written out: server-side apply then owns all of it, so an edit that drops the probe,
    or changes its kind, removes it whole instead of leaving a defaulted `scheme` behind."""
    if p.kind == "http":
        probe = {"httpGet": {"path": p.path or "/", "port": p.port, "scheme": "HTTP"}}
    elif p.kind == "tcp":
        probe = {"tcpSocket": {"port": p.port}}
    elif p.kind == "exec":
        probe = {"exec": {"command": shlex.split(p.command)}}
    else:
        return None
    probe.update({"periodSeconds": 10, "timeoutSeconds": 2, "successThreshold": 1, "failureThreshold": 3})
    return probe


def resources(spec: AppSpec) -> dict:
    requests = {k: v for k, v in (("cpu", spec.cpu_request), ("memory", spec.memory_request)) if v}
    limits = {k: v for k, v in (("cpu", spec.cpu_limit), ("memory", spec.memory_limit)) if v}
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def container(spec: AppSpec) -> dict:
    c: dict = {"name": spec.name, "image": spec.image_ref}
    if spec.command:
        c["command"] = shlex.split(spec.command)
    if spec.args:
        c["args"] = shlex.split(spec.args)
    if spec.workdir:
        c["workingDir"] = spec.workdir
    if spec.ports:
        c["ports"] = [{"name": p.name, "containerPort": p.container_port, "protocol": p.protocol}
                      for p in spec.ports]
    if spec.env:
        c["env"] = [{"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret, "key": e.key}}}
                    if e.secret else {"name": e.name, "value": e.value} for e in spec.env]
    res = resources(spec)
    if res:
        c["resources"] = res
    for attr, key in (("readiness", "readinessProbe"), ("liveness", "livenessProbe")):
        probe = _probe(getattr(spec, attr))
        if probe:
            c[key] = probe
    if spec.volumes:
        c["volumeMounts"] = [{"name": v.name, "mountPath": v.mount_path, "readOnly": v.read_only,
                              **({"subPath": v.sub_path} if v.sub_path else {})} for v in spec.volumes]
    return c


def set_pull_secrets(template: dict, names) -> None:
    """The pod template's imagePullSecrets: Hummer's own (PULL_SECRET_NAME) when `names`
    holds it, none of Hummer's otherwise; entries someone else added stay."""
    pod = template.setdefault("spec", {})
    others = [r for r in pod.get("imagePullSecrets") or [] if r.get("name") != PULL_SECRET_NAME]
    refs = others + [{"name": n} for n in names if n not in {r.get("name") for r in others}]
    if refs:
        pod["imagePullSecrets"] = refs
    else:
        pod.pop("imagePullSecrets", None)


def pod_template(spec: AppSpec, pull_secrets=()) -> dict:
    annotations = {PLAN_ANNOTATION: spec.plan} if spec.plan else {}
    template = {"metadata": {"labels": labels(spec.name)}, "spec": {"containers": [container(spec)]}}
    if annotations:
        template["metadata"]["annotations"] = annotations
    if spec.volumes:
        claims = dict.fromkeys(v.claim for v in spec.volumes)  # one pod volume per claim, in order
        template["spec"]["volumes"] = [{"name": VolumeMountSpec(c, "").name,
                                        "persistentVolumeClaim": {"claimName": c}} for c in claims]
    if pull_secrets:
        template["spec"]["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    return template


def deployment(spec: AppSpec, namespace: str, progress_deadline: int = 600, pull_secrets=()) -> dict:
    """The Deployment. Sent with server-side apply (field manager FIELD_MANAGER), so a
    later apply of the same builder changes only these fields: what kubectl added stays.
    `pull_secrets`: the names of the Secrets the kubelet pulls the image with."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(spec.name, spec.name, namespace),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {APP_LABEL: spec.name}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": progress_deadline,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": pod_template(spec, pull_secrets),
        },
    }


def services(spec: AppSpec, namespace: str) -> list[dict]:
    out = []
    for exposure, stype, name in (("internal", "ClusterIP", spec.name),
                                  ("external", "NodePort", spec.name + EXTERNAL_SUFFIX)):
        ports = [p for p in spec.ports if p.exposure == exposure]
        if not ports:
            continue
        svc_ports = []
        for p in ports:
            entry = {"name": p.name, "protocol": p.protocol, "port": p.container_port,
                     "targetPort": p.name}
            if stype == "NodePort" and p.node_port:
                entry["nodePort"] = p.node_port
            svc_ports.append(entry)
        out.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": _meta(spec.name, name, namespace),
            "spec": {"type": stype, "selector": {APP_LABEL: spec.name}, "ports": svc_ports,
                     "sessionAffinity": "ClientIP" if spec.session_affinity else "None"},
        })
    return out


def hpa(spec: AppSpec, namespace: str) -> dict | None:
    if not spec.autoscale:
        return None
    return {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(spec.name, spec.name, namespace),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
                 "minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas,
                 "targetCPUUtilizationPercentage": spec.cpu_target},
    }


def app_objects(spec: AppSpec, namespace: str, progress_deadline: int = 600, pull_secrets=()) -> list[dict]:
    """Everything one app is made of, in creation order."""
    objs = [deployment(spec, namespace, progress_deadline, pull_secrets), *services(spec, namespace)]
    scaler = hpa(spec, namespace)
    if scaler:
        objs.append(scaler)
    return objs


def to_yaml(objects: list[dict]) -> str:
    return "---\n".join(yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects)


# Projects ---------------------------------------------------------------------

def namespace(project: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": project, "labels": {PROJECT_LABEL: project, **MANAGED}}}


def resource_quota(project: str, cpu: str, memory: str, pods: str, storage: str = "", claims: str = "") -> dict:
    hard = {k: v for k, v in (("requests.cpu", cpu), ("requests.memory", memory), ("pods", pods),
                              ("requests.storage", storage), ("persistentvolumeclaims", claims)) if v}
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": project, "labels": dict(MANAGED)},
            "spec": {"hard": hard}}


def limit_range(project: str, cpu_request: str, memory_request: str, cpu_limit: str,
                memory_limit: str) -> dict:
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": LIMITS_NAME, "namespace": project, "labels": dict(MANAGED)},
            "spec": {"limits": [{"type": "Container",
                                 "defaultRequest": {"cpu": cpu_request, "memory": memory_request},
                                 "default": {"cpu": cpu_limit, "memory": memory_limit}}]}}


def dockerconfigjson(host: str, username: str, password: str) -> str:
    """The ~/.docker/config.json form of one registry login, as the kubelet reads it."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}},
                      sort_keys=True)


def pull_secret(project: str, host: str, username: str, password: str, digest: str) -> dict:
    """The project's pull Secret. `digest` (PULL_SECRET_ANNOTATION) tells whether it holds
    the current credentials without reading them back; it must not be the password."""
    config = dockerconfigjson(host, username, password).encode()
    return {"apiVersion": "v1", "kind": "Secret", "type": PULL_SECRET_TYPE,
            "metadata": {"name": PULL_SECRET_NAME, "namespace": project, "labels": dict(MANAGED),
                         "annotations": {PULL_SECRET_ANNOTATION: digest}},
            "data": {".dockerconfigjson": base64.b64encode(config).decode("ascii")}}


# Reading an app back (for the edit form) ----------------------------------------

def app_container(template: dict, app: str) -> dict:
    """The app's own container (named like the app), not a sidecar someone added."""
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return next((c for c in containers if c.get("name") == app), containers[0])


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()[:24]


def _template_sans_restart(template: dict) -> dict:
    meta = dict(template.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != RESTART_ANNOTATION}
    meta["annotations"] = annotations
    return {**template, "metadata": meta}


def template_fingerprint(template: dict) -> str:
    """A digest of the pod template (a restart's timestamp aside): the image form's and the
    rollback buttons' token. A scale (kubectl, the HPA, stop, start) leaves it alone."""
    return _digest(_template_sans_restart(template or {}))


def form_fingerprint(deploy: dict, svcs: list[dict], scaler: dict | None) -> str:
    """A digest of what the edit form owns: the pod template, and the ports, affinity and
    autoscaling read back from the Services and HPA. Replicas are not in it."""
    spec = spec_from_objects(deploy, svcs, scaler)
    spec.replicas = 0
    return _digest({"template": _template_sans_restart(deploy["spec"].get("template") or {}),
                    "form": asdict(spec)})


def _probe_back(probe: dict | None) -> ProbeSpec:
    if not probe:
        return ProbeSpec()
    if "httpGet" in probe:
        return ProbeSpec("http", probe["httpGet"].get("path", "/"), _int(probe["httpGet"].get("port")))
    if "tcpSocket" in probe:
        return ProbeSpec("tcp", port=_int(probe["tcpSocket"].get("port")))
    if "exec" in probe:
        return ProbeSpec("exec", command=shlex.join(probe["exec"].get("command") or []))
    return ProbeSpec()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def spec_from_objects(deploy: dict, svcs: list[dict], scaler: dict | None) -> AppSpec:
    """The AppSpec the live objects correspond to (what kubectl may have changed included)."""
    meta, dspec = deploy["metadata"], deploy["spec"]
    tmpl = dspec["template"]
    c = app_container(tmpl, meta["name"])
    image, tag = split_image(c.get("image", ""))
    res = c.get("resources") or {}
    exposure: dict[str, tuple[str, int | None]] = {}
    affinity = False
    for svc in svcs:
        external = svc["spec"].get("type") == "NodePort"
        affinity = affinity or svc["spec"].get("sessionAffinity") == "ClientIP"
        for p in svc["spec"].get("ports") or []:
            exposure[p.get("name", "")] = ("external" if external else "internal",
                                           p.get("nodePort") if external else None)
    ports = [PortSpec(p.get("name", ""), p.get("protocol", "TCP"), p["containerPort"],
                      *exposure.get(p.get("name", ""), ("internal", None)))
             for p in c.get("ports") or []]
    env = []
    for e in c.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        env.append(EnvSpec(e["name"], secret=ref["name"], key=ref["key"]) if ref
                   else EnvSpec(e["name"], e.get("value", "")))
    spec = AppSpec(
        name=meta["name"], image=image, tag=tag, replicas=dspec.get("replicas", 1),
        plan=(tmpl["metadata"].get("annotations") or {}).get(PLAN_ANNOTATION, ""),
        cpu_request=(res.get("requests") or {}).get("cpu", ""),
        memory_request=(res.get("requests") or {}).get("memory", ""),
        cpu_limit=(res.get("limits") or {}).get("cpu", ""),
        memory_limit=(res.get("limits") or {}).get("memory", ""),
        ports=ports, env=env, command=shlex.join(c.get("command") or []),
        args=shlex.join(c.get("args") or []), workdir=c.get("workingDir", ""),
        readiness=_probe_back(c.get("readinessProbe")), liveness=_probe_back(c.get("livenessProbe")),
        session_affinity=affinity)
    if scaler:
        s = scaler["spec"]
        spec.autoscale, spec.min_replicas = True, s.get("minReplicas", 1)
        spec.max_replicas, spec.cpu_target = s.get("maxReplicas", 1), s.get("targetCPUUtilizationPercentage", 80)
    claims = {v["name"]: (v.get("persistentVolumeClaim") or {}).get("claimName")
              for v in tmpl["spec"].get("volumes") or []}
    for m in c.get("volumeMounts") or []:
        if claims.get(m.get("name")):
            spec.volumes.append(VolumeMountSpec(claims[m["name"]], m.get("mountPath", ""), m.get("subPath", ""),
                                                bool(m.get("readOnly", False))))
    return spec
