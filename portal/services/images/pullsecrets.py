"""Pull credentials in the cluster: when the registry needs a login, each project's namespace
holds a kubernetes.io/dockerconfigjson Secret (`hummer-registry`, labelled as Hummer's) for the
registry's pull host, and every Deployment Hummer creates or changes names it in
imagePullSecrets; with an open registry there is neither.

    refs = pullsecrets.prepare(kube, "shop")     # the Secret as the credentials are now; ["hummer-registry"] or []
    pullsecrets.ensure(kube, "shop")             # the same, the adapter's errors raised as they are
    pullsecrets.ensure_all()                     # every project (a worker's start, `flask pull-secrets`)

Rotation: the Secret carries a keyed digest of (pull host, username, password) in the
annotation PULL_SECRET_ANNOTATION (keyed with the portal's secret key, so the annotation tells
nothing about the password). When the current credentials give another digest, the Secret is
replaced; when they give the same, nothing is written (one GET). The password is never logged,
audited or put in an annotation.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.adapters import kube as kube_adapter
from portal.adapters.kube import objects
from portal.extensions import db
from portal.models import Project
from portal.services import audit, kube_access
from portal.services.errors import Invalid, ServiceError, Unavailable
from portal.services.images import access

SECRET_NAME = objects.PULL_SECRET_NAME


@dataclass(frozen=True)
class Login:
    host: str
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, wherever a Login is printed
        return f"Login(host={self.host!r}, username={self.username!r})"

    def digest(self) -> str:
        key = hashlib.sha256(b"hummer pull-secret digest\0" + str(current_app.config["SECRET_KEY"]).encode())
        data = json.dumps([self.host, self.username, self.password]).encode()
        return hmac.new(key.digest(), data, hashlib.sha256).hexdigest()[:40]


def current() -> Login | None:
    """The login the nodes pull with; None for an open registry (no username), or none at all."""
    username, password = access.credentials()
    if not username or not access.configured():
        return None
    return Login(access.pull_host(), username, password)


def references() -> list[str]:
    """The imagePullSecrets names a Deployment carries now (the YAML preview's, without a call)."""
    return [SECRET_NAME] if current() is not None else []


def _ours(secret: dict) -> bool:
    meta = secret.get("metadata") or {}
    return all((meta.get("labels") or {}).get(k) == v for k, v in kube_adapter.MANAGED.items())


def _note(namespace: str, what: str, login: Login | None) -> None:
    """A log line and an audit event (by "system") for a write; host and user, never the password."""
    whom = f"{login.username}@{login.host}" if login else ""
    current_app.logger.info("Pull secret %s in namespace %s %s %s", SECRET_NAME, namespace, what, whom)
    project = db.session.scalar(select(Project).where(Project.name == namespace))
    if project is not None:
        audit.record(None, "project.pull_secret", "secret", SECRET_NAME, project=project,
                     detail=f"{what} {whom}".strip())


_UNREAD = object()


def _read(kube, namespace: str) -> dict | None:
    try:
        return kube.get("secrets", namespace, SECRET_NAME)
    except kube_adapter.NotFound:
        return None


def ensure(kube, namespace: str, live=_UNREAD) -> str:
    """Make the namespace's pull Secret match the current credentials: "created", "rotated",
    "removed" (the registry is open now), "unchanged" or "none". `live`: the Secret as just
    listed (None: there is none), else it is read. Raises the adapter's errors; a concurrent
    writer (another worker) is waited out, not fought."""
    login = current()
    for _attempt in range(3):
        if live is _UNREAD:
            live = _read(kube, namespace)
        if login is None:
            if live is None or not _ours(live):
                return "none"
            kube.delete("secrets", namespace, SECRET_NAME)
            _note(namespace, "removed", None)
            return "removed"
        digest = login.digest()
        annotations = (live or {}).get("metadata", {}).get("annotations") or {}
        if live is not None and annotations.get(kube_adapter.PULL_SECRET_ANNOTATION) == digest \
                and live.get("type") == objects.PULL_SECRET_TYPE:
            return "unchanged"
        body = objects.pull_secret(namespace, login.host, login.username, login.password, digest)
        try:
            if live is None:
                kube.create("secrets", namespace, body)
                _note(namespace, "created", login)
                return "created"
            if live.get("type") != objects.PULL_SECRET_TYPE:  # a Secret's type cannot change
                kube.delete("secrets", namespace, SECRET_NAME)
                kube.create("secrets", namespace, body)
            else:
                body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                kube.replace("secrets", namespace, SECRET_NAME, body)
        except kube_adapter.Conflict:
            live = _UNREAD  # someone wrote it meanwhile: read again
            continue
        _note(namespace, "rotated", login)
        return "rotated"
    raise kube_adapter.Conflict(f"The Secret {SECRET_NAME} kept changing while it was written.")


def prepare(kube, namespace: str) -> list[str]:
    """Before a Deployment is created or changed: ensure() with the services' errors, then
    the imagePullSecrets names it carries."""
    try:
        ensure(kube, namespace)
    except kube_adapter.Unavailable as error:
        raise Unavailable(_("The Kubernetes cluster is not reachable: %(reason)s", reason=error.message)) from error
    except kube_adapter.KubeError as error:
        raise Invalid(None, _("The registry's pull secret could not be written in namespace %(namespace)s: "
                              "%(reason)s", namespace=namespace, reason=error.message)) from error
    return references()


def ensure_all() -> dict[str, int]:
    """ensure() in every project's namespace, after one list of the Secrets cluster-wide (so
    that unchanged ones cost nothing more); how many ended how ("failed": could not)."""
    counts: dict[str, int] = {}
    kube = kube_access.kube()
    try:
        listed = {s["metadata"]["namespace"]: s
                  for s in kube.list("secrets", None, fields=f"metadata.name={SECRET_NAME}")}
    except kube_adapter.KubeError as error:
        current_app.logger.warning("Pull secrets not listed (each is read instead): %s", error.message)
        listed = None
    for name in db.session.scalars(select(Project.name).order_by(Project.name)).all():
        try:
            outcome = ensure(kube, name, _UNREAD if listed is None else listed.get(name))
            db.session.commit()
        except kube_adapter.NotFound:
            outcome = "no namespace"
        except kube_adapter.KubeError as error:
            current_app.logger.warning("Pull secret in namespace %s not written: %s", name, error.message)
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def start_sweep(app) -> threading.Thread | None:
    """When a worker starts (the credentials come from its environment, so a change reaches
    the portal with a restart): ensure_all() in a thread of its own, so the worker does not
    wait. Under TESTING only when KUBE_START_CACHES says so."""
    if app.testing and not app.config.get("KUBE_START_CACHES"):
        return None

    def sweep():
        with app.app_context():
            try:
                if kube_access.configured():
                    counts = ensure_all()
                    app.logger.info("Pull secrets checked: %s", counts)
            except (ServiceError, kube_adapter.KubeError) as error:
                app.logger.warning("Pull secrets not checked: %s", getattr(error, "message", error))
            except Exception as error:  # the database may be down; the next start tries again
                app.logger.warning("Pull secrets not checked: %s", error)
            finally:
                db.session.remove()
    thread = threading.Thread(target=sweep, name="hummer-pull-secrets", daemon=True)
    thread.start()
    return thread
