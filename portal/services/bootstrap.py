"""Cluster bootstrap over Salt: settings, nodes and roles, preflight, and provisioning runs.

A run is an orchestration (orch.cluster, orch.add_node, orch.remove_node) started
through salt-api. A follower thread reads salt-api's event stream and writes every
step's progress into the database (ProvisioningRun, RunStep), so a reload, another
gunicorn worker or a restarted portal shows the same run. The follower keeps the run's
heartbeat; when that goes stale (its process died), the next page that shows the run
follows it again from that page's process (ensure_followed).
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from portal.adapters import kube as kube_adapter
from portal.adapters import pillar_file
from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import AuditEvent, ClusterNode, ClusterSettings, ProvisioningRun, RunStep, utcnow
from portal.services import audit
from portal.services import cluster_checks as checks
from portal.services import cluster as cluster_service
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound, Unavailable

log = logging.getLogger(__name__)

ROLES = ("master", "node", "registry", "nfs", "monitoring", "portal")
ORCHESTRATIONS = {"plan": "orch.cluster", "apply": "orch.cluster",
                  "add_node": "orch.add_node", "remove_node": "orch.remove_node"}
SALT_NOT_CONFIGURED = ("Salt is not configured: set HUMMER_SALT_API_URL, HUMMER_SALT_API_USER "
                       "and HUMMER_SALT_API_PASSWORD to the salt-api of your Salt master (see the "
                       "README's configuration table), then restart the portal.")
JOB_TAG = re.compile(r"^salt/job/(?P<jid>[^/]+)/(?P<kind>new|prog|ret)(?:/(?P<minion>[^/]+))?")


# Salt ---------------------------------------------------------------------------

def salt_configured() -> bool:
    return bool(current_app.config.get("SALT_API_URL"))


def minion_id_checked(value: str, field: str | None = "minion_id") -> str:
    """The minion id, or Invalid when Salt (or the portal's pillar) could not take it."""
    return checks.minion_id(value, field)


def salt() -> salt_adapter.SaltAPI:
    cfg = current_app.config
    if not cfg.get("SALT_API_URL"):
        raise Unavailable(SALT_NOT_CONFIGURED)
    return salt_adapter.SaltAPI(cfg["SALT_API_URL"], cfg["SALT_API_USER"],
                                cfg["SALT_API_PASSWORD"], eauth=cfg["SALT_API_EAUTH"], timeout=120)


def salt_call(func, *args, **kw):
    """Call the Salt adapter; its errors become Unavailable with a message a person can act on."""
    try:
        return func(*args, **kw)
    except salt_adapter.SaltAuthError as error:
        raise Unavailable(f"salt-api refused the portal's credentials: {error}") from error
    except salt_adapter.SaltError as error:
        raise Unavailable(f"Salt did not answer: {error}") from error


# Settings -----------------------------------------------------------------------

def settings() -> ClusterSettings:
    row = db.session.scalar(select(ClusterSettings).limit(1))
    if row is None:
        row = ClusterSettings()
        db.session.add(row)
        db.session.flush()
    return row


def save_settings(values: dict, by: Actor) -> ClusterSettings:
    """Check every field (portal/services/cluster_checks.py) before anything is stored."""
    require_admin(by.user)
    name = checks.name(values.get("name"))
    version = checks.kubernetes_version(values.get("kubernetes_version"))
    pod, service = checks.networks(values.get("pod_cidr"), values.get("service_cidr"))
    port = checks.registry_port(values.get("registry_port"))
    export = checks.nfs_export(values.get("nfs_export"))
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
        raise NotFound(f"No node '{minion_id}' in the cluster.")
    return row


def minions() -> dict:
    """What the Salt master knows: keys by state, and each accepted minion's grains."""
    api = salt()
    keys = salt_call(api.keys)
    grains = {}
    if keys.get("minions"):
        grains = salt_call(api.local, "*", "grains.item",
                           ["os", "osrelease", "num_cpus", "mem_total", "ipv4", "fqdn"], timeout=10)
    return {"accepted": sorted(keys.get("minions", [])), "pending": sorted(keys.get("minions_pre", [])),
            "rejected": sorted(keys.get("minions_rejected", [])),
            "denied": sorted(keys.get("minions_denied", [])), "grains": grains}


def _address(grains: dict) -> str:
    addrs = [a for a in (grains or {}).get("ipv4", []) if a != "127.0.0.1"]
    return addrs[0] if addrs else "127.0.0.1"


def _key_waiting(api: salt_adapter.SaltAPI, minion_id: str, states: tuple[str, ...], doing: str) -> None:
    """Invalid unless the master holds a key of exactly this id in one of `states`."""
    minion_id_checked(minion_id, None)
    keys = salt_call(api.keys) or {}
    if not any(minion_id in (keys.get(state) or []) for state in states):
        where = " or ".join({"minions_pre": "waiting", "minions_rejected": "rejected"}[s] for s in states)
        raise Invalid(None, f"Cannot {doing} {minion_id}: the Salt master has no {where} key of that id "
                            "(reload the page: it may have been accepted, rejected or deleted meanwhile).")


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
        checks.minion_id(minion_id, None)
    unknown = sorted({str(r)[:40] for r in roles} - set(ROLES))
    if unknown:
        raise Invalid("roles", f"Unknown role(s) {', '.join(unknown[:5])}; choose from {', '.join(ROLES)}.")
    if address:
        address = checks.ip_address(address)
    accepted = False
    if roles or row is None or salt_configured():
        api = salt()  # Unavailable (503) when Salt is not configured: nothing is stored
        accepted = minion_id in (salt_call(api.keys) or {}).get("minions", [])
        if not accepted and roles:
            raise Invalid(None, f"The Salt master has not accepted a minion {minion_id}: only accepted minions "
                                "get roles. Accept its key on this page first.")
        if not accepted and row is None:
            raise NotFound(f"No node or accepted minion '{minion_id}'.")
        if roles and not address and (row is None or not row.address):
            grains = salt_call(api.local, minion_id, "grains.item", ["ipv4"], timeout=10)
            address = _address(grains.get(minion_id) if isinstance(grains, dict) else {})
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
        raise Invalid(None, f"The cluster pillar could not take this: {error}") from error


def role_problems(rows: list[ClusterNode] | None = None) -> list[str]:
    """What keeps the roles from making a cluster; empty when they do."""
    rows = nodes() if rows is None else rows
    count = {r: sum(r in n.role_list for n in rows) for r in ROLES}
    problems = []
    if count["master"] != 1:
        problems.append(f"Exactly one node must be the master (now {count['master']}).")
    if count["node"] < 1:
        problems.append("At least one node must have the node role, to run apps.")
    if count["registry"] != 1:
        problems.append(f"Exactly one node must run the registry (now {count['registry']}).")
    if count["nfs"] != 1:
        problems.append(f"Exactly one node must serve NFS (now {count['nfs']}).")
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


# Preflight ----------------------------------------------------------------------

MIN_MASTER_CPUS, MIN_MASTER_MEM_MB, MIN_DISK_FREE_GB = 2, int(1.7 * 1024), 10
MASTER_PORTS = (6443, 2379, 2380, 10250, 10257, 10259)
NODE_PORTS = (10250,)
SUPPORTED = {"Debian": ("12",), "Ubuntu": ("22.04", "24.04")}


def preflight(by: Actor | None = None) -> list[dict]:
    """Check every node through Salt; each row: node, check, ok, detail, fix.

    The outcome is recorded (cluster.preflight): the wizard's step bar reads it."""
    results = _preflight()
    failed = sum(not r["ok"] for r in results)
    audit.record(by, "cluster.preflight", "cluster", settings().name,
                 detail="all passed" if not failed else f"{failed} of {len(results)} failed")
    db.session.commit()
    return results


def _preflight() -> list[dict]:
    rows = [n for n in nodes() if n.role_list]
    if not rows:
        raise Invalid(None, "Give the nodes their roles first.")
    api = salt()
    targets = [n.minion_id for n in rows]
    master = next((n for n in rows if "master" in n.role_list), None)
    grains = salt_call(api.local, targets, "grains.item",
                       ["os", "osrelease", "num_cpus", "mem_total"], tgt_type="list", timeout=15)
    swaps = salt_call(api.local, targets, "cmd.run", ["cat /proc/swaps"], tgt_type="list", timeout=15)
    listening = salt_call(api.local, targets, "cmd.run", ["ss -Hltn"], tgt_type="list", timeout=15)
    disks = salt_call(api.local, targets, "disk.usage", tgt_type="list", timeout=15)
    reach, has_ping = {}, {}
    if master is not None:
        reach = salt_call(api.local, targets, "network.ping", [master.address or "127.0.0.1"],
                          kwarg={"return_boolean": True, "timeout": 2}, tgt_type="list", timeout=20)
        has_ping = salt_call(api.local, targets, "cmd.which", ["ping"], tgt_type="list", timeout=15)
    results = []

    def add(n, check, ok, detail, fix):
        results.append({"node": n.minion_id, "check": check, "ok": bool(ok), "detail": detail,
                        "fix": "" if ok else fix})

    for n in rows:
        g = grains.get(n.minion_id)
        if not isinstance(g, dict):
            add(n, "answers", False, "the minion did not answer",
                f"Start salt-minion on {n.minion_id} and check that its key is accepted.")
            continue
        os_name, release = g.get("os", "?"), str(g.get("osrelease", "?"))
        supported = any(release.startswith(v) for v in SUPPORTED.get(os_name, ()))
        add(n, "os", supported, f"{os_name} {release}",
            "Use Debian 12 or Ubuntu 22.04/24.04 on cluster nodes.")
        if "master" in n.role_list:
            cpus, mem = int(g.get("num_cpus") or 0), int(g.get("mem_total") or 0)
            add(n, "cpus", cpus >= MIN_MASTER_CPUS, f"{cpus} CPUs",
                f"The master needs at least {MIN_MASTER_CPUS} CPUs.")
            add(n, "memory", mem >= MIN_MASTER_MEM_MB, f"{mem} MiB",
                "The master needs at least 1.7 GiB of memory.")
        swap_lines = [l for l in str(swaps.get(n.minion_id, "")).splitlines()[1:] if l.strip()]
        add(n, "swap", not swap_lines, "off" if not swap_lines else f"{len(swap_lines)} swap area(s) on",
            "Turn swap off (swapoff -a) and remove swap lines from /etc/fstab; the common state does it.")
        wanted = MASTER_PORTS if "master" in n.role_list else NODE_PORTS if "node" in n.role_list else ()
        busy_ports = {int(m) for m in re.findall(r":(\d+)\s", str(listening.get(n.minion_id, "")) + " ")}
        busy = sorted(p for p in wanted if p in busy_ports)
        add(n, "ports", not busy, "free: " + ", ".join(map(str, wanted)) if not busy else
            "in use: " + ", ".join(map(str, busy)),
            "Stop what listens on " + ", ".join(map(str, busy)) + " (an old Kubernetes? kubeadm reset).")
        if master is not None and n is not master:
            ok = reach.get(n.minion_id) is True
            if not ok and not has_ping.get(n.minion_id):
                add(n, "master reachable", False, "cannot tell: ping is not installed",
                    f"Install ping on {n.minion_id} (apt-get install iputils-ping), then run the "
                    "preflight again; the common state installs it too.")
            else:
                add(n, "master reachable", ok, f"ping {master.address}: {'ok' if ok else 'no answer'}",
                    f"Open the network path from {n.minion_id} to {master.address} (firewall, routes).")
        root = (disks.get(n.minion_id) or {}).get("/") if isinstance(disks.get(n.minion_id), dict) else None
        free_gb = int(root.get("available", 0)) / 1024 / 1024 if root else 0
        add(n, "disk", free_gb >= MIN_DISK_FREE_GB, f"{free_gb:.1f} GiB free on /",
            f"Free at least {MIN_DISK_FREE_GB} GiB on / for images and etcd.")
    return results


# Runs ---------------------------------------------------------------------------

def runs(limit: int = 20) -> list[ProvisioningRun]:
    return list(db.session.scalars(
        select(ProvisioningRun).order_by(ProvisioningRun.id.desc()).limit(limit)))


def get_run(run_pk: int) -> ProvisioningRun:
    run = db.session.get(ProvisioningRun, run_pk)
    if run is None:
        raise NotFound("No such run.")
    return run


def active_run() -> ProvisioningRun | None:
    return db.session.scalar(select(ProvisioningRun).where(
        ProvisioningRun.status.in_(("starting", "running"))).limit(1))


def start_run(kind: str, by: Actor, target: str = "", skip_steps: list[str] | None = None) -> ProvisioningRun:
    """Start a plan (test=True), apply, add_node or remove_node run; return it at once."""
    require_admin(by.user)
    if kind not in ORCHESTRATIONS:
        raise Invalid("kind", f"Unknown run kind '{kind}'.")
    if kind in ("plan", "apply"):
        problems = role_problems()
        if problems:
            raise Invalid("roles", " ".join(problems))
    if kind in ("add_node", "remove_node"):
        node(target)  # must be a cluster node
    busy = active_run()
    if busy is not None:
        raise Invalid(None, f"Run #{busy.id} ({busy.kind}) is still going; wait for it to finish.")
    api = salt()
    write_pillar()
    test = kind == "plan" or bool(current_app.config.get("SALT_DRY_RUN"))
    run = ProvisioningRun(run_id=f"hummer-{uuid.uuid4().hex[:12]}", kind=kind,
                          orchestration=ORCHESTRATIONS[kind], target=target, test=test,
                          started_by=by.user.username, heartbeat_at=heartbeat_now())
    db.session.add(run)
    audit.record(by, f"cluster.{kind}", "run", run.run_id, detail=target)
    db.session.commit()
    pillar = {"hummer_run_id": run.run_id}
    if target:
        pillar["hummer_node"] = target
    if skip_steps:
        pillar["hummer_skip_steps"] = list(skip_steps)
    pillar.update(current_app.config.get("SALT_RUN_PILLAR") or {})
    follower = Follower(current_app._get_current_object(), run.id, api, pillar, beat_at=run.heartbeat_at)
    follower.start()
    return run


def retry(run: ProvisioningRun, by: Actor) -> ProvisioningRun:
    """Run the same orchestration again from the failed step: steps that succeeded are skipped."""
    if run.status != "failed":
        raise Invalid(None, "Only a failed run can be retried.")
    if run.kind not in ORCHESTRATIONS:
        raise Invalid(None, "A host added over SSH is tried again by adding it again on the Nodes "
                            "page (its key or password is not kept).")
    done = sorted({s.step for s in run.steps if s.status == "succeeded"}
                  - {s.step for s in run.steps if s.status != "succeeded"})
    return start_run(run.kind, by, target=run.target, skip_steps=done)


def progress(run: ProvisioningRun) -> dict:
    """Figures for the progress bar and the per-node table."""
    # In run order: Salt's jids are timestamps, and rows a resumed run filled in at the end
    # belong where their step ran.
    steps = sorted(run.steps, key=lambda s: (s.jid or "~", s.id))
    finished = sum(s.status != "running" for s in steps)
    total = max(run.units_total, len(steps), 1)
    if run.status in ("succeeded", "failed"):
        percent = 100
    else:
        partial = sum(min(s.states_done, 50) / 50 for s in steps if s.status == "running")
        percent = min(99, int(100 * (finished + partial) / total))
    by_node: dict[str, list[RunStep]] = {}
    for s in steps:
        by_node.setdefault(s.minion, []).append(s)
    current = next((s for s in reversed(steps) if s.status == "running"), None)
    failures = [s for s in steps if s.status == "failed"]
    return {"percent": percent, "finished": finished, "total": total, "by_node": by_node,
            "current": current, "failures": failures, "resumed": was_resumed(run)}


# Who follows a run ----------------------------------------------------------------
#
# The process that follows a run writes its heartbeat (ProvisioningRun.heartbeat_at)
# every few seconds. When the heartbeat is older than HUMMER_SALT_RUN_STALE_SECONDS,
# that process is gone (restart, OOM kill, deploy), and the next page that shows the
# run claims it with one atomic UPDATE and follows it again from there.

ACTIVE = ("starting", "running")
RESUMED = "cluster.run_resumed"
LOST_STARTING = "The portal stopped before Salt accepted the run; start it again."
LOST_OTHER = ("The portal stopped during the run, and a run of this kind cannot be followed again "
              "(its salt-ssh ran in the process that stopped): add the host again on the Nodes page.")


def heartbeat_now() -> datetime:
    """Now, to the second: MariaDB's DATETIME keeps no fraction, and a follower compares its own beat."""
    return utcnow().replace(microsecond=0)


def beat_interval(app: Flask) -> float:
    """Seconds between heartbeats: a few per stale period, at most 10 s."""
    return max(0.5, min(10.0, app.config["SALT_RUN_STALE_SECONDS"] / 4))


def was_resumed(run: ProvisioningRun) -> bool:
    return db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.at >= run.started_at, AuditEvent.action == RESUMED,
        AuditEvent.object_type == "run", AuditEvent.object_name == run.run_id).limit(1)) is not None


