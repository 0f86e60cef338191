"""The cluster's settings, its nodes and their roles, the generated pillar, and the minions'
keys (accept, reject, and delete once a node is removed)."""
from __future__ import annotations

import logging

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.adapters import pillar_file
from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import ClusterNode, ClusterSettings
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound
from portal.services.provisioning import inputs
from portal.services.provisioning.access import minion_id_checked, salt, salt_call, salt_configured

log = logging.getLogger(__name__)

ROLES = ("master", "node", "registry", "nfs", "monitoring", "portal")


# Settings -----------------------------------------------------------------------

def settings() -> ClusterSettings:
    row = db.session.scalar(select(ClusterSettings).limit(1))
    if row is None:
        row = ClusterSettings()
        db.session.add(row)
        db.session.flush()
    return row


def save_settings(values: dict, by: Actor) -> ClusterSettings:
    """Check every field (portal/services/cluster_inputs.py) before anything is stored."""
    require_admin(by.user)
    name = inputs.name(values.get("name"))
    version = inputs.kubernetes_version(values.get("kubernetes_version"))
    pod, service = inputs.networks(values.get("pod_cidr"), values.get("service_cidr"))
    port = inputs.registry_port(values.get("registry_port"))
    export = inputs.nfs_export(values.get("nfs_export"))
    row = settings()
    row.name, row.kubernetes_version = name, version
    row.pod_cidr, row.service_cidr = pod, service
    row.registry_port, row.nfs_export = port, export
    _check_pillar()
    audit.record(by, "cluster.settings", "cluster", name,
                 detail=f"k8s {version} pods {pod} services {service} registry :{port} nfs {export}")
    db.session.commit()
    write_pillar()
    return row


# Nodes and roles ----------------------------------------------------------------

def nodes() -> list[ClusterNode]:
    return list(db.session.scalars(select(ClusterNode).order_by(ClusterNode.minion_id)))


def node(minion_id: str) -> ClusterNode:
    row = db.session.scalar(select(ClusterNode).where(ClusterNode.minion_id == minion_id))
    if row is None:
        raise NotFound(_("No node '%(minion)s' in the cluster.", minion=minion_id))
    return row


def minions() -> dict:
    """What the Salt master knows: keys by state, and each accepted minion's grains as the
    master last cached them (`cache.grains`: no minion is asked, so one that is down cannot
    hold the page for Salt's timeout, 20 s; `answering()` asks them, for a second request)."""
    api = salt()
    keys = salt_call(api.keys)
    accepted = sorted(keys.get("minions", []))
    grains = {}
    if accepted:
        cached = salt_call(api.runner, "cache.grains", tgt="*")
        cached = cached if isinstance(cached, dict) else {}
        grains = {m: cached[m] for m in accepted if isinstance(cached.get(m), dict) and cached[m]}
    return {"accepted": accepted, "pending": sorted(keys.get("minions_pre", [])),
            "rejected": sorted(keys.get("minions_rejected", [])),
            "denied": sorted(keys.get("minions_denied", [])), "grains": grains}


def answering() -> dict[str, bool]:
    """Whether each accepted minion answers a ping now (one that does not costs Salt's
    timeout, which is why the nodes page asks in a request of its own)."""
    api = salt()
    accepted = salt_call(api.keys).get("minions", [])
    if not accepted:
        return {}
    pings = salt_call(api.local, "*", "test.ping", timeout=5, gather_job_timeout=2)  # at most ~7 s
    return {m: pings.get(m) is True for m in sorted(accepted)}


def _key_waiting(api: salt_adapter.SaltAPI, minion_id: str, states: tuple[str, ...], doing: str) -> None:
    """Invalid unless the master holds a key of exactly this id in one of `states`."""
    minion_id_checked(minion_id, None)
    keys = salt_call(api.keys) or {}
    if not any(minion_id in (keys.get(state) or []) for state in states):
        if doing == "accept":
            message = _("Cannot accept %(minion)s: the Salt master has no waiting or rejected key of that id "
                        "(reload the page: it may have been accepted, rejected or deleted meanwhile).",
                        minion=minion_id)
        else:
            message = _("Cannot reject %(minion)s: the Salt master has no waiting key of that id "
                        "(reload the page: it may have been accepted, rejected or deleted meanwhile).",
                        minion=minion_id)
        raise Invalid(None, message)


def accept_key(minion_id: str, by: Actor) -> None:
    """Accept exactly one waiting (or rejected) key; never a pattern."""
    require_admin(by.user)
    api = salt()
    _key_waiting(api, minion_id, ("minions_pre", "minions_rejected"), "accept")
    salt_call(api.accept_key, minion_id, include_rejected=True)
    audit.record(by, "cluster.key_accept", "minion", minion_id)
    db.session.commit()


def reject_key(minion_id: str, by: Actor) -> None:
    """Reject exactly one waiting key; never a pattern, never an accepted key."""
    require_admin(by.user)
    api = salt()
    _key_waiting(api, minion_id, ("minions_pre",), "reject")
    salt_call(api.reject_key, minion_id, include_accepted=False)
    audit.record(by, "cluster.key_reject", "minion", minion_id)
    db.session.commit()


