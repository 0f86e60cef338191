"""Apps: what a developer ships into a project's namespace, without writing YAML.

Every function checks the role first (viewer reads, developer and up change), talks
to the cluster through adapters.kube, records an audit event for each change and
turns the adapter's errors into the portal's: NotFound, Conflict ("changed meanwhile,
reload"), Unavailable (503), Invalid (beside a field).
"""
from __future__ import annotations

import math
import queue
import re
import shlex
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from flask import current_app
from sqlalchemy import select

from portal import validation
from portal.adapters import kube as kube_adapter
from portal.adapters.kube import objects
from portal.domain.apps import AppSpec, EnvSpec, PortSpec, ProbeSpec, split_image
from portal.extensions import db
from portal.models import Project, ResourcePlan, Role
from portal.services import audit, authz, kube_access
from portal.services.context import Actor
from portal.services.errors import Conflict, Invalid, NotFound, Unavailable

APP_NAME_MAX = 40
RESERVED_APP_NAMES = {"new"}      # leaves room for "-ext" and the ReplicaSet/pod suffixes
REPLICAS_MAX = 1000
# Kubernetes' own limits (IsEnvVarName; distribution's reference grammar for images).
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*", re.ASCII)
ENV_NAME_MAX = 256
ENV_VALUE_MAX = 32768
TEXT_MAX = 4096                   # command, arguments, working directory, probe path and command
APP_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
REGISTRY = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
                      r"(?::[0-9]{1,5})?", re.ASCII)
DIGEST = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)
IMAGE_NAME_MAX = 255              # distribution's NameTotalLengthMax (registry host included)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}", re.ASCII)
SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", re.ASCII)
CONFLICT_MESSAGE = ("This app's settings were changed meanwhile (by someone else, or with kubectl); "
                    "reload to see the change, then apply yours again.")


class SpecInvalid(Invalid):
    """Several fields are wrong at once: `errors` maps a form field id to its message."""

    def __init__(self, errors: dict[str, str], message: str | None = None):
        first = message or next(iter(errors.values()), "Check the form.")
        super().__init__(next(iter(errors), None), first)
        self.errors = errors
        self.summary = message


class DeployFailed(SpecInvalid):
    """A step of creating an app failed; the earlier steps were undone."""


# --------------------------------------------------------------------------- parsing

def _int(value, lo: int, hi: int) -> int | None:
    """A whole number written in ASCII digits (no '1_0', no other scripts' digits)."""
    text = value.strip() if isinstance(value, str) else str(value if isinstance(value, int) else "")
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", text, re.ASCII):
        return None
    number = int(text)
    return number if lo <= number <= hi else None


def _text(data: dict, key: str) -> str:
    """A text field, stripped; anything but text or a number (a file part, a list) counts as blank."""
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else ""


def check_app_name(name: str) -> str | None:
    if not name:
        return "App name is required."
    if name in RESERVED_APP_NAMES:
        return f"'{name}' is reserved by the portal; choose another name."
    if len(name) > APP_NAME_MAX:
        return f"App name must be at most {APP_NAME_MAX} characters."
    if not APP_NAME.match(name):
        return ("App name must be lower-case letters, digits and '-', starting with a letter "
                "and ending with a letter or digit (a DNS-1123 label).")
    return None


IMAGE_MESSAGE = ("Not an image reference: use lower-case names separated by '/', "
                 "optionally after a registry host (host:port/name).")


def _split_registry(name: str) -> tuple[str, str]:
    """('registry:5000', 'team/web') as Docker splits it: the first component is a
    registry host when it has a '.' or ':', is 'localhost' or an [IPv6] address."""
    first, slash, rest = name.partition("/")
    if slash and (("." in first) or (":" in first) or first == "localhost" or first.startswith("[")):
        return first, rest
    return "", name


def check_image(image: str, tag: str) -> tuple[str, str, dict[str, str]]:
    """(repository, tag, errors) from the image and tag fields."""
    errors: dict[str, str] = {}
    if not image:
        return "", tag, {"image": "Image is required, such as nginx or registry:5000/team/web."}
    if any(ch.isspace() for ch in image):
        return image, tag, {"image": "An image reference has no spaces."}
    if len(image) > IMAGE_NAME_MAX + 200:
        return "", tag, {"image": f"An image name is at most {IMAGE_NAME_MAX} characters."}
    name, at, digest = image.partition("@")
    inner_tag = ""
    head, _, last = name.rpartition("/")
    if ":" in last:
        last, inner_tag = last.rsplit(":", 1)
        name = f"{head}/{last}" if head else last
    if at:
        repo = f"{name}@{digest}"
        if not DIGEST.fullmatch(digest):
            errors["image"] = "A digest is sha256: and 64 lower-case hex digits."
    else:
        repo = name
        if inner_tag:
            if tag and tag != inner_tag:
                errors["tag"] = f"The image already names the tag '{inner_tag}'; give the tag in one place."
            tag = inner_tag
    registry, path = _split_registry(name)
    if len(name) > IMAGE_NAME_MAX:
        errors["image"] = f"An image name is at most {IMAGE_NAME_MAX} characters (registry host included)."
    elif registry and not REGISTRY.fullmatch(registry):
        errors["image"] = "The registry host is a host name or address, with an optional :port."
    elif not IMAGE_PATH.fullmatch(path):
        errors.setdefault("image", (IMAGE_MESSAGE + " Upper-case letters are not allowed.")
                          if path.lower() != path and IMAGE_PATH.fullmatch(path.lower()) else IMAGE_MESSAGE)
    if at:
        tag = ""
    elif not tag:
        tag = "latest"
    elif not TAG.fullmatch(tag):
        errors["tag"] = "A tag is letters, digits, '_', '.' and '-' (at most 128), not starting with '.' or '-'."
    return repo, tag, errors