def _claim(run_pk: int, cutoff: datetime) -> datetime | None:
    """Take a run whose heartbeat is older than cutoff; the new heartbeat if this process got it.

    One UPDATE, outside the caller's transaction: the database evaluates its WHERE on
    the newest row (SQLite under its write lock, InnoDB under the row lock), so when
    several workers or hosts try at once exactly one changes the row.
    """
    now = heartbeat_now()
    table = ProvisioningRun.__table__
    with db.engine.begin() as conn:
        claimed = conn.execute(update(table).where(
            table.c.id == run_pk, table.c.status.in_(ACTIVE),
            or_(table.c.heartbeat_at.is_(None), table.c.heartbeat_at < cutoff),
        ).values(heartbeat_at=now)).rowcount == 1
    return now if claimed else None


def ensure_followed(run: ProvisioningRun | None) -> bool:
    """Follow a going run from this process if no process follows it any more.

    Pages that show a run call this; it costs nothing while the run's heartbeat is
    fresh. True when this process took the run over: a run that never got its jid
    (the portal stopped before salt-api answered), or is no orchestration, is marked
    failed; any other gets a resuming Follower, which never starts the orchestration again.
    """
    if run is None or run.status not in ACTIVE:
        return False
    cfg = current_app.config
    cutoff = heartbeat_now() - timedelta(seconds=cfg["SALT_RUN_STALE_SECONDS"])
    if run.heartbeat_at is not None and run.heartbeat_at >= cutoff:
        return False
    if run.jid and not cfg.get("SALT_API_URL"):
        return False  # this process cannot ask Salt; one that can will take the run
    last_beat = run.heartbeat_at
    beat = _claim(run.id, cutoff)
    if beat is None:
        return False
    db.session.commit()  # end this request's read transaction: read the run as it is now
    if run.status not in ACTIVE:
        return False
    where = f"{socket.gethostname()} pid {os.getpid()}"
    if not run.jid or run.kind not in ORCHESTRATIONS:  # nothing a Follower can pick up
        run.status, run.finished_at = "failed", utcnow()
        run.error = LOST_STARTING if run.kind in ORCHESTRATIONS else LOST_OTHER
        audit.record(None, "cluster.run_lost", "run", run.run_id,
                     detail=f"jid {run.jid or '-'}, last heartbeat {last_beat or 'never'}; "
                            f"marked failed by {where}")
        db.session.commit()
        return True
    api = salt()
    audit.record(None, RESUMED, "run", run.run_id,
                 detail=f"jid {run.jid}, last heartbeat {last_beat or 'never'}; followed again by {where}")
    db.session.commit()
    log.warning("run %s: nobody followed it since %s; following it again", run.id, last_beat)
    Follower(current_app._get_current_object(), run.id, api, resume=True, beat_at=beat).start()
    return True


