"""/healthz: which of the portal's dependencies answer, each asked with a short timeout.

The database decides the status code (the portal cannot serve a page without it); salt-api
and the Kubernetes API are reported when they are configured, so a probe or a person sees
which one is down.
"""
from __future__ import annotations

import time

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.adapters import kube as kube_adapter
from portal.extensions import db
from portal.services import kube_access
from portal.services.errors import ServiceError

PROBE_TIMEOUT = (1.0, 2.0)  # connect, read: a probe must answer before its caller gives up


def _timed(name: str, check) -> dict:
    """{"status": "up"|"down", "ms": N}. The reason goes to the log, not into the answer:
    /healthz is public, and the reasons name internal addresses."""
    started = time.monotonic()
    try:
        check()
        result = {"status": "up"}
    except Exception as error:  # any failure of a probe is "down"
        current_app.logger.warning("healthz: %s is down: %s", name,
                                   getattr(error, "message", None) or str(error)[:300])
        result = {"status": "down"}
    result["ms"] = round((time.monotonic() - started) * 1000)
    return result


def _database() -> None:
    try:
        db.session.execute(select(1))
    except SQLAlchemyError as error:
        db.session.rollback()
        raise RuntimeError(f"{type(error).__name__}: {str(error.orig if hasattr(error, 'orig') else error)[:200]}")


def _salt_api() -> None:
    url = current_app.config["SALT_API_URL"]
    try:
        requests.get(url, timeout=PROBE_TIMEOUT)  # any HTTP answer: salt-api is serving
    except requests.RequestException as error:
        raise RuntimeError(f"salt-api at {url} is not reachable ({type(error).__name__})")


def _kubernetes() -> None:
    try:
        kube = kube_access.kube()
        kube.readyz(timeout=PROBE_TIMEOUT)
    except (kube_adapter.KubeError, ServiceError) as error:
        raise RuntimeError(error.message)


def check() -> tuple[dict, int]:
    """The /healthz body and its status: 200 while the database answers, else 503."""
    checks = {"database": _timed("database", _database)}
    if current_app.config.get("SALT_API_URL"):
        checks["salt_api"] = _timed("salt_api", _salt_api)
    # A cluster named by HUMMER_KUBECONFIG, or one the wizard registered (which needs the
    # database to find out).
    kube_configured = bool(current_app.config.get("KUBECONFIG"))
    if not kube_configured and checks["database"]["status"] == "up":
        try:
            kube_configured = kube_access.configured()
        except SQLAlchemyError:
            db.session.rollback()
    if kube_configured:
        checks["kubernetes"] = _timed("kubernetes", _kubernetes)
    database_up = checks["database"]["status"] == "up"
    all_up = all(c["status"] == "up" for c in checks.values())
    status = "ok" if all_up else ("degraded" if database_up else "down")
    return {"status": status, "checks": checks}, 200 if database_up else 503