def _probe(data: dict, prefix: str, errors: dict) -> ProbeSpec:
    kind = _text(data, "kind") or "none"
    if kind not in ("none", "http", "tcp", "exec"):
        errors[f"{prefix}-kind"] = "Choose none, HTTP, TCP or exec."
        return ProbeSpec()
    probe = ProbeSpec(kind=kind, path=_text(data, "path") or "/", command=_text(data, "command"))
    for key in ("path", "command"):
        value = getattr(probe, key)
        if len(value) > TEXT_MAX or "\x00" in value:
            errors[f"{prefix}-{key}"] = f"At most {TEXT_MAX} characters, and no NUL characters."
            return probe
    if kind in ("http", "tcp"):
        port = _int(data.get("port"), 1, 65535)
        if port is None:
            errors[f"{prefix}-port"] = "The probe needs a port from 1 to 65535."
        probe.port = port
    if kind == "http" and not probe.path.startswith("/"):
        errors[f"{prefix}-path"] = "The HTTP path starts with '/'."
    if kind == "exec":
        try:
            if not shlex.split(probe.command):
                errors[f"{prefix}-command"] = "The exec probe needs a command."
        except ValueError:
            errors[f"{prefix}-command"] = "The command has an unbalanced quote."
    return probe


def parse(data: dict, name_fixed: str | None = None) -> AppSpec:
    """An AppSpec from the deploy form's data (WTForms `form.data` shape); raises
    SpecInvalid with a message for each wrong field.

    With name_fixed (the edit form), name, image, tag and replicas are not read (the edit
    page does not show them): the edit takes the image and the replicas from the running
    Deployment."""
    errors: dict[str, str] = {}
    editing = name_fixed is not None
    name = name_fixed or _text(data, "name")
    replicas: int | None = 0
    if editing:
        image, tag = "", ""
    else:
        message = check_app_name(name)
        if message:
            errors["name"] = message
        image, tag, image_errors = check_image(_text(data, "image"), _text(data, "tag"))
        errors.update(image_errors)
        replicas = _int(data.get("replicas", 1), 0, REPLICAS_MAX)
        if replicas is None:
            errors["replicas"] = f"Replicas must be a whole number from 0 to {REPLICAS_MAX}."
    spec = AppSpec(name=name, image=image, tag=tag, replicas=replicas or 0)

    # resources: a plan, or custom requests and limits
    plan_name = _text(data, "plan")
    if plan_name:
        plan = db.session.scalar(select(ResourcePlan).where(ResourcePlan.name == plan_name))
        if plan is None:
            errors["plan"] = f"No plan named '{plan_name}'."
        else:
            spec.plan = plan.name
            spec.cpu_request, spec.memory_request = plan.cpu_request, plan.memory_request
            spec.cpu_limit, spec.memory_limit = plan.cpu_limit, plan.memory_limit
    else:
        for key in ("cpu_request", "memory_request", "cpu_limit", "memory_limit"):
            value = _text(data, key)
            if value:
                message = validation.quantity(value, key.split("_")[0])
                if message:
                    errors[key] = message
            setattr(spec, key, value)
        for kind in ("cpu", "memory"):
            req, lim = getattr(spec, f"{kind}_request"), getattr(spec, f"{kind}_limit")
            if req and lim and f"{kind}_request" not in errors and f"{kind}_limit" not in errors \
                    and not validation.not_less(req, lim):
                errors[f"{kind}_limit"] = f"The {kind} limit must not be below the request."

    # ports
    seen_ports: dict[tuple[int, str], int] = {}
    seen_names: set[str] = set()
    for i, row in enumerate(data.get("ports") or []):
        raw_port, pname = _text(row, "container_port"), _text(row, "name")
        if not raw_port and not pname and not _text(row, "node_port"):
            continue  # an empty row
        protocol = (_text(row, "protocol") or "TCP").upper()
        if protocol not in ("TCP", "UDP"):
            errors[f"ports-{i}-protocol"] = "Protocol is TCP or UDP."
        port = _int(raw_port, 1, 65535)
        if port is None:
            errors[f"ports-{i}-container_port"] = "A port is a whole number from 1 to 65535."
        elif (port, protocol) in seen_ports:
            errors[f"ports-{i}-container_port"] = f"Port {port}/{protocol} is listed twice."
        else:
            seen_ports[(port, protocol)] = i
        pname = pname or (f"{protocol.lower()}-{port}" if port else "")
        if pname:
            if len(pname) > 15 or not PORT_NAME.match(pname) or "--" in pname \
                    or not any(c.isalpha() for c in pname):
                errors[f"ports-{i}-name"] = ("A port name is at most 15 lower-case letters, digits "
                                             "and '-', with at least one letter.")
            elif pname in seen_names:
                errors[f"ports-{i}-name"] = f"The port name '{pname}' is used twice."
            seen_names.add(pname)
        exposure = _text(row, "exposure") or "internal"
        if exposure not in ("internal", "external"):
            errors[f"ports-{i}-exposure"] = "Exposure is internal (ClusterIP) or external (NodePort)."
        node_port = None
        if _text(row, "node_port"):
            node_port = _int(row.get("node_port"), 30000, 32767)
            if node_port is None:
                errors[f"ports-{i}-node_port"] = "A node port is a whole number from 30000 to 32767."
            elif exposure != "external":
                errors[f"ports-{i}-node_port"] = "A fixed node port needs external exposure."
        spec.ports.append(PortSpec(pname, protocol, port or 0, exposure, node_port, row=i))

    # environment
    seen_env: set[str] = set()
    for i, row in enumerate(data.get("env") or []):
        ename = _text(row, "name")
        source = _text(row, "source") or "plain"
        value = row.get("value") if isinstance(row.get("value"), str) else ""
        if not ename and not value and not _text(row, "secret"):
            continue
        if len(ename) > ENV_NAME_MAX:
            errors[f"env-{i}-name"] = f"A variable name is at most {ENV_NAME_MAX} characters."
        elif not ENV_NAME.fullmatch(ename) or ename in (".", ".."):
            errors[f"env-{i}-name"] = ("A variable name is letters, digits, '_', '-' and '.', not starting "
                                       "with a digit (as Kubernetes accepts).")
        elif ename in seen_env:
            errors[f"env-{i}-name"] = f"{ename} is set twice."
        seen_env.add(ename)
        if source == "secret":
            secret, key = _text(row, "secret"), _text(row, "key")
            if len(secret) > 253 or not SECRET_NAME.fullmatch(secret):
                errors[f"env-{i}-secret"] = "Name a secret of this project (lower-case letters, digits, '-' and '.')."
            if not SECRET_KEY.fullmatch(key):
                errors[f"env-{i}-key"] = "Name the key inside the secret (letters, digits, '-', '_' and '.')."
            spec.env.append(EnvSpec(ename, secret=secret, key=key))
        else:
            if len(value) > ENV_VALUE_MAX:
                errors[f"env-{i}-value"] = f"A value is at most {ENV_VALUE_MAX} characters."
            elif "\x00" in value:
                errors[f"env-{i}-value"] = "A value cannot contain a NUL character."
            spec.env.append(EnvSpec(ename, value=value))

    # command, args, working directory
    for key in ("command", "args", "workdir"):
        value = _text(data, key)
        if len(value) > TEXT_MAX:
            errors[key] = f"At most {TEXT_MAX} characters."
        elif "\x00" in value:
            errors[key] = "No NUL characters, please."
        elif key != "workdir":
            try:
                shlex.split(value)
            except ValueError:
                errors[key] = "Unbalanced quote; quote arguments like a shell would."
        setattr(spec, key, value)
    if spec.workdir and not spec.workdir.startswith("/") and "workdir" not in errors:
        errors["workdir"] = "The working directory is an absolute path, starting with '/'."

    spec.readiness = _probe(data.get("readiness") or {}, "readiness", errors)
    spec.liveness = _probe(data.get("liveness") or {}, "liveness", errors)
    spec.session_affinity = bool(data.get("session_affinity"))

    # autoscaling (autoscaling/v1: CPU only)
    spec.autoscale = bool(data.get("autoscale"))
    if spec.autoscale:
        lo = _int(data.get("min_replicas"), 1, REPLICAS_MAX)
        hi = _int(data.get("max_replicas"), 1, REPLICAS_MAX)
        target = _int(data.get("cpu_target"), 1, 100)
        if lo is None:
            errors["min_replicas"] = f"The minimum is a whole number from 1 to {REPLICAS_MAX}."
        if hi is None:
            errors["max_replicas"] = f"The maximum is a whole number from 1 to {REPLICAS_MAX}."
        if lo is not None and hi is not None and lo > hi:
            errors["max_replicas"] = "The maximum must not be below the minimum (min ≤ max)."
        if target is None:
            errors["cpu_target"] = "The CPU target is a percentage from 1 to 100."
        if not editing and replicas is not None and lo is not None and hi is not None and lo <= hi \
                and not lo <= replicas <= hi:
            errors["replicas"] = (f"With autoscaling from {lo} to {hi} replicas, start with a number "
                                  f"from {lo} to {hi}; the autoscaler keeps it in that range.")
        spec.min_replicas, spec.max_replicas, spec.cpu_target = lo or 1, hi or 1, target or 80
    if errors:
        raise SpecInvalid(errors)
    return spec