class Follower(threading.Thread):
    """Turns salt-api's events into RunStep rows, and keeps the run's heartbeat while it does.

    A live follower (start_run) starts the orchestration itself. A resuming one
    (ensure_followed, after the process that followed the run died) never starts it
    again: it rebuilds its step jobs from the RunStep rows, looks the orchestration up
    (finished meanwhile: completes the run from its return), adopts the step jobs that
    are running now, and follows the events from there as the live one does.
    """

    def __init__(self, app: Flask, run_pk: int, api: salt_adapter.SaltAPI, pillar: dict | None = None,
                 *, resume: bool = False, beat_at: datetime | None = None):
        super().__init__(name=f"hummer-run-{run_pk}", daemon=True)
        self.app, self.run_pk, self.api, self.pillar = app, run_pk, api, pillar or {}
        self.resume = resume
        self.step_jobs: dict[str, str] = {}  # step jid -> step name
        self.beat_at = beat_at  # the heartbeat this follower wrote last
        self.done = threading.Event()
        self.superseded = threading.Event()  # another process follows the run now

    def run(self) -> None:
        with self.app.app_context():
            beater = threading.Thread(target=self._beat_loop, args=(db.engine,), daemon=True,
                                      name=f"hummer-run-{self.run_pk}-heartbeat")
            beater.start()
            try:
                if self.resume:
                    self._resume()
                else:
                    self._follow()
            except Exception as error:  # noqa: BLE001 - a run must never be left "running"
                log.exception("run %s: follower failed", self.run_pk)
                db.session.rollback()
                if not self.superseded.is_set():
                    self._finish(False, f"The portal lost track of the run: {error}")
            finally:
                self.done.set()
                beater.join(30)
                db.session.remove()

    # The heartbeat ---------------------------------------------------------------
    # A thread of its own, so that it beats while the follower waits on salt-api
    # (starting the orchestration, a silent event stream, a job lookup).

    def _beat_loop(self, engine) -> None:
        while not self.done.wait(beat_interval(self.app)):
            try:
                if not self._beat(engine):
                    return
            except Exception:  # noqa: BLE001 - the database may be away a moment: beat again later
                log.warning("run %s: heartbeat not written", self.run_pk, exc_info=True)

    def _beat(self, engine) -> bool:
        """Write the heartbeat while the run is going and still this follower's; False when not."""
        table = ProvisioningRun.__table__
        now = heartbeat_now()
        mine = (table.c.heartbeat_at.is_(None) if self.beat_at is None
                else table.c.heartbeat_at == self.beat_at)
        with engine.begin() as conn:
            if conn.execute(update(table).where(table.c.id == self.run_pk, table.c.status.in_(ACTIVE), mine)
                            .values(heartbeat_at=now)).rowcount == 1:
                self.beat_at = now
                return True
            row = conn.execute(select(table.c.status, table.c.heartbeat_at)
                               .where(table.c.id == self.run_pk)).first()
        if row is None or row.status not in ACTIVE:
            return False  # the run is over
        if row.heartbeat_at == self.beat_at:
            return True
        # This process was taken for dead (it did not beat for the stale period) and
        # another one follows the run now: leave it to that one.
        log.warning("run %s: another process follows the run now; this one stops", self.run_pk)
        self.superseded.set()
        return False

    # Following --------------------------------------------------------------------

    def _run(self) -> ProvisioningRun:
        return db.session.get(ProvisioningRun, self.run_pk)

    def _follow(self) -> None:
        run = self._run()
        deadline = time.monotonic() + self.app.config["SALT_RUN_TIMEOUT"]
        stream = self.api.events(read_timeout=30)  # open before starting, so nothing is missed
        try:
            job = self.api.orchestrate_async(run.orchestration, pillar=self.pillar, test=run.test)
            run.jid, run.status = str(job.get("jid", "")), "running"
            run.units_total = self._expected_units(run)
            db.session.commit()
        except BaseException:
            stream.close()
            raise
        self._watch(run, stream, deadline)

    def _resume(self) -> None:
        run = self._run()
        self.step_jobs = {s.jid: s.step for s in run.steps if s.jid}
        elapsed = (utcnow() - run.started_at).total_seconds()
        deadline = time.monotonic() + max(0.0, self.app.config["SALT_RUN_TIMEOUT"] - elapsed)
        stream = self.api.events(read_timeout=30)  # before the lookup: nothing after it is missed
        try:
            if self._finished_meanwhile(run):
                stream.close()
                return
            self._adopt_running_jobs(run)
        except BaseException:
            stream.close()
            raise
        self._watch(run, stream, deadline)

    def _watch(self, run: ProvisioningRun, stream: salt_adapter.EventStream, deadline: float) -> None:
        try:
            while True:
                try:
                    for event in stream:
                        if self.superseded.is_set():
                            return
                        if self._handle(run, event["tag"], event.get("data") or {}):
                            return
                        if time.monotonic() > deadline:
                            break
                except salt_adapter.SaltUnavailable:
                    pass  # no event for a while, or the stream broke: look the job up
                if self.superseded.is_set():
                    return
                if self._finished_meanwhile(run):
                    return
                if time.monotonic() > deadline:
                    self._finish(False, f"No result after {self.app.config['SALT_RUN_TIMEOUT']} s; "
                                        "the run was given up. Check the Salt master's log.")
                    return
                stream.close()
                stream = self.api.events(read_timeout=30)
        finally:
            stream.close()

    def _adopt_running_jobs(self, run: ProvisioningRun) -> None:
        """Step jobs that started while nobody followed the run and still run: follow them too."""
        targets = sorted({s.minion for s in run.steps} | {n.minion_id for n in nodes() if n.role_list})
        if not targets:
            return
        try:
            running = self.api.local(targets, "saltutil.running", tgt_type="list", timeout=15)
        except salt_adapter.SaltError as error:
            log.warning("run %s: cannot list the running jobs: %s", run.id, error)
            return
        for minion, jobs in running.items():
            for job in jobs if isinstance(jobs, list) else []:
                if not isinstance(job, dict) or salt_adapter.run_id_of(job) != run.run_id:
                    continue
                jid = str(job.get("jid", ""))
                step = self.step_jobs.setdefault(jid, self._step_name(job))
                if self._step_row(run, jid, minion) is None:
                    db.session.add(RunStep(run=run, step=step, minion=minion, jid=jid, states_done=0))
        db.session.commit()

    def _expected_units(self, run: ProvisioningRun) -> int:
        """(step, node) pairs the orchestration will run, from its rendered high data."""
        try:
            shown = self.api.runner("state.orchestrate_show_sls", mods=run.orchestration,
                                    pillar=self.pillar)
        except salt_adapter.SaltError:
            return 0
        units = 0
        for chunks in (shown.values() if isinstance(shown, dict) else []):
            data = next(iter(chunks.values()), {}) if isinstance(chunks, dict) else {}
            if isinstance(data, dict) and data.get("fun") in ("state", "function") and data.get("tgt"):
                tgt = data["tgt"]
                units += len(tgt) if isinstance(tgt, list) else 1
        return units

    def _step_row(self, run, jid, minion) -> RunStep | None:
        return db.session.scalar(select(RunStep).where(
            RunStep.run_pk == run.id, RunStep.jid == jid, RunStep.minion == minion))

    def _handle(self, run: ProvisioningRun, tag: str, data: dict) -> bool:
        """Record one event; True when the run is over."""
        if tag == f"salt/run/{run.jid}/ret":
            self._complete(run, data)
            return True
        match = JOB_TAG.match(tag)
        if not match:
            return False
        jid, kind, minion = match["jid"], match["kind"], match["minion"]
        if kind == "new":
            if salt_adapter.run_id_of(data) != run.run_id:
                return False
            step = self._step_name(data)
            self.step_jobs[jid] = step
            for m in data.get("minions") or []:
                if self._step_row(run, jid, m) is None:
                    db.session.add(RunStep(run=run, step=step, minion=m, jid=jid, states_done=0))
            db.session.commit()
            return False
        if jid not in self.step_jobs and kind == "ret" and minion:
            # A step whose start nobody saw (a resumed run): its return names the run too.
            job = {"arg": data.get("fun_args"), "fun": data.get("fun")}
            if salt_adapter.run_id_of(job) == run.run_id:
                self.step_jobs[jid] = self._step_name(job)
        if jid not in self.step_jobs or not minion:
            return False
        row = self._step_row(run, jid, minion)
        if row is None:
            row = RunStep(run=run, step=self.step_jobs[jid], minion=minion, jid=jid, states_done=0)
            db.session.add(row)
        if kind == "prog":
            payload = data.get("data", data)
            chunk = payload.get("ret") or {}
            row.states_done = max(row.states_done, int(chunk.get("__run_num__", 0)) + 1)
            row.current_state = str(chunk.get("__id__") or chunk.get("name") or "")[:255]
        else:
            self._record_result(row, data)
        db.session.commit()
        return False

    @staticmethod
    def _step_name(data: dict) -> str:
        for arg in data.get("arg") or []:
            if isinstance(arg, dict) and isinstance(arg.get("pillar"), dict):
                return str(arg["pillar"].get("hummer_step") or data.get("fun", "step"))
        return str(data.get("fun", "step"))

    @staticmethod
    def _record_result(row: RunStep, data: dict) -> None:
        ret = data.get("return")
        if isinstance(ret, dict):
            results = sorted(ret.items(), key=lambda kv: (kv[1] or {}).get("__run_num__", 0)
                             if isinstance(kv[1], dict) else 0)
            row.states_done = len(results)
            failed = [(k, v) for k, v in results if isinstance(v, dict) and v.get("result") is False]
            changing = [salt_adapter.parse_state_key(k)["id"] for k, v in results
                        if isinstance(v, dict) and (v.get("changes") or v.get("result") is None)]
            row.states_changed = len(changing)
            row.changes = "\n".join(changing)[:60000]
            row.current_state = ""
            if failed:
                key, res = failed[0]
                row.status = "failed"
                row.failed_state = salt_adapter.parse_state_key(key)["id"][:255]
                row.comment = str(res.get("comment", ""))[:60000]
                row.output = json.dumps(res, indent=2, default=str)[:60000]
            else:
                row.status = "succeeded" if data.get("success", True) is not False else "failed"
        else:
            # Render errors come back as a list of strings.
            row.status = "failed"
            row.comment = "\n".join(map(str, ret)) if isinstance(ret, list) else str(ret)
            row.output = row.comment

    def _complete(self, run: ProvisioningRun, data: dict) -> None:
        summary = salt_adapter.summarize_orchestration(data)
        # Every (step, node) of the return gets its row with its final result, also the
        # ones whose events nobody recorded (the run was resumed, or an event was lost).
        rows = {(s.step, s.minion): s for s in run.steps}
        for step in summary["steps"]:
            if step["kind"] != "state":
                continue
            for minion, entry in step["minions"].items():
                row = rows.get((step["step"], minion))
                if row is None:
                    row = rows[(step["step"], minion)] = RunStep(
                        run=run, step=step["step"], minion=minion, jid=str(step["jid"] or ""),
                        status="running", states_done=0)
                    db.session.add(row)
                if row.status == "running":
                    self._record_result(row, {"return": entry["return"]})
        for fail in summary["failures"]:
            if not fail["minion"]:
                continue
            exists = rows.get((fail["step"], fail["minion"]))
            if exists is None:
                db.session.add(RunStep(run=run, step=fail["step"], minion=fail["minion"], status="failed",
                                       failed_state=fail["state"][:255], comment=fail["comment"][:60000]))
            elif exists.status != "failed":
                exists.status, exists.comment = "failed", fail["comment"][:60000]
        for row in run.steps:
            if row.status == "running":  # no ret event arrived for it
                row.status = "failed" if not summary["success"] else "succeeded"
        error = ""
        if not summary["success"]:
            first = summary["failures"][0] if summary["failures"] else None
            error = (f"Step {first['step']} failed on {first['minion'] or 'the master'}"
                     f"{' in state ' + first['state'] if first['state'] else ''}: {first['comment']}"
                     if first else "The orchestration failed.")
        self._finish(summary["success"], error, run)

    def _finished_meanwhile(self, run: ProvisioningRun) -> bool:
        try:
            data = self.api.runner("jobs.lookup_jid", jid=run.jid)
        except salt_adapter.SaltError:
            return False
        if data:
            self._complete(run, {"return": data} if "return" not in data else data)
            return True
        return False

    def _finish(self, ok: bool, error: str, run: ProvisioningRun | None = None) -> None:
        run = run or self._run()
        run.status = "succeeded" if ok else "failed"
        run.error = error[:60000]
        run.finished_at = utcnow()
        if ok and run.kind == "apply" and not run.test:
            try:
                run.error = "Registered for app management: " + register_cluster(self.api)
            except (Invalid, Unavailable) as problem:
                run.error = ("Applied, but the cluster is not registered for app management yet: "
                             f"{problem.message}")
        if ok and run.kind == "remove_node" and not run.test:
            forget_node(run.target, self.api)
        db.session.commit()


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


