"""Preflight: is every node of the plan fit to become part of the cluster?

preflight() asks Salt once per kind of fact (grains, /proc/swaps, listening ports, disk
usage, a ping to the master) and judges each node with the pure checks below, which
know nothing of Salt or Flask: each takes what a minion returned and gives a Check.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from portal.extensions import db
from portal.services import audit
from portal.services.context import Actor
from portal.services.errors import Invalid
from portal.services.provisioning.access import salt, salt_call
from portal.services.provisioning.settings import nodes, settings

MIN_MASTER_CPUS, MIN_MASTER_MEM_MB, MIN_DISK_FREE_GB = 2, int(1.7 * 1024), 10
MASTER_PORTS = (6443, 2379, 2380, 10250, 10257, 10259)
NODE_PORTS = (10250,)
SUPPORTED = {"Debian": ("12",), "Ubuntu": ("22.04", "24.04")}


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    detail: str
    fix: str

    def row(self, node: str) -> dict:
        return {"node": node, "check": self.check, "ok": bool(self.ok), "detail": self.detail,
                "fix": "" if self.ok else self.fix}


# The checks ---------------------------------------------------------------------

def check_os(grains: dict) -> Check:
    os_name, release = grains.get("os", "?"), str(grains.get("osrelease", "?"))
    supported = any(release.startswith(v) for v in SUPPORTED.get(os_name, ()))
    return Check("os", supported, f"{os_name} {release}", "Use Debian 12 or Ubuntu 22.04/24.04 on cluster nodes.")


def check_master_size(grains: dict) -> list[Check]:
    cpus, mem = int(grains.get("num_cpus") or 0), int(grains.get("mem_total") or 0)
    return [Check("cpus", cpus >= MIN_MASTER_CPUS, f"{cpus} CPUs",
                  f"The master needs at least {MIN_MASTER_CPUS} CPUs."),
            Check("memory", mem >= MIN_MASTER_MEM_MB, f"{mem} MiB", "The master needs at least 1.7 GiB of memory.")]


def check_swap(proc_swaps: str) -> Check:
    """proc_swaps: the text of /proc/swaps (a header line, then one line per swap area)."""
    areas = [line for line in str(proc_swaps or "").splitlines()[1:] if line.strip()]
    return Check("swap", not areas, "off" if not areas else f"{len(areas)} swap area(s) on",
                 "Turn swap off (swapoff -a) and remove swap lines from /etc/fstab; the common state does it.")


def wanted_ports(roles: list[str]) -> tuple[int, ...]:
    return MASTER_PORTS if "master" in roles else NODE_PORTS if "node" in roles else ()


def check_ports(listening: str, wanted: tuple[int, ...]) -> Check:
    """listening: `ss -Hltn`'s output; wanted: the ports Kubernetes will need there."""
    busy_ports = {int(m) for m in re.findall(r":(\d+)\s", str(listening or "") + " ")}
    busy = sorted(p for p in wanted if p in busy_ports)
    return Check("ports", not busy,
                 "free: " + ", ".join(map(str, wanted)) if not busy else "in use: " + ", ".join(map(str, busy)),
                 "Stop what listens on " + ", ".join(map(str, busy)) + " (an old Kubernetes? kubeadm reset).")


def check_master_reachable(minion: str, master_address: str, reached, has_ping) -> Check:
    """reached: network.ping's boolean answer; has_ping: cmd.which ping's (a path, or empty)."""
    ok = reached is True
    if not ok and not has_ping:
        return Check("master reachable", False, "cannot tell: ping is not installed",
                     f"Install ping on {minion} (apt-get install iputils-ping), then run the "
                     "preflight again; the common state installs it too.")
    return Check("master reachable", ok, f"ping {master_address}: {'ok' if ok else 'no answer'}",
                 f"Open the network path from {minion} to {master_address} (firewall, routes).")


def check_disk(usage) -> Check:
    """usage: disk.usage's answer ({mount point: {"available": KiB, ...}})."""
    root = usage.get("/") if isinstance(usage, dict) else None
    free_gb = int(root.get("available", 0)) / 1024 / 1024 if isinstance(root, dict) else 0
    return Check("disk", free_gb >= MIN_DISK_FREE_GB, f"{free_gb:.1f} GiB free on /",
                 f"Free at least {MIN_DISK_FREE_GB} GiB on / for images and etcd.")


def not_answering(minion: str) -> Check:
    return Check("answers", False, "the minion did not answer",
                 f"Start salt-minion on {minion} and check that its key is accepted.")


# Through Salt -------------------------------------------------------------------

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
    for n in rows:
        g = grains.get(n.minion_id)
        if not isinstance(g, dict):
            results.append(not_answering(n.minion_id).row(n.minion_id))
            continue
        checks = [check_os(g)]
        if "master" in n.role_list:
            checks += check_master_size(g)
        checks.append(check_swap(swaps.get(n.minion_id, "")))
        checks.append(check_ports(listening.get(n.minion_id, ""), wanted_ports(n.role_list)))
        if master is not None and n is not master:
            checks.append(check_master_reachable(n.minion_id, master.address, reach.get(n.minion_id),
                                                 has_ping.get(n.minion_id)))
        checks.append(check_disk(disks.get(n.minion_id)))
        results += [c.row(n.minion_id) for c in checks]
    return results