# --------------------------------------------------------------------------- helpers

@contextmanager
def _kube_errors(what: str = ""):
    """Turn the adapter's errors into the portal's."""
    try:
        yield
    except kube_adapter.Conflict as error:
        raise Conflict(CONFLICT_MESSAGE) from error
    except kube_adapter.NotFound as error:
        raise NotFound("No such app (it may have just been deleted).") from error
    except kube_adapter.Unavailable as error:
        raise Unavailable(f"The Kubernetes cluster is not reachable: {error.message}") from error
    except kube_adapter.KubeError as error:
        raise Invalid(None, f"{what}{error.message}") from error


def _deadline() -> int:
    return int(current_app.config.get("KUBE_PROGRESS_DEADLINE", 600))


def _require(project: Project, by: Actor, need: Role = Role.DEVELOPER) -> None:
    authz.require(by.user, project, need)


def get(project: Project, name: str) -> kube_adapter.AppView:
    kube = kube_access.kube()
    with _kube_errors():
        app = kube.app(project.name, name)
    if app is None:
        raise NotFound("No such app.")
    return app


def _check(token, actual: str) -> None:
    """Conflict when what the form owns changed since the form was shown. The token is a
    fingerprint of the pod template (and, for the edit form, its other fields), not the
    generation: a scale (kubectl, the HPA, the portal's scale, stop, start) bumps that."""
    if token not in (None, "") and str(token) != actual:
        raise Conflict(CONFLICT_MESSAGE)


