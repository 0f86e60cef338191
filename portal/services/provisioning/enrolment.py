"""Add a host to the cluster by address: salt-ssh installs salt-minion there, then its key waits.

    run = add_host({"address": "192.0.2.13", "port": 22, "user": "root",
                    "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----...", "password": "",
                    "minion_id": "k8s-node3"}, by=actor)

add_host checks the form, records the audit event and a ProvisioningRun (kind "ssh_host"),
and returns at once; an Enroller thread (a RunWorker, supervision.py) runs three steps, one
RunStep each, so the run page shows them as it does an orchestration's:

    connect   salt-ssh logs in and reads the OS grains (the login, the host key, python3)
    minion    salt-ssh applies the `minion` formula: salt-minion pointed at the master
    key       the new minion's key shows up on the master (salt-api wheel key.list_all)

The key or password lives only in the thread's memory and, for the length of one salt-ssh
call, in a 0600 file the adapter deletes afterwards; the database never sees it.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.adapters import salt as salt_adapter
from portal.adapters.salt import ssh as salt_ssh
from portal.extensions import db
from portal.models import ACTIVE_RUN_STATUSES, ClusterNode, ProvisioningRun, RunKind, RunStatus, RunStep
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, Unavailable
from portal.services.provisioning.access import minion_id_checked, salt, salt_call
from portal.services.provisioning.runs import new_run_id
from portal.services.provisioning.supervision import RunWorker, heartbeat_now

log = logging.getLogger(__name__)

KIND = RunKind.SSH_HOST
ORCHESTRATION = "salt-ssh minion"
STEPS = ("connect", "minion", "key")
KEY_WAIT_SECONDS = 60
HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
SSH_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z")
ADDRESS_CHARS = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")  # no '%' (a zone id), no space, quote or shell text
REPO = Path(__file__).resolve().parents[3]  # the checkout: salt_states/ beside portal/


# Checks -------------------------------------------------------------------------

def _address(value: str) -> str:
    """A plain IPv4 address, an IPv6 address without a zone id, or an RFC 1123 host name.

    salt-ssh 3008.4 builds its ssh command as one string and splits it on spaces, so
    nothing but these characters may ever reach it (an IPv6 zone id may hold anything)."""
    value = (value or "").strip()
    if not value:
        raise Invalid("address", _("Give the host's IP address or DNS name."))
    refused = _("'%(value)s' is neither an IP address nor a DNS name such as node3.example.org "
                "(an IPv6 address without a %%zone).", value=value[:80])
    if len(value) > 253 or not ADDRESS_CHARS.match(value):
        raise Invalid("address", refused)
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if ":" in bare:
        try:
            return str(ipaddress.IPv6Address(bare))
        except ValueError:
            raise Invalid("address", refused) from None
    try:
        return str(ipaddress.IPv4Address(bare))
    except ValueError:
        pass
    name = bare[:-1] if bare.endswith(".") else bare
    if not name or not all(HOST_LABEL.match(label) for label in name.split(".")) \
            or name.replace(".", "").isdigit():
        raise Invalid("address", refused)
    return name


def _port(value) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise Invalid("port", _("The SSH port is a number between 1 and 65535.")) from None
    if not 1 <= port <= 65535:
        raise Invalid("port", _("The SSH port must be between 1 and 65535."))
    return port


def _credentials(key: str, password: str) -> tuple[str, str]:
    key = (key or "").strip()
    if key and password:
        raise Invalid("password", _("Give a private key or a password, not both: clear one of them."))
    if not key and not password:
        raise Invalid("private_key", _("Paste the private key the host accepts, or give the password instead."))
    if key:
        if key.startswith(("ssh-", "ecdsa-", "sk-")) and "PRIVATE KEY" not in key:
            raise Invalid("private_key", _("This is a public key; paste the private key (the file without .pub)."))
        if not re.search(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", key) or "-----END" not in key:
            raise Invalid("private_key", _("This is not a private key: paste the whole file, from "
                                           "-----BEGIN ... PRIVATE KEY----- to -----END ... PRIVATE KEY-----."))
        if len(key) > 16384:
            raise Invalid("private_key", _("This key is too long to be an SSH private key."))
    if password and ("\n" in password or "\r" in password or len(password) > 1024):
        raise Invalid("password", _("The password must be one line of at most 1024 characters."))
    return key, password


def _minion_id(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("minion_id", _("Give the minion id the host will have, such as k8s-node3."))
    return minion_id_checked(value, "minion_id")


# _taken's words in the reader's language (the run worker writes them into a run's message as they are).
KEY_STATE_WORDS = {"accepted": _l("accepted"), "waiting for acceptance": _l("waiting for acceptance"),
                   "rejected": _l("rejected"), "denied": _l("denied")}


def _taken(minion_id: str, keys: dict) -> str | None:
    for field, state in (("minions", "accepted"), ("minions_pre", "waiting for acceptance"),
                         ("minions_rejected", "rejected"), ("minions_denied", "denied")):
        if minion_id in (keys.get(field) or []):
            return state
    return None


# The master, as the new minion sees it ------------------------------------------

def master_address() -> str:
    cfg = current_app.config
    address = cfg.get("SALT_MASTER_ADDRESS") or urlsplit(cfg.get("SALT_API_URL") or "").hostname or ""
    if not address:
        raise Unavailable(_("The Salt master's address is unknown: set HUMMER_SALT_MASTER_ADDRESS "
                            "(the address new hosts reach the master at)."))
    return address


def master_ports(api: salt_adapter.SaltAPI) -> dict:
    """The master's own ret_port and publish_port (salt-run config.get, through salt-api)."""
    ports = {}
    for option, default in (("ret_port", 4506), ("publish_port", 4505)):
        # Positional: salt-api's runner client takes a `key` keyword for its own authentication.
        value = salt_call(api.runner, "config.get", arg=[option], kwarg={"default": default})
        try:
            ports[option] = int(value)
        except (TypeError, ValueError):
            raise Unavailable(_("The Salt master's %(option)s is not a port: %(value)r", option=option,
                                value=value)) from None
    return {"master_port": ports["ret_port"], "publish_port": ports["publish_port"]}


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def minion_pillar(minion_id: str, address: str, ports: dict) -> dict:
    """The `minion` formula's pillar (hummer:minion), with HUMMER_SALT_SSH_PILLAR laid over it."""
    base = {"hummer": {"minion": {"master": address, "id": minion_id, **ports}}}
    return _merge(base, current_app.config.get("SALT_SSH_PILLAR") or {})


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def ssh_client() -> salt_ssh.SaltSSH:
    cfg = current_app.config
    return salt_ssh.SaltSSH(Path(cfg["INSTANCE_PATH"]) / "salt-ssh", [REPO / "salt_states"])


