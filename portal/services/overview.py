"""The dashboard's overview: is the cluster healthy, and how are my projects' apps.

Each check is short (a few seconds at most, one call each) and says what it found; the
dashboard loads it after the page, so a cluster or Salt that is down never holds a page.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.adapters import kube as kube_adapter
from portal.adapters import salt as salt_adapter
from portal.models import Project
from portal.services import apps, kube_access
from portal.services.errors import ServiceError, Unavailable

SALT_TIMEOUT = 4.0      # seconds for salt-api's answer
SALT_CONNECT = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    state: str          # ok, bad, unknown (not configured)
    summary: str        # a few words for everyone
    detail: str = ""    # the reason, for those who may act on it


def _kube_checks() -> list[Check]:
    if not kube_access.configured():
        return [Check("Kubernetes API", "unknown", _("not configured")),
                Check(_("Nodes ready"), "unknown", _("no cluster yet"))]
    try:
        k = kube_access.kube()
        version = k.version().get("gitVersion", "")
    except (Unavailable, kube_adapter.KubeError) as error:
        reason = getattr(error, "message", str(error))
        return [Check("Kubernetes API", "bad", _("not reachable"), reason),
                Check(_("Nodes ready"), "unknown", _("unknown while the API is down"))]
    checks = [Check("Kubernetes API", "ok", _("reachable, %(version)s", version=version) if version
                    else _("reachable"))]
    try:
        ready, total = k.node_readiness()
    except kube_adapter.KubeError as error:
        checks.append(Check(_("Nodes ready"), "unknown", _("cannot be read"), error.message))
    else:
        state = "ok" if total and ready == total else "bad"
        checks.append(Check(_("Nodes ready"), state, _("%(ready)d of %(total)d", ready=ready, total=total)))
    return checks


def _salt_check() -> Check:
    cfg = current_app.config
    if not cfg.get("SALT_API_URL"):
        return Check("Salt", "unknown", _("not configured"), _("Set HUMMER_SALT_API_URL to the salt-api of "
                                                               "your Salt master."))
    api = salt_adapter.SaltAPI(cfg["SALT_API_URL"], cfg["SALT_API_USER"], cfg["SALT_API_PASSWORD"],
                               eauth=cfg["SALT_API_EAUTH"], timeout=SALT_TIMEOUT,
                               connect_timeout=SALT_CONNECT, retries=1)
    try:
        keys = api.keys()
    except salt_adapter.SaltAuthError as error:
        return Check("Salt", "bad", _("refuses the portal's credentials"), str(error)[:300])
    except salt_adapter.SaltError as error:
        return Check("Salt", "bad", _("not reachable"), str(error)[:300])
    accepted = len(keys.get("minions") or [])
    return Check("Salt", "ok", ngettext("reachable, %(num)d minion", "reachable, %(num)d minions", accepted))


def checks() -> list[Check]:
    return _kube_checks() + [_salt_check()]


@dataclass(frozen=True)
class AppSummary:
    total: int
    running: int
    degraded: int
    stopped: int

    @property
    def status(self) -> str:
        """running (all up), degraded (any short of ready or stalled), stopped (all at 0), none."""
        if not self.total:
            return "none"
        if self.degraded:
            return "degraded"
        if self.stopped == self.total:
            return "stopped"
        return "running"


def summarize(views) -> AppSummary:
    running = sum(1 for a in views if a.status == "running")
    stopped = sum(1 for a in views if a.status == "stopped")
    return AppSummary(len(views), running, len(views) - running - stopped, stopped)


def project_summaries(projects: list[Project]) -> tuple[dict[str, AppSummary], str]:
    """Each project's apps by status from the watch cache; ({}, why) without a cluster."""
    state = kube_access.state()
    if not state.ok:
        return {}, _("App status needs the cluster.") if not kube_access.configured() else \
            _("App status is not available: the cluster is not reachable.")
    out = {}
    for project in projects:
        try:
            out[project.name] = summarize(apps.listing(project, per_page=10_000).items)
        except ServiceError:
            return {}, _("App status is not available: the cluster is not reachable.")
    return out, ""