def _fresh(kube, project: Project, name: str, token) -> dict:
    """The Deployment as it is now; Conflict when its pod template changed since the form was shown."""
    with _kube_errors():
        deploy = kube.get("deployments", project.name, name)
    _check(token, objects.template_fingerprint(deploy["spec"].get("template") or {}))
    return deploy


def _update(kube, project: Project, name: str, token, mutate, what: str = "") -> dict:
    """GET, check the token, mutate, PUT with that resourceVersion. A 409 caused by a change
    outside the pod template (a status update, a scale) is retried; a change of the template
    meanwhile is a Conflict for the user."""
    for _ in range(4):
        deploy = _fresh(kube, project, name, token)
        mutate(deploy)
        deploy.pop("status", None)
        try:
            with _kube_errors(what):
                return kube.replace("deployments", project.name, name, deploy)
        except Conflict:
            continue
    raise Conflict(CONFLICT_MESSAGE)


def _record(by: Actor, action: str, project: Project, name: str, detail: str = "") -> None:
    audit.record(by, action, "app", name, project=project.name, detail=detail)
    db.session.commit()


# --------------------------------------------------------------------------- listing

@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def listing(project: Project, q: str = "", status: str = "", page: int = 1, per_page: int = 20) -> Page:
    """One page of the project's apps from the watch cache, filtered on the server."""
    kube = kube_access.kube()
    with _kube_errors():
        apps = kube.apps(project.name)
    q = q.strip().lower()
    if q:
        apps = [a for a in apps if q in a.name or q in a.image.lower()]
    if status:
        apps = [a for a in apps if a.status == status]
    apps.sort(key=lambda a: a.name)
    total = len(apps)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    return Page(apps[(page - 1) * per_page: page * per_page], page, per_page, total)


@dataclass
class Detail:
    app: kube_adapter.AppView
    pods: list
    revisions: list
    services: list
    hpa: kube_adapter.HpaView | None
    stalled_pods: list = field(default_factory=list)


def detail(project: Project, name: str) -> Detail:
    app = get(project, name)
    kube = kube_access.kube()
    with _kube_errors():
        pods = sorted(kube.pods(project.name, name), key=lambda p: p.name)
        revisions = sorted((r for r in kube.replicasets(project.name, name) if r.owner_uid == app.uid),
                           key=lambda r: -r.revision)
        services = sorted(kube.services(project.name, name), key=lambda s: s.name)
        hpas = kube.hpas(project.name, name)
    return Detail(app, pods, revisions, services, hpas[0] if hpas else None,
                  [p for p in pods if p.reason])


def events(project: Project, name: str, limit: int = 20) -> list[dict]:
    """Recent events of the app, its ReplicaSets and (some of) its pods, newest first,
    from the watch-fed cache of Events (no API call)."""
    d = detail(project, name)
    kube = kube_access.kube()
    names = [name] + [r.name for r in d.revisions[:3]] + [p.name for p in d.pods[:10]]
    with _kube_errors():
        found = kube.events(project.name, names)
    return [{"at": e.at, "type": e.type, "reason": e.reason, "object": f"{e.kind}/{e.object}",
             "message": e.message, "count": e.count} for e in found[:limit]]


