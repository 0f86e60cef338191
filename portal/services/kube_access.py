"""The portal's way to the Kubernetes adapter: the cluster's client, its state for the
banners the pages show, and filling its caches when a worker starts.

One source of truth for the kubeconfig: the one the cluster wizard registered. The
master publishes it through the Salt mine, the portal fetches it and keeps it
encrypted in the database (ClusterSettings.kubeconfig_encrypted), so every portal
process and host uses the same one and a re-registration reaches them all.
HUMMER_KUBECONFIG is only an operator's explicit override (a development cluster,
the tests): when it is set it wins, and the Cluster page says so. The Salt `portal`
formula does not set it.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import crypto
from portal.adapters import kube as kube_adapter
from portal.extensions import db
from portal.models import ClusterSettings
from portal.services.errors import Unavailable

KUBECONFIG_PURPOSE = "kubeconfig"
NOT_CONFIGURED = _l("No Kubernetes cluster is configured: finish the cluster wizard (Cluster, then "
                    "Apply) or set HUMMER_KUBECONFIG.")
# For people who cannot open the wizard: what is missing, and who can fix it.
NOT_CONFIGURED_ASK = _l("No Kubernetes cluster is configured yet: an administrator sets it up. Until then "
                        "apps cannot run; everything else works.")


def encrypt_kubeconfig(content: str) -> str:
    return crypto.encrypt(current_app.config["SECRET_KEY"], KUBECONFIG_PURPOSE, content)


def stored_kubeconfig() -> str | None:
    """The registered cluster's kubeconfig, decrypted; None when none is stored.

    Unavailable when it cannot be decrypted (HUMMER_SECRET_KEY changed since)."""
    cache = g if has_app_context() else None
    if cache is not None and "hummer_kubeconfig" in cache:
        return cache.hummer_kubeconfig
    token = db.session.scalar(select(ClusterSettings.kubeconfig_encrypted).where(
        ClusterSettings.kubeconfig_encrypted.is_not(None)).limit(1))
    content = None
    if token:
        try:
            content = crypto.decrypt(current_app.config["SECRET_KEY"], KUBECONFIG_PURPOSE, token)
        except crypto.Undecryptable as error:
            raise Unavailable(_("The stored kubeconfig cannot be decrypted (was HUMMER_SECRET_KEY "
                                "changed?). Fetch it again on the Cluster page.")) from error
    if cache is not None:
        cache.hummer_kubeconfig = content
    return content


def forget_cached_kubeconfig() -> None:
    g.pop("hummer_kubeconfig", None)


def kube() -> kube_adapter.Kube:
    """The cluster client; Unavailable (503) when none is configured."""
    path = current_app.config.get("KUBECONFIG", "")
    try:
        if path:
            return kube_adapter.connect(path)
        content = stored_kubeconfig()
        if not content:
            raise Unavailable(NOT_CONFIGURED)
        return kube_adapter.connect_content(content)
    except kube_adapter.KubeError as error:
        raise Unavailable(error.message) from error


def configured() -> bool:
    if current_app.config.get("KUBECONFIG"):
        return True
    try:
        return stored_kubeconfig() is not None
    except Unavailable:
        return True  # stored but unreadable: kube() says why, the banner shows it


@dataclass(frozen=True)
class State:
    ok: bool
    message: str = ""


def state(may_set_up: bool = False) -> State:
    """For banners: is the cluster configured and reachable (as far as the cache knows)?

    may_set_up: the reader may open the cluster wizard (the route knows); only then
    does the banner point to it."""
    if not configured():
        if not may_set_up:
            return State(False, str(NOT_CONFIGURED_ASK))
        return State(False, _("No Kubernetes cluster is configured: finish the cluster wizard (Cluster, then "
                              "Apply) or set HUMMER_KUBECONFIG. Until then apps cannot run; everything else "
                              "works."))
    try:
        k = kube()
        k.cache("deployments", timeout=10)
    except (Unavailable, kube_adapter.KubeError) as error:
        return State(False, _("The Kubernetes cluster is not reachable: %(reason)s",
                              reason=getattr(error, "message", error)))
    lost = k.watch_error("deployments")
    if lost:
        return State(False, _("The connection to the Kubernetes cluster was lost; app data may be "
                              "out of date (%(reason)s).", reason=lost))
    return State(True)


def start_caches(app) -> bool:
    """Start filling this process's watch caches now, so that a worker's first app page
    does not wait for them (gunicorn.conf.py calls this when a worker starts). Returns
    at once; False (and a log line) when no cluster is configured or it cannot be read.
    Under TESTING only when KUBE_START_CACHES says so."""
    if app.testing and not app.config.get("KUBE_START_CACHES"):
        return False
    with app.app_context():
        try:
            if not configured():
                return False
            kube().start_caches()
        except (Unavailable, kube_adapter.KubeError) as error:
            app.logger.warning("Kubernetes caches not started: %s", getattr(error, "message", error))
            return False
        except Exception as error:  # a worker must start even if its database is down
            app.logger.warning("Kubernetes caches not started: %s", error)
            return False
        finally:
            db.session.remove()
    return True


def unavailable(error: kube_adapter.KubeError) -> Unavailable:
    return Unavailable(_("The Kubernetes cluster did not answer: %(reason)s", reason=error.message))