# Adding a host ------------------------------------------------------------------

def add_host(values: dict, by: Actor) -> ProvisioningRun:
    """Check the form, record the run and start the Enroller thread; return the run at once."""
    require_admin(by.user)
    address = _address(values.get("address") or "")
    port = _port(values.get("port"))
    user = (values.get("user") or "").strip()
    if not SSH_USER.match(user):
        raise Invalid("user", _("Give the SSH user: letters, digits, '.', '_' or '-' (at most 32, not starting "
                                "with '-' or a digit), such as root."))
    key, password = _credentials(values.get("private_key") or "", values.get("password") or "")
    minion_id = _minion_id(values.get("minion_id") or "")
    if db.session.scalar(select(ClusterNode).where(ClusterNode.minion_id == minion_id)) is not None:
        raise Invalid("minion_id", _("%(minion)s is a node of this cluster already; choose another id.",
                                     minion=minion_id))
    going = db.session.scalar(select(ProvisioningRun).where(
        ProvisioningRun.kind == KIND, ProvisioningRun.target == minion_id,
        ProvisioningRun.status.in_(ACTIVE_RUN_STATUSES)).limit(1))
    if going is not None:
        raise Invalid("minion_id", _("Run #%(num)d is adding %(minion)s already.", num=going.id, minion=minion_id))
    api = salt()
    state = _taken(minion_id, salt_call(api.keys) or {})
    if state:
        raise Invalid("minion_id", _("The Salt master already has a key for %(minion)s (%(state)s); "
                                     "choose another id, or delete that key first.", minion=minion_id,
                                     state=KEY_STATE_WORDS[state]))
    master = master_address()
    if _is_loopback(master) and not _is_loopback(address):
        raise Invalid("address", _("The Salt master's address is %(master)s, which %(address)s cannot reach: "
                                   "set HUMMER_SALT_MASTER_ADDRESS to an address of the master the host can "
                                   "reach.", master=master, address=address))
    pillar = minion_pillar(minion_id, master, master_ports(api))
    target = salt_ssh.Target(minion_id=minion_id, host=address, port=port, user=user,
                             private_key=key, password=password)
    try:
        salt_ssh.check_target(target)  # the adapter checks again just before salt-ssh runs
    except salt_ssh.UnsafeTarget as error:
        raise Invalid({"host": "address"}.get(error.field, error.field), error.message) from error
    ssh = ssh_client()
    run = ProvisioningRun(run_id=new_run_id(), kind=KIND.value, orchestration=ORCHESTRATION,
                          target=minion_id, units_total=len(STEPS), started_by=by.user.username,
                          heartbeat_at=heartbeat_now())
    db.session.add(run)
    audit.record(by, "cluster.ssh_host", "minion", minion_id,
                 detail=f"{user}@{address}:{port} with a {'key' if key else 'password'}; "
                        f"master {master}:{pillar['hummer']['minion'].get('master_port')}")
    db.session.commit()
    Enroller(current_app._get_current_object(), run.id, target, pillar, ssh, api,
             beat_at=run.heartbeat_at).start()
    return run


