"""What the app pages show: the list, one app's detail, its events, its settings for the
edit form. Read from the watch cache (listing, detail) or the API (events, settings)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from flask_babel import gettext as _

from portal.adapters import kube as kube_adapter
from portal.adapters.kube import objects
from portal.domain.apps import AppSpec
from portal.models import Project
from portal.services import kube_access
from portal.services.apps.common import _kube_errors
from portal.services.errors import NotFound
from portal.services.paging import Page


def get(project: Project, name: str) -> kube_adapter.AppView:
    kube = kube_access.kube()
    with _kube_errors():
        app = kube.app(project.name, name)
    if app is None:
        raise NotFound(_("No such app."))
    return app



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