def set_roles(minion_id: str, roles: list[str], address: str, by: Actor) -> ClusterNode | None:
    """Give a minion the master has accepted its roles; no roles takes it out of the cluster's plan.

    Only minions Salt reports as accepted get roles (Salt must be configured); the
    address is the one given (an IP address) or else the minion's own, from its grains.
    A row Salt does not know (any more) can only lose its roles: it is deleted."""
    require_admin(by.user)
    row = db.session.scalar(select(ClusterNode).where(ClusterNode.minion_id == minion_id))
    if roles or row is None:  # a stored row, whatever its id, can always be taken out
        inputs.minion_id(minion_id, None)
    unknown = sorted({str(r)[:40] for r in roles} - set(ROLES))
    if unknown:
        raise Invalid("roles", _("Unknown role(s) %(unknown)s; choose from %(roles)s.",
                                 unknown=", ".join(unknown[:5]), roles=", ".join(ROLES)))
    if address:
        address = inputs.ip_address(address)
    accepted = False
    if roles or row is None or salt_configured():
        api = salt()  # Unavailable (503) when Salt is not configured: nothing is stored
        accepted = minion_id in (salt_call(api.keys) or {}).get("minions", [])
        if not accepted and roles:
            raise Invalid(None, _("The Salt master has not accepted a minion %(minion)s: only accepted minions "
                                  "get roles. Accept its key on this page first.", minion=minion_id))
        if not accepted and row is None:
            raise NotFound(_("No node or accepted minion '%(minion)s'.", minion=minion_id))
        if roles and not address and (row is None or not row.address):
            grains = salt_call(api.local, minion_id, "grains.item", ["ipv4"], timeout=10)
            address = salt_adapter.minion_address(grains.get(minion_id) if isinstance(grains, dict) else {})
    if row is not None and not roles and not accepted:
        db.session.delete(row)  # a node Salt does not know: out of the plan and the table
        result = None
    else:
        if row is None:
            row = ClusterNode(minion_id=minion_id)
            db.session.add(row)
        row.roles = ",".join(r for r in ROLES if r in roles)
        if address:
            row.address = address
        result = row
    db.session.flush()
    _check_pillar()
    audit.record(by, "cluster.roles", "node", minion_id,
                 detail=(result.roles or "(none)") if result is not None else "(removed: unknown to Salt)")
    db.session.commit()
    write_pillar()
    return result


def _check_pillar() -> None:
    """Render the pillar from what is about to be committed; Invalid (nothing stored) if it cannot be."""
    try:
        pillar_file.render_cluster_pillar(pillar_data())
    except ValueError as error:
        db.session.rollback()
        raise Invalid(None, _("The cluster pillar could not take this: %(reason)s", reason=error)) from error


def role_problems(rows: list[ClusterNode] | None = None) -> list[str]:
    """What keeps the roles from making a cluster; empty when they do."""
    rows = nodes() if rows is None else rows
    count = {r: sum(r in n.role_list for n in rows) for r in ROLES}
    problems = []
    if count["master"] != 1:
        problems.append(_("Exactly one node must be the master (now %(num)d).", num=count["master"]))
    if count["node"] < 1:
        problems.append(_("At least one node must have the node role, to run apps."))
    if count["registry"] != 1:
        problems.append(_("Exactly one node must run the registry (now %(num)d).", num=count["registry"]))
    if count["nfs"] != 1:
        problems.append(_("Exactly one node must serve NFS (now %(num)d).", num=count["nfs"]))
    return problems


def pillar_data() -> dict:
    s = settings()
    return {"hummer": {
        "cluster": {"name": s.name, "kubernetes_version": s.kubernetes_version,
                    "pod_cidr": s.pod_cidr, "service_cidr": s.service_cidr,
                    "registry_port": s.registry_port, "nfs_export": s.nfs_export,
                    "nfs_mount": s.nfs_export},
        "nodes": {n.minion_id: {"address": n.address or "127.0.0.1", "roles": n.role_list}
                  for n in nodes() if n.role_list},
    }}


def write_pillar() -> str:
    """Write the generated cluster pillar the Salt tree reads (pillar/generated/cluster.yaml)."""
    path = current_app.config["SALT_PILLAR_FILE"]
    pillar_file.write_cluster_pillar(path, pillar_data())
    return path


def forget_node(minion_id: str, api: salt_adapter.SaltAPI) -> None:
    """After a node was drained, deleted and reset: drop it from the pillar and delete its key."""
    row = db.session.scalar(select(ClusterNode).where(ClusterNode.minion_id == minion_id))
    if row is not None:
        db.session.delete(row)
        db.session.flush()
        write_pillar()
    try:
        api.delete_key(minion_id)
    except salt_adapter.SaltError as error:
        log.warning("could not delete the key of %s: %s", minion_id, error)