MINE_KUBECONFIG = "hummer_portal_kubeconfig"  # salt_states/kubernetes parameters: mine:kubeconfig


def register_cluster(api: salt_adapter.SaltAPI | None = None) -> str:
    """Register the applied cluster for app management; returns what was recorded.

    Records where the registry and the NFS server are, and fetches the portal's
    kubeconfig that kubernetes.master.portal_access published through the Salt mine.
    The mine entry is readable only from the portal host (or the master when no
    node has the portal role), so that minion is asked for it. The kubeconfig is
    stored encrypted (portal/crypto.py) and app management uses it from then on,
    unless HUMMER_KUBECONFIG names another one. Raises Invalid or Unavailable
    saying what is missing; nothing is recorded then.
    """
    rows = nodes()
    by_role = {r: next((n for n in rows if r in n.role_list), None)
               for r in ("master", "registry", "nfs", "portal")}
    master = by_role["master"]
    if master is None:
        raise Invalid(None, "No node has the master role, so there is no cluster to register.")
    reader = by_role["portal"] or master
    api = api or salt()
    answer = salt_call(api.local, reader.minion_id, "mine.get", [master.minion_id, MINE_KUBECONFIG],
                       timeout=30)
    published = answer.get(reader.minion_id) if isinstance(answer, dict) else None
    content = published.get(master.minion_id) if isinstance(published, dict) else None
    if published is None or published is False:
        raise Unavailable(f"{reader.minion_id} did not answer when asked for the kubeconfig in the "
                          "Salt mine; check that its salt-minion runs.")
    if not isinstance(content, str) or not content.strip():
        raise Unavailable(
            f"{master.minion_id} has not published the portal's kubeconfig in the Salt mine yet "
            f"({MINE_KUBECONFIG}). Apply the cluster, or run `salt {master.minion_id} state.apply "
            "kubernetes.master.portal_access`, then fetch it again.")
    try:
        server = kube_adapter.server_of(content)
    except kube_adapter.KubeError as error:
        raise Unavailable(f"The kubeconfig {master.minion_id} published is not usable: "
                          f"{error.message}") from error
    s = settings()
    if by_role["registry"] is not None:
        s.registry_address = f"{by_role['registry'].address}:{s.registry_port}"
    if by_role["nfs"] is not None:
        s.nfs_server = f"{by_role['nfs'].address}:{s.nfs_export}"
    s.kubeconfig_encrypted = cluster_service.encrypt_kubeconfig(content)
    s.kube_server = server[:255]
    s.registered_at = utcnow()
    cluster_service.forget_cached_kubeconfig()
    return (f"API server {server} (kubeconfig from {master.minion_id}, stored encrypted), "
            f"registry {s.registry_address or '-'}, NFS {s.nfs_server or '-'}")


def register(by: Actor) -> str:
    """The Cluster page's "Fetch the kubeconfig again": register_cluster, audited."""
    require_admin(by.user)
    summary = register_cluster()
    audit.record(by, "cluster.register", "cluster", settings().name, detail=summary)
    db.session.commit()
    return summary
