"""Cluster bootstrap over Salt: settings, nodes and roles, preflight, and provisioning runs.

A run is an orchestration (orch.cluster, orch.add_node, orch.remove_node) started
through salt-api. A follower thread reads salt-api's event stream and writes every
step's progress into the database (ProvisioningRun, RunStep), so a reload, another
gunicorn worker or a restarted portal shows the same run.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
import uuid

from flask import Flask, current_app
from sqlalchemy import select

from portal import validation
from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import ClusterNode, ClusterSettings, ProvisioningRun, RunStep, utcnow
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound, Unavailable

log = logging.getLogger(__name__)

ROLES = ("master", "node", "registry", "nfs", "monitoring", "portal")
ORCHESTRATIONS = {"plan": "orch.cluster", "apply": "orch.cluster",
                  "add_node": "orch.add_node", "remove_node": "orch.remove_node"}
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
JOB_TAG = re.compile(r"^salt/job/(?P<jid>[^/]+)/(?P<kind>new|prog|ret)(?:/(?P<minion>[^/]+))?")


# Salt ---------------------------------------------------------------------------

def salt() -> salt_adapter.SaltAPI:
    cfg = current_app.config
    if not cfg.get("SALT_API_URL"):
        raise Unavailable("Salt is not configured: set HUMMER_SALT_API_URL, HUMMER_SALT_API_USER "
                          "and HUMMER_SALT_API_PASSWORD to the salt-api of your Salt master.")
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


def _network(field: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as error:
        raise Invalid(field, f"'{value}' is not a network in CIDR notation such as 10.0.1.0/24 ({error}).")


def save_settings(values: dict, by: Actor) -> ClusterSettings:
    require_admin(by.user)
    name = (values.get("name") or "").strip()
    message = validation.dns_label(name, "Cluster name")
    if message:
        raise Invalid("name", message)
    version = (values.get("kubernetes_version") or "").strip()
    if not VERSION.match(version):
        raise Invalid("kubernetes_version", "Give a Kubernetes version such as 1.30.4.")
    pod = _network("pod_cidr", values.get("pod_cidr") or "")
    service = _network("service_cidr", values.get("service_cidr") or "")
    if pod.overlaps(service):
        raise Invalid("service_cidr", f"The service network {service} overlaps the pod network {pod}.")
    port = values.get("registry_port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise Invalid("registry_port", "The registry port must be between 1 and 65535.")
    export = (values.get("nfs_export") or "").strip()
    if not export.startswith("/") or " " in export:
        raise Invalid("nfs_export", "The NFS export must be an absolute path without spaces, such as /hummer.")
    row = settings()
    row.name, row.kubernetes_version = name, version
    row.pod_cidr, row.service_cidr = str(pod), str(service)
    row.registry_port, row.nfs_export = port, export
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


def accept_key(minion_id: str, by: Actor) -> None:
    require_admin(by.user)
    salt_call(salt().accept_key, minion_id, include_rejected=True)
    audit.record(by, "cluster.key_accept", "minion", minion_id)
    db.session.commit()


def reject_key(minion_id: str, by: Actor) -> None:
    require_admin(by.user)
    salt_call(salt().reject_key, minion_id, include_accepted=False)
    audit.record(by, "cluster.key_reject", "minion", minion_id)
    db.session.commit()


def set_roles(minion_id: str, roles: list[str], address: str, by: Actor) -> ClusterNode:
    """Give an accepted minion its roles; no roles takes it out of the cluster's plan."""
    require_admin(by.user)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise Invalid("roles", f"Unknown role(s) {', '.join(unknown)}; choose from {', '.join(ROLES)}.")
    row = db.session.scalar(select(ClusterNode).where(ClusterNode.minion_id == minion_id))
    if row is None:
        row = ClusterNode(minion_id=minion_id)
        db.session.add(row)
    row.roles = ",".join(r for r in ROLES if r in roles)
    if address:
        row.address = address
    audit.record(by, "cluster.roles", "node", minion_id, detail=row.roles or "(none)")
    db.session.commit()
    write_pillar()
    return row


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
    salt_adapter.write_cluster_pillar(path, pillar_data())
    return path


