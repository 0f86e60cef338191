"""The deploy and edit forms' data (WTForms `form.data` shape) -> AppSpec, with a message
beside each wrong field (SpecInvalid). No cluster needed: only the plans come from the
database."""
from __future__ import annotations

import re
import shlex

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import validation
from portal.domain.apps import AppSpec, EnvSpec, PortSpec, ProbeSpec, VolumeMountSpec
from portal.extensions import db
from portal.models import ResourcePlan
from portal.services.errors import Invalid

APP_NAME_MAX = 40                 # leaves room for "-ext" and the ReplicaSet/pod suffixes
RESERVED_APP_NAMES = {"new"}      # /projects/<p>/apps/new is the deploy page's URL
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


class SpecInvalid(Invalid):
    """Several fields are wrong at once: `errors` maps a form field id to its message."""

    def __init__(self, errors: dict[str, str], message: str | None = None):
        first = message or next(iter(errors.values()), None) or _("Check the form.")
        super().__init__(next(iter(errors), None), first)
        self.errors = errors
        self.summary = message


class DeployFailed(SpecInvalid):
    """A step of creating an app failed; the earlier steps were undone."""


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
        return _("App name is required.")
    if name in RESERVED_APP_NAMES:
        return _("'%(name)s' is reserved by the portal; choose another name.", name=name)
    if len(name) > APP_NAME_MAX:
        return _("App name must be at most %(num)d characters.", num=APP_NAME_MAX)
    if not APP_NAME.match(name):
        return _("App name must be lower-case letters, digits and '-', starting with a letter "
                 "and ending with a letter or digit (a DNS-1123 label).")
    return None


IMAGE_MESSAGE = _l("Not an image reference: use lower-case names separated by '/', "
                   "optionally after a registry host (host:port/name).")
IMAGE_MESSAGE_UPPER = _l("Not an image reference: use lower-case names separated by '/', "
                         "optionally after a registry host (host:port/name). Upper-case letters are not allowed.")


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
        return "", tag, {"image": _("Image is required, such as nginx or registry:5000/team/web.")}
    if any(ch.isspace() for ch in image):
        return image, tag, {"image": _("An image reference has no spaces.")}
    if len(image) > IMAGE_NAME_MAX + 200:
        return "", tag, {"image": _("An image name is at most %(num)d characters.", num=IMAGE_NAME_MAX)}
    name, at, digest = image.partition("@")
    inner_tag = ""
    head, _slash, last = name.rpartition("/")
    if ":" in last:
        last, inner_tag = last.rsplit(":", 1)
        name = f"{head}/{last}" if head else last
    if at:
        repo = f"{name}@{digest}"
        if not DIGEST.fullmatch(digest):
            errors["image"] = _("A digest is sha256: and 64 lower-case hex digits.")
    else:
        repo = name
        if inner_tag:
            if tag and tag != inner_tag:
                errors["tag"] = _("The image already names the tag '%(tag)s'; give the tag in one place.",
                                  tag=inner_tag)
            tag = inner_tag
    registry, path = _split_registry(name)
    if len(name) > IMAGE_NAME_MAX:
        errors["image"] = _("An image name is at most %(num)d characters (registry host included).",
                            num=IMAGE_NAME_MAX)
    elif registry and not REGISTRY.fullmatch(registry):
        errors["image"] = _("The registry host is a host name or address, with an optional :port.")
    elif not IMAGE_PATH.fullmatch(path):
        errors.setdefault("image", str(IMAGE_MESSAGE_UPPER)
                          if path.lower() != path and IMAGE_PATH.fullmatch(path.lower()) else str(IMAGE_MESSAGE))
    if at:
        tag = ""
    elif not tag:
        tag = "latest"
    elif not TAG.fullmatch(tag):
        errors["tag"] = _("A tag is letters, digits, '_', '.' and '-' (at most 128), not starting with '.' or '-'.")
    return repo, tag, errors