# --------------------------------------------------------------------------- deploy

def preview(project: Project, data: dict, by: Actor) -> tuple[AppSpec, str]:
    """The YAML that deploying this form would send, exactly."""
    _require(project, by)
    spec = parse(data)
    return spec, objects.to_yaml(objects.app_objects(spec, project.name, _deadline()))


def _field_of(obj: dict, spec: AppSpec, cause_field: str) -> str | None:
    """Map an API validation cause (spec.ports[1].nodePort) back to a form field id."""
    match = re.match(r"spec\.ports\[(\d+)\]\.nodePort", cause_field or "")
    if match and obj["kind"] == "Service":
        external = obj["spec"]["type"] == "NodePort"
        rows = [p for p in spec.ports if (p.exposure == "external") == external]
        index = int(match.group(1))
        if index < len(rows):
            return f"ports-{rows[index].row}-node_port"
    return None


def deploy(project: Project, data: dict, by: Actor) -> AppSpec:
    """Create the app's Deployment, Services and HPA as one unit: if a step fails, the
    steps before it are removed and the error says which step failed."""
    _require(project, by)
    spec = parse(data)
    kube = kube_access.kube()
    ns = project.name
    with _kube_errors():
        try:
            kube.get("namespaces", None, ns)
        except kube_adapter.NotFound:
            from portal.services import projects
            projects.provision(project)  # a project made while no cluster was configured
    created: list[dict] = []
    for obj in objects.app_objects(spec, ns, _deadline()):
        try:
            _create(kube, ns, obj)
        except kube_adapter.KubeError as error:
            undone = _undo(kube, ns, created)
            what = f"Creating the {obj['kind']} {obj['metadata']['name']} failed"
            if isinstance(error, kube_adapter.Conflict):
                if obj["kind"] == "Deployment":
                    raise SpecInvalid({"name": f"An app named '{spec.name}' already exists in this project."})
                message = f"{what}: an object of that name exists already."
            elif isinstance(error, kube_adapter.Unavailable):
                raise Unavailable(f"{what}: the cluster is not reachable ({error.message}). {undone}") from error
            else:
                message = f"{what}: {error.message}"
            errors = {}
            for cause_field, cause_message in error.causes:
                form_field = _field_of(obj, spec, cause_field)
                if form_field:
                    errors[form_field] = cause_message
            raise DeployFailed(errors, f"{message} {undone}") from error
        created.append(obj)
    _record(by, "app.deploy", project, spec.name, detail=spec.image_ref)
    return spec


def _create(kube, ns: str, obj: dict) -> dict:
    """One object of a new app, owned by the `hummer` field manager. The Deployment goes by
    server-side apply (so that the edit form's later applies own exactly these fields), after
    a check that no app of that name exists: apply alone would change an existing one."""
    kind, name = kube_adapter.plural_of(obj), obj["metadata"]["name"]
    if obj["kind"] != "Deployment":
        return kube.create(kind, ns, obj, manager=kube_adapter.FIELD_MANAGER)
    try:
        kube.get(kind, ns, name)
    except kube_adapter.NotFound:
        return kube.apply(kind, ns, name, obj)
    raise kube_adapter.Conflict(f"A Deployment named {name} exists already.")


def _undo(kube, ns: str, created: list[dict]) -> str:
    gone = []
    for obj in reversed(created):
        try:
            kube.delete(kube_adapter.plural_of(obj), ns, obj["metadata"]["name"])
            gone.append(f"{obj['kind']} {obj['metadata']['name']}")
        except kube_adapter.KubeError:
            return "Some of what was created before may be left; delete the app to clean up."
    return ("Nothing was kept: " + ", ".join(gone) + " removed again.") if gone else "Nothing was created."


# --------------------------------------------------------------------------- actions

def scale(project: Project, name: str, replicas, by: Actor) -> kube_adapter.AppView:
    _require(project, by)
    count = _int(replicas, 0, REPLICAS_MAX)
    if count is None:
        raise Invalid("replicas", f"Replicas must be a whole number from 0 to {REPLICAS_MAX}.")
    app = get(project, name)
    kube = kube_access.kube()
    with _kube_errors():
        if kube.hpas(project.name, name):
            raise Invalid("replicas", "Autoscaling manages this app's replicas; change its minimum "
                                      "and maximum in the settings instead.")
        kube.patch("deployments", project.name, name, {"spec": {"replicas": count}})
    _record(by, "app.scale", project, name, detail=f"{app.desired} -> {count}")
    return get(project, name)