class Enroller(RunWorker):
    """Runs the connect, minion and key steps of one ssh_host run (its heartbeat and its
    ownership-checked finish are the RunWorker's)."""

    thread_prefix = "hummer-ssh-host"

    def __init__(self, app: Flask, run_pk: int, target: salt_ssh.Target, pillar: dict,
                 ssh: salt_ssh.SaltSSH, api: salt_adapter.SaltAPI, key_wait: float = KEY_WAIT_SECONDS,
                 *, beat_at: datetime | None = None):
        super().__init__(app, run_pk, beat_at=beat_at)
        self.target, self.pillar = target, pillar
        self.ssh, self.api, self.key_wait = ssh, api, key_wait
        self.system = ""
        self.minion_id = target.minion_id

    def work(self) -> None:
        self._add()

    def lost_message(self, error: Exception) -> str:
        return f"The portal lost track of adding {self.minion_id}: {error}"

    def released(self) -> None:
        self.target = None  # the key or password goes with the thread

    def closed(self, run: ProvisioningRun, ok: bool) -> None:
        for row in run.steps:
            if row.status == RunStatus.RUNNING:
                row.status = RunStatus.FAILED if not ok else RunStatus.SUCCEEDED

    def _step(self, name: str, doing: str) -> RunStep:
        row = RunStep(run=self.run_row(), step=name, minion=self.minion_id, current_state=doing[:255])
        db.session.add(row)
        db.session.commit()
        return row

    def _fail(self, row: RunStep, error: salt_ssh.SaltSSHError | str, state: str = "") -> None:
        message = error if isinstance(error, str) else error.message
        row.status, row.current_state = RunStatus.FAILED, ""
        row.failed_state = (state or getattr(error, "state_id", "") or "")[:255]
        row.comment = (getattr(error, "comment", "") or message)[:60000]
        detail = getattr(error, "detail", "") or ""
        results = getattr(error, "results", None)
        if isinstance(results, dict) and row.failed_state:
            failing = {s.key: s.raw for s in salt_adapter.state_outcome(results).failed}
            detail = json.dumps(failing, indent=2, default=str)
        row.output = detail[:60000]
        db.session.commit()
        mid = self.minion_id
        if row.failed_state:  # as an orchestration's failure reads
            self.finish(False, f"Step {row.step} failed on {mid} in state {row.failed_state}: {row.comment}")
        else:
            self.finish(False, f"Step {row.step} failed on {mid}: {message}")

    def _add(self) -> None:
        run = self.run_row()
        run.status = RunStatus.RUNNING
        db.session.commit()
        t = self.target
        # connect: the login, the host key, python3.
        row = self._step("connect", f"ssh {t.where}")
        try:
            grains = self.ssh.grains(t)
        except salt_ssh.SaltSSHError as error:
            self._fail(row, error)
            return
        row.status, row.current_state, row.states_done = RunStatus.SUCCEEDED, "", 1
        db.session.commit()
        self.system = f"{grains.get('os', '?')} {grains.get('osrelease', '?')}"
        # minion: the formula, applied over SSH.
        row = self._step("minion", "state.apply minion")
        try:
            try:
                results = self.ssh.apply(t, "minion", pillar=self.pillar)
            except salt_ssh.SaltSSHNoAnswer as error:
                # Nothing was refused; salt-ssh lost its answer. The formula is idempotent: once more.
                log.warning("run %s: %s; applying minion once more", self.run_pk, error)
                row.current_state = "state.apply minion (again: salt-ssh gave no usable answer)"
                db.session.commit()
                results = self.ssh.apply(t, "minion", pillar=self.pillar)
        except salt_ssh.SaltSSHError as error:
            self._fail(row, error)
            return
        outcome = salt_adapter.state_outcome(results)
        row.status, row.current_state = RunStatus.SUCCEEDED, ""
        row.states_done, row.states_changed = outcome.total, len(outcome.changed)
        row.changes = "\n".join(s.state_id for s in outcome.changed)[:60000]
        db.session.commit()
        # key: the new minion knocks at the master.
        row = self._step("key", "waiting for the minion's key on the master")
        self._wait_key(row)

    def _wait_key(self, row: RunStep) -> None:
        mid = self.minion_id
        deadline = time.monotonic() + self.key_wait
        last_error = ""
        while True:
            try:
                keys = self.api.keys() or {}
            except salt_adapter.SaltError as error:
                keys, last_error = {}, str(error)
            state = _taken(mid, keys)
            if state in ("waiting for acceptance", "accepted"):
                row.status, row.current_state, row.states_done = RunStatus.SUCCEEDED, "", 1
                db.session.commit()
                host = f"{mid} ({self.system} at {self.target.host})"
                note = (f"salt-minion runs on {host}; its key waits for acceptance on the Nodes page."
                        if state != "accepted" else
                        f"salt-minion runs on {host}; its key was accepted already (the master accepts keys itself).")
                self.finish(True, note)
                return
            if state in ("rejected", "denied"):
                self._fail(row, f"The Salt master has {mid}'s key as {state}: delete that key "
                                f"(salt-key -d {mid}) and start the minion again.")
                return
            if time.monotonic() > deadline:
                m = self.pillar["hummer"]["minion"]
                self._fail(row, f"No key from {mid} reached the Salt master within {int(self.key_wait)} s. "
                                f"salt-minion runs on {self.target.host} and points at {m.get('master')}:"
                                f"{m.get('master_port')}; check that the host can reach that address and the "
                                f"ports {m.get('publish_port')} and {m.get('master_port')} (firewall), and "
                                "salt-minion's log on the host." + (f" ({last_error})" if last_error else ""))
                return
            time.sleep(1)