def _probe(data: dict, prefix: str, errors: dict) -> ProbeSpec:
    kind = _text(data, "kind") or "none"
    if kind not in ("none", "http", "tcp", "exec"):
        errors[f"{prefix}-kind"] = _("Choose none, HTTP, TCP or exec.")
        return ProbeSpec()
    probe = ProbeSpec(kind=kind, path=_text(data, "path") or "/", command=_text(data, "command"))
    for key in ("path", "command"):
        value = getattr(probe, key)
        if len(value) > TEXT_MAX or "\x00" in value:
            errors[f"{prefix}-{key}"] = _("At most %(num)d characters, and no NUL characters.", num=TEXT_MAX)
            return probe
    if kind in ("http", "tcp"):
        port = _int(data.get("port"), 1, 65535)
        if port is None:
            errors[f"{prefix}-port"] = _("The probe needs a port from 1 to 65535.")
        probe.port = port
    if kind == "http" and not probe.path.startswith("/"):
        errors[f"{prefix}-path"] = _("The HTTP path starts with '/'.")
    if kind == "exec":
        try:
            if not shlex.split(probe.command):
                errors[f"{prefix}-command"] = _("The exec probe needs a command.")
        except ValueError:
            errors[f"{prefix}-command"] = _("The command has an unbalanced quote.")
    return probe


def _mounts(rows, volumes, errors: dict) -> list[VolumeMountSpec]:
    """The volume rows: a volume of the project, an absolute mount path (no '..', not twice),
    an optional sub-path that stays inside the volume."""
    mounts: list[VolumeMountSpec] = []
    seen: set[str] = set()
    for i, row in enumerate(rows or []):
        claim, path, sub = _text(row, "volume"), _text(row, "mount_path"), _text(row, "sub_path")
        if not claim and not path and not sub:
            continue
        if not claim:
            errors[f"volumes-{i}-volume"] = _("Choose the volume to mount.")
        elif volumes is not None and claim not in volumes:
            errors[f"volumes-{i}-volume"] = _("The project has no volume named %(name)s.", name=claim[:63])
        parts = path.split("/")
        if not path:
            errors[f"volumes-{i}-mount_path"] = _("Give the path where the container sees the volume, such as /data.")
        elif len(path) > TEXT_MAX or "\x00" in path or not path.startswith("/") or ".." in parts or path == "/":
            errors[f"volumes-{i}-mount_path"] = _("A mount path is absolute (starts with '/'), is not '/' itself, "
                                                  "and has no '..'.")
        else:
            path = "/" + "/".join(p for p in parts if p and p != ".")
            if path in seen:
                errors[f"volumes-{i}-mount_path"] = _("Something else is already mounted at %(path)s.", path=path)
            seen.add(path)
        if sub:
            sub_parts = sub.split("/")
            if len(sub) > TEXT_MAX or "\x00" in sub or sub.startswith("/") or ".." in sub_parts:
                errors[f"volumes-{i}-sub_path"] = _("A sub-path is relative to the volume (no leading '/') and has "
                                                    "no '..'.")
            sub = "/".join(p for p in sub_parts if p and p != ".")
        mounts.append(VolumeMountSpec(claim, path, sub, bool(row.get("read_only")), row=i))
    return mounts