def set_image(project: Project, name: str, image: str, tag: str, token, by: Actor) -> None:
    """A rolling update to another image or tag."""
    _require(project, by)
    repo, tag, errors = check_image(image.strip(), tag.strip())
    if errors:
        raise SpecInvalid(errors)
    ref = repo if "@" in repo else f"{repo}:{tag}"
    kube = kube_access.kube()
    before = {}

    def mutate(deploy):
        container = objects.app_container(deploy["spec"]["template"], name)
        before.setdefault("image", container["image"])
        container["image"] = ref
    _update(kube, project, name, token, mutate)
    old = before["image"]
    _record(by, "app.image", project, name, detail=f"{old} -> {ref}")


def rollback(project: Project, name: str, revision, token, by: Actor) -> int:
    """Copy the chosen revision's pod template into the Deployment (kubectl rollout undo)."""
    _require(project, by)
    kube = kube_access.kube()
    deploy = _fresh(kube, project, name, token)
    number = _int(revision, 1, 10 ** 9)
    with _kube_errors():
        sets = kube.list("replicasets", project.name, labels=f"{kube_adapter.APP_LABEL}={name}")
    target = None
    for rs in sets:
        owners = {o.get("uid") for o in rs["metadata"].get("ownerReferences") or []}
        rev = (rs["metadata"].get("annotations") or {}).get(kube_adapter.REVISION_ANNOTATION)
        if deploy["metadata"]["uid"] in owners and rev == str(number):
            target = rs
    if target is None:
        raise Invalid("revision", f"There is no revision {revision} of {name} to roll back to.")
    current = (deploy["metadata"].get("annotations") or {}).get(kube_adapter.REVISION_ANNOTATION)
    if current == str(number):
        raise Invalid("revision", f"Revision {number} is the one running.")
    template = target["spec"]["template"]
    template["metadata"].get("labels", {}).pop(kube_adapter.POD_TEMPLATE_HASH, None)

    def mutate(fresh):
        fresh["spec"]["template"] = template
    _update(kube, project, name, objects.template_fingerprint(deploy["spec"]["template"]), mutate)
    _record(by, "app.rollback", project, name,
            detail=f"revision {current} -> template of revision {number}")
    return number


def restart(project: Project, name: str, by: Actor) -> None:
    _require(project, by)
    get(project, name)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "spec": {"template": {"metadata": {"annotations": {kube_adapter.RESTART_ANNOTATION: now}}}}})
    _record(by, "app.restart", project, name)


def stop(project: Project, name: str, by: Actor) -> None:
    """Scale to 0, keeping the count in an annotation for start()."""
    _require(project, by)
    app = get(project, name)
    if app.desired == 0:
        raise Invalid(None, f"{name} is stopped already.")
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "metadata": {"annotations": {kube_adapter.STOP_ANNOTATION: str(app.desired)}},
            "spec": {"replicas": 0}})
    _record(by, "app.stop", project, name, detail=f"{app.desired} -> 0")


def start(project: Project, name: str, by: Actor) -> None:
    _require(project, by)
    app = get(project, name)
    if app.desired > 0:
        raise Invalid(None, f"{name} is running already.")
    count = app.stopped_from or 1
    with _kube_errors():
        kube_access.kube().patch("deployments", project.name, name, {
            "metadata": {"annotations": {kube_adapter.STOP_ANNOTATION: None}},
            "spec": {"replicas": count}})
    _record(by, "app.start", project, name, detail=f"0 -> {count}")


def delete(project: Project, name: str, confirm: str, by: Actor) -> list[str]:
    """Delete the app: its HPA, Services and Deployment (its ReplicaSets and pods follow)."""
    _require(project, by)
    if confirm.strip() != name:
        raise Invalid("confirm", f"Type the app name '{name}' to confirm.")
    get(project, name)
    kube = kube_access.kube()
    gone = []
    with _kube_errors():
        selector = f"{kube_adapter.APP_LABEL}={name}"
        for kind in ("horizontalpodautoscalers", "services"):
            for obj in kube.list(kind, project.name, labels=selector):
                if kube.delete(kind, project.name, obj["metadata"]["name"]):
                    gone.append(f"{obj['kind'] if 'kind' in obj else kind} {obj['metadata']['name']}")
        kube.delete("deployments", project.name, name, propagation="Foreground")
        gone.append(f"Deployment {name}")
        # pods and ReplicaSets go with the Deployment; drop them from this process's view now
        kube.forget_app(project.name, name)
    _record(by, "app.delete", project, name, detail=", ".join(gone))
    return gone


def _read_app(kube, ns: str, name: str) -> tuple[dict, list[dict], dict | None]:
    selector = f"{kube_adapter.APP_LABEL}={name}"
    with _kube_errors():
        deploy = kube.get("deployments", ns, name)
        svcs = kube.list("services", ns, labels=selector)
        scalers = kube.list("horizontalpodautoscalers", ns, labels=selector)
    return deploy, svcs, (scalers[0] if scalers else None)


def current_spec(project: Project, name: str) -> tuple[AppSpec, str]:
    """The app as it runs now, for the edit form, with the token the form carries (a
    fingerprint of what the form owns)."""
    deploy, svcs, scaler = _read_app(kube_access.kube(), project.name, name)
    return objects.spec_from_objects(deploy, svcs, scaler), objects.form_fingerprint(deploy, svcs, scaler)