# Preflight ----------------------------------------------------------------------

MIN_MASTER_CPUS, MIN_MASTER_MEM_MB, MIN_DISK_FREE_GB = 2, int(1.7 * 1024), 10
MASTER_PORTS = (6443, 2379, 2380, 10250, 10257, 10259)
NODE_PORTS = (10250,)
SUPPORTED = {"Debian": ("12",), "Ubuntu": ("22.04", "24.04")}


def preflight() -> list[dict]:
    """Check every node through Salt; each row: node, check, ok, detail, fix."""
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
    reach = {}
    if master is not None:
        reach = salt_call(api.local, targets, "network.ping", [master.address or "127.0.0.1"],
                          kwarg={"return_boolean": True, "timeout": 2}, tgt_type="list", timeout=20)
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
                          started_by=by.user.username)
    db.session.add(run)
    audit.record(by, f"cluster.{kind}", "run", run.run_id, detail=target)
    db.session.commit()
    pillar = {"hummer_run_id": run.run_id}
    if target:
        pillar["hummer_node"] = target
    if skip_steps:
        pillar["hummer_skip_steps"] = list(skip_steps)
    pillar.update(current_app.config.get("SALT_RUN_PILLAR") or {})
    follower = Follower(current_app._get_current_object(), run.id, api, pillar)
    follower.start()
    return run


def retry(run: ProvisioningRun, by: Actor) -> ProvisioningRun:
    """Run the same orchestration again from the failed step: steps that succeeded are skipped."""
    if run.status != "failed":
        raise Invalid(None, "Only a failed run can be retried.")
    done = sorted({s.step for s in run.steps if s.status == "succeeded"}
                  - {s.step for s in run.steps if s.status != "succeeded"})
    return start_run(run.kind, by, target=run.target, skip_steps=done)


def progress(run: ProvisioningRun) -> dict:
    """Figures for the progress bar and the per-node table."""
    steps = list(run.steps)
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
            "current": current, "failures": failures}


class Follower(threading.Thread):
    """Starts the orchestration and turns salt-api's events into RunStep rows."""

    def __init__(self, app: Flask, run_pk: int, api: salt_adapter.SaltAPI, pillar: dict):
        super().__init__(name=f"hummer-run-{run_pk}", daemon=True)
        self.app, self.run_pk, self.api, self.pillar = app, run_pk, api, pillar
        self.step_jobs: dict[str, str] = {}  # step jid -> step name

    def run(self) -> None:
        with self.app.app_context():
            try:
                self._follow()
            except Exception as error:  # noqa: BLE001 - a run must never be left "running"
                log.exception("run %s: follower failed", self.run_pk)
                db.session.rollback()
                self._finish(False, f"The portal lost track of the run: {error}")
            finally:
                db.session.remove()

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
            while True:
                try:
                    for event in stream:
                        if self._handle(run, event["tag"], event.get("data") or {}):
                            return
                        if time.monotonic() > deadline:
                            break
                except salt_adapter.SaltUnavailable:
                    pass  # no event for a while, or the stream broke: look the job up
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
                    db.session.add(RunStep(run=run, step=step, minion=m, jid=jid))
            db.session.commit()
            return False
        if jid not in self.step_jobs or not minion:
            return False
        row = self._step_row(run, jid, minion)
        if row is None:
            row = RunStep(run=run, step=self.step_jobs[jid], minion=minion, jid=jid)
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
        for fail in summary["failures"]:
            if not fail["minion"]:
                continue
            exists = db.session.scalar(select(RunStep).where(
                RunStep.run_pk == run.id, RunStep.step == fail["step"], RunStep.minion == fail["minion"]))
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
            register_cluster()
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


def register_cluster() -> None:
    """After a successful apply: record where the registry and the NFS server are."""
    s = settings()
    by_role = {r: next((n for n in nodes() if r in n.role_list), None) for r in ("registry", "nfs")}
    if by_role["registry"] is not None:
        s.registry_address = f"{by_role['registry'].address}:{s.registry_port}"
    if by_role["nfs"] is not None:
        s.nfs_server = f"{by_role['nfs'].address}:{s.nfs_export}"
    s.registered_at = utcnow()