def parse(data: dict, name_fixed: str | None = None, volumes=None) -> AppSpec:
    """An AppSpec from the deploy form's data (WTForms `form.data` shape); raises
    SpecInvalid with a message for each wrong field. `volumes`: the names of the project's
    volumes, which the mount rows may name (None: not checked).

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
            errors["replicas"] = _("Replicas must be a whole number from 0 to %(max)d.", max=REPLICAS_MAX)
    spec = AppSpec(name=name, image=image, tag=tag, replicas=replicas or 0)

    # resources: a plan, or custom requests and limits
    plan_name = _text(data, "plan")
    if plan_name:
        plan = db.session.scalar(select(ResourcePlan).where(ResourcePlan.name == plan_name))
        if plan is None:
            errors["plan"] = _("No plan named '%(name)s'.", name=plan_name)
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
                errors[f"{kind}_limit"] = validation.limit_below_request(kind)

    # ports
    seen_ports: dict[tuple[int, str], int] = {}
    seen_names: set[str] = set()
    for i, row in enumerate(data.get("ports") or []):
        raw_port, pname = _text(row, "container_port"), _text(row, "name")
        if not raw_port and not pname and not _text(row, "node_port"):
            continue  # an empty row
        protocol = (_text(row, "protocol") or "TCP").upper()
        if protocol not in ("TCP", "UDP"):
            errors[f"ports-{i}-protocol"] = _("Protocol is TCP or UDP.")
        port = _int(raw_port, 1, 65535)
        if port is None:
            errors[f"ports-{i}-container_port"] = _("A port is a whole number from 1 to 65535.")
        elif (port, protocol) in seen_ports:
            errors[f"ports-{i}-container_port"] = _("Port %(port)s is listed twice.",
                                                    port="/".join((str(port), protocol)))
        else:
            seen_ports[(port, protocol)] = i
        pname = pname or (f"{protocol.lower()}-{port}" if port else "")
        if pname:
            if len(pname) > 15 or not PORT_NAME.match(pname) or "--" in pname \
                    or not any(c.isalpha() for c in pname):
                errors[f"ports-{i}-name"] = _("A port name is at most 15 lower-case letters, digits "
                                              "and '-', with at least one letter.")
            elif pname in seen_names:
                errors[f"ports-{i}-name"] = _("The port name '%(name)s' is used twice.", name=pname)
            seen_names.add(pname)
        exposure = _text(row, "exposure") or "internal"
        if exposure not in ("internal", "external"):
            errors[f"ports-{i}-exposure"] = _("Exposure is internal (ClusterIP) or external (NodePort).")
        node_port = None
        if _text(row, "node_port"):
            node_port = _int(row.get("node_port"), 30000, 32767)
            if node_port is None:
                errors[f"ports-{i}-node_port"] = _("A node port is a whole number from 30000 to 32767.")
            elif exposure != "external":
                errors[f"ports-{i}-node_port"] = _("A fixed node port needs external exposure.")
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
            errors[f"env-{i}-name"] = _("A variable name is at most %(num)d characters.", num=ENV_NAME_MAX)
        elif not ENV_NAME.fullmatch(ename) or ename in (".", ".."):
            errors[f"env-{i}-name"] = _("A variable name is letters, digits, '_', '-' and '.', not starting "
                                        "with a digit (as Kubernetes accepts).")
        elif ename in seen_env:
            errors[f"env-{i}-name"] = _("%(name)s is set twice.", name=ename)
        seen_env.add(ename)
        if source == "secret":
            secret, key = _text(row, "secret"), _text(row, "key")
            if len(secret) > 253 or not SECRET_NAME.fullmatch(secret):
                errors[f"env-{i}-secret"] = _("Name a secret of this project (lower-case letters, digits, '-' "
                                              "and '.').")
            if not SECRET_KEY.fullmatch(key):
                errors[f"env-{i}-key"] = _("Name the key inside the secret (letters, digits, '-', '_' and '.').")
            spec.env.append(EnvSpec(ename, secret=secret, key=key))
        else:
            if len(value) > ENV_VALUE_MAX:
                errors[f"env-{i}-value"] = _("A value is at most %(num)d characters.", num=ENV_VALUE_MAX)
            elif "\x00" in value:
                errors[f"env-{i}-value"] = _("A value cannot contain a NUL character.")
            spec.env.append(EnvSpec(ename, value=value))

    # command, args, working directory
    for key in ("command", "args", "workdir"):
        value = _text(data, key)
        if len(value) > TEXT_MAX:
            errors[key] = _("At most %(num)d characters.", num=TEXT_MAX)
        elif "\x00" in value:
            errors[key] = _("No NUL characters, please.")
        elif key != "workdir":
            try:
                shlex.split(value)
            except ValueError:
                errors[key] = _("Unbalanced quote; quote arguments like a shell would.")
        setattr(spec, key, value)
    if spec.workdir and not spec.workdir.startswith("/") and "workdir" not in errors:
        errors["workdir"] = _("The working directory is an absolute path, starting with '/'.")

    spec.volumes = _mounts(data.get("volumes"), volumes, errors)
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
            errors["min_replicas"] = _("The minimum is a whole number from 1 to %(max)d.", max=REPLICAS_MAX)
        if hi is None:
            errors["max_replicas"] = _("The maximum is a whole number from 1 to %(max)d.", max=REPLICAS_MAX)
        if lo is not None and hi is not None and lo > hi:
            errors["max_replicas"] = _("The maximum must not be below the minimum (min ≤ max).")
        if target is None:
            errors["cpu_target"] = _("The CPU target is a percentage from 1 to 100.")
        if not editing and replicas is not None and lo is not None and hi is not None and lo <= hi \
                and not lo <= replicas <= hi:
            errors["replicas"] = _("With autoscaling from %(low)d to %(high)d replicas, start with a number "
                                   "from %(low)d to %(high)d; the autoscaler keeps it in that range.",
                                   low=lo, high=hi)
        spec.min_replicas, spec.max_replicas, spec.cpu_target = lo or 1, hi or 1, target or 80
    if errors:
        raise SpecInvalid(errors)
    return spec