def _edit_body(spec: AppSpec, deploy: dict, ns: str) -> dict:
    """What the `hummer` field manager applies: the builder's Deployment, with the image,
    the container's name and the rollout settings the form does not show taken from the
    live object. Everything else in the live object (a sidecar, a nodeSelector, a label,
    terminationGracePeriodSeconds) belongs to other managers and is not touched."""
    live = deploy["spec"]
    old = objects.app_container(live["template"], spec.name)
    body = objects.deployment(spec, ns, live.get("progressDeadlineSeconds") or _deadline())
    body["spec"]["template"]["spec"]["containers"][0]["name"] = old.get("name") or spec.name
    for key in ("revisionHistoryLimit", "strategy"):
        if key in live:
            body["spec"][key] = live[key]

    return body


def _removals(deploy: dict, body: dict, name: str) -> list[tuple[str, object]]:
    """(JSON pointer, live value) of what server-side apply on Kubernetes 1.20 cannot remove
    by itself: a probe the form drops, or the valueFrom of an env var that becomes a plain
    value, would stay behind as an empty struct, which the API then refuses."""
    containers = deploy["spec"]["template"]["spec"]["containers"]
    old = objects.app_container(deploy["spec"]["template"], name)
    new = body["spec"]["template"]["spec"]["containers"][0]
    base = f"/spec/template/spec/containers/{containers.index(old)}"
    out: list[tuple[str, object]] = [(f"{base}/{key}", old[key]) for key in ("readinessProbe", "livenessProbe")
                                     if key in old and key not in new]
    plain = {e["name"] for e in new.get("env") or [] if "valueFrom" not in e}
    out += [(f"{base}/env/{i}/valueFrom", e["valueFrom"]) for i, e in enumerate(old.get("env") or [])
            if "valueFrom" in e and e.get("name") in plain]
    return out


def _apply_edit(kube, ns: str, name: str, deploy: dict, body: dict) -> dict:
    """Apply the edit. What apply cannot remove (see _removals) goes first by a JSON patch
    that holds the rollout (spec.paused) and tests that the pod template is still the one
    read, so the two writes make one rollout; if the apply then fails, the removed fields
    are put back."""
    removals = _removals(deploy, body, name)
    if not removals:
        return kube.apply("deployments", ns, name, body)
    pause = not deploy["spec"].get("paused")
    ops = [{"op": "test", "path": "/spec/template", "value": deploy["spec"]["template"]}]
    if pause:
        ops.append({"op": "add", "path": "/spec/paused", "value": True})
    ops += [{"op": "remove", "path": pointer} for pointer, _ in removals]
    try:
        kube.patch("deployments", ns, name, ops, how="json")
    except kube_adapter.Invalid as error:  # the template test failed: changed meanwhile
        raise kube_adapter.Conflict(error.message) from error
    try:
        result = kube.apply("deployments", ns, name, body)
    except kube_adapter.KubeError:
        undo = [{"op": "add", "path": pointer, "value": value} for pointer, value in removals]
        if pause:
            undo.append({"op": "remove", "path": "/spec/paused"})
        try:
            kube.patch("deployments", ns, name, undo, how="json")
        except kube_adapter.KubeError:
            pass  # the apply's own error is the one to show
        raise
    if pause:
        result = kube.patch("deployments", ns, name, {"spec": {"paused": None}})
    return result


def edit(project: Project, name: str, data: dict, token, by: Actor) -> tuple[AppSpec, str]:
    """Change env, ports, plan, probes, command, affinity and autoscaling of a running app;
    returns the spec and a note for the user ("" or what happened to the replicas).

    The Deployment is changed by server-side apply of the fields the form owns, right after
    a check that what the form owns did not change since the form was shown (a concurrent
    edit is a Conflict, and the form keeps what the user typed; a scale or a status update
    meanwhile is not: the apply carries no resourceVersion, which every status update
    changes). Services and the HPA follow."""
    _require(project, by)
    spec = parse(data, name_fixed=name)
    kube = kube_access.kube()
    ns = project.name
    note = ""
    for _ in range(4):
        deploy, svcs, scaler = _read_app(kube, ns, name)
        _check(token, objects.form_fingerprint(deploy, svcs, scaler))
        old = objects.app_container(deploy["spec"]["template"], name)
        spec.image, spec.tag = split_image(old.get("image", ""))
        current = deploy["spec"].get("replicas")
        spec.replicas = 1 if current is None else current
        note = ""
        if spec.autoscale and not spec.min_replicas <= spec.replicas <= spec.max_replicas:
            clamped = max(spec.min_replicas, min(spec.replicas, spec.max_replicas))
            note = (f"Replicas went from {spec.replicas} to {clamped}, inside the autoscaling range "
                    f"{spec.min_replicas}–{spec.max_replicas}.")
            spec.replicas = clamped
        try:
            with _kube_errors("The Deployment was not changed: "):
                _apply_edit(kube, ns, name, deploy, _edit_body(spec, deploy, ns))
            break
        except Conflict:
            continue
    else:
        raise Conflict(CONFLICT_MESSAGE)
    with _kube_errors("The Deployment was changed, but its Service or autoscaler was not: "):
        _reconcile(kube, project.name, spec)
    _record(by, "app.edit", project, name, detail="env, ports, resources, probes")
    return spec, note


