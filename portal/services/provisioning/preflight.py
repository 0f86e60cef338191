"""Preflight: is every node of the plan fit to become part of the cluster?

preflight() asks Salt once per kind of fact (grains, /proc/swaps, listening ports, disk
usage, a ping to the master) and judges each node with the pure checks below, which
know nothing of Salt or Flask: each takes what a minion returned and gives a Check.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

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
    return Check("os", supported, f"{os_name} {release}", _("Use Debian 12 or Ubuntu 22.04/24.04 on cluster nodes."))


def check_master_size(grains: dict) -> list[Check]:
    cpus, mem = int(grains.get("num_cpus") or 0), int(grains.get("mem_total") or 0)
    return [Check("cpus", cpus >= MIN_MASTER_CPUS, _("%(num)d CPUs", num=cpus),
                  _("The master needs at least %(num)d CPUs.", num=MIN_MASTER_CPUS)),
            Check("memory", mem >= MIN_MASTER_MEM_MB, f"{mem} MiB",
                  _("The master needs at least 1.7 GiB of memory."))]


def check_swap(proc_swaps: str) -> Check:
    """proc_swaps: the text of /proc/swaps (a header line, then one line per swap area)."""
    areas = [line for line in str(proc_swaps or "").splitlines()[1:] if line.strip()]
    return Check("swap", not areas, _("off") if not areas else _("%(num)d swap area(s) on", num=len(areas)),
                 _("Turn swap off (swapoff -a) and remove swap lines from /etc/fstab; the common state does it."))


def wanted_ports(roles: list[str]) -> tuple[int, ...]:
    return MASTER_PORTS if "master" in roles else NODE_PORTS if "node" in roles else ()


def check_ports(listening: str, wanted: tuple[int, ...]) -> Check:
    """listening: `ss -Hltn`'s output; wanted: the ports Kubernetes will need there."""
    busy_ports = {int(m) for m in re.findall(r":(\d+)\s", str(listening or "") + " ")}
    busy = sorted(p for p in wanted if p in busy_ports)
    return Check("ports", not busy,
                 _("free: %(ports)s", ports=", ".join(map(str, wanted))) if not busy
                 else _("in use: %(ports)s", ports=", ".join(map(str, busy))),
                 _("Stop what listens on %(ports)s (an old Kubernetes? kubeadm reset).",
                   ports=", ".join(map(str, busy))))


def check_master_reachable(minion: str, master_address: str, reached, has_ping) -> Check:
    """reached: network.ping's boolean answer; has_ping: cmd.which ping's (a path, or empty)."""
    ok = reached is True
    if not ok and not has_ping:
        return Check("master reachable", False, _("cannot tell: ping is not installed"),
                     _("Install ping on %(minion)s (apt-get install iputils-ping), then run the "
                       "preflight again; the common state installs it too.", minion=minion))
    return Check("master reachable", ok,
                 _("ping %(address)s: ok", address=master_address) if ok
                 else _("ping %(address)s: no answer", address=master_address),
                 _("Open the network path from %(minion)s to %(address)s (firewall, routes).", minion=minion,
                   address=master_address))


def check_disk(usage) -> Check:
    """usage: disk.usage's answer ({mount point: {"available": KiB, ...}})."""
    root = usage.get("/") if isinstance(usage, dict) else None
    free_gb = int(root.get("available", 0)) / 1024 / 1024 if isinstance(root, dict) else 0
    return Check("disk", free_gb >= MIN_DISK_FREE_GB, _("%(size)s GiB free on /", size=format(free_gb, ".1f")),
                 _("Free at least %(num)d GiB on / for images and etcd.", num=MIN_DISK_FREE_GB))


def not_answering(minion: str) -> Check:
    return Check("answers", False, _("the minion did not answer"),
                 _("Start salt-minion on %(minion)s and check that its key is accepted.", minion=minion))


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
        raise Invalid(None, _("Give the nodes their roles first."))
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