def _reconcile(kube, ns: str, spec: AppSpec) -> None:
    selector = f"{kube_adapter.APP_LABEL}={spec.name}"
    wanted = {s["metadata"]["name"]: s for s in objects.services(spec, ns)}
    for svc in kube.list("services", ns, labels=selector):
        svc_name = svc["metadata"]["name"]
        if svc_name not in wanted:
            kube.delete("services", ns, svc_name)
            continue
        new = wanted.pop(svc_name)
        svc["spec"]["ports"] = new["spec"]["ports"]
        svc["spec"]["sessionAffinity"] = new["spec"]["sessionAffinity"]
        svc.pop("status", None)
        kube.replace("services", ns, svc_name, svc, manager=kube_adapter.FIELD_MANAGER)
    for svc in wanted.values():
        kube.create("services", ns, svc, manager=kube_adapter.FIELD_MANAGER)
    scaler = objects.hpa(spec, ns)
    existing = kube.list("horizontalpodautoscalers", ns, labels=selector)
    if scaler is None:
        for h in existing:
            kube.delete("horizontalpodautoscalers", ns, h["metadata"]["name"])
    elif existing:
        existing[0]["spec"] = scaler["spec"]
        kube.replace("horizontalpodautoscalers", ns, spec.name, existing[0], manager=kube_adapter.FIELD_MANAGER)
    else:
        kube.create("horizontalpodautoscalers", ns, scaler, manager=kube_adapter.FIELD_MANAGER)


# --------------------------------------------------------------------------- logs

def _pods_for_logs(project: Project, name: str, pod: str | None) -> list[str]:
    d = detail(project, name)
    names = [p.name for p in d.pods if not p.deleting and p.phase != "Pending"]
    if pod:
        if pod not in {p.name for p in d.pods}:
            raise NotFound(f"No pod {pod} in app {name}.")
        return [pod]
    return names


def _split_ts(line: str) -> tuple[str, str]:
    ts, _, text = line.partition(" ")
    return ts, text


def logs(project: Project, name: str, pod: str | None = None, tail: int = 200) -> list[tuple[str, str, str]]:
    """(timestamp, pod, line) of one pod, or of all the app's pods merged by time."""
    kube = kube_access.kube()
    out = []
    for pod_name in _pods_for_logs(project, name, pod):
        try:
            text = kube.log(project.name, pod_name, tail=tail, timestamps=True)
        except kube_adapter.NotFound:
            continue
        except kube_adapter.KubeError as error:
            out.append(("", pod_name, f"(no logs: {error.message})"))
            continue
        for line in text.splitlines():
            ts, body = _split_ts(line)
            out.append((ts, pod_name, body))
    out.sort(key=lambda t: t[0])
    return out


def follow(project: Project, name: str, pod: str | None = None, max_seconds: int = 600) -> Iterator[tuple[str, str]]:
    """(pod, line) as the pods print them. The streams open now (so the caller needs no
    app context while iterating); closing the iterator closes them; after max_seconds
    the API server ends them. ("", "") every 15 s of silence is a keep-alive."""
    kube = kube_access.kube()
    streams = []
    for pod_name in _pods_for_logs(project, name, pod):
        try:
            streams.append((pod_name, kube.follow_log(project.name, pod_name, tail=0,
                                                      max_seconds=max_seconds)))
        except kube_adapter.KubeError:
            continue
    return _merge(kube, streams)


def _merge(kube, streams) -> Iterator[tuple[str, str]]:
    lines: queue.Queue = queue.Queue(maxsize=10000)
    stop = threading.Event()

    def pump(pod_name: str, resp) -> None:
        try:
            for line in kube.lines(resp):
                if stop.is_set():
                    break
                lines.put((pod_name, line))
        except Exception:
            pass
        finally:
            lines.put((pod_name, None))

    for pod_name, resp in streams:
        threading.Thread(target=pump, args=(pod_name, resp), daemon=True,
                         name=f"hummer-log-{pod_name}").start()
    try:
        open_streams = len(streams)
        while open_streams:
            try:
                pod_name, line = lines.get(timeout=15)
            except queue.Empty:
                yield ("", "")
                continue
            if line is None:
                open_streams -= 1
                continue
            yield pod_name, line
    finally:
        stop.set()
        for _, resp in streams:
            try:
                resp.shutdown()
            except Exception:
                pass
            try:
                resp.close()
            except Exception:
                pass
