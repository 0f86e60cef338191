"""Adding a host over SSH from the Nodes page: a real sshd, real salt-ssh, the real master and salt-api.

The "new host" is this machine, reached as root through a test sshd on 127.0.0.1 (tests/support/
sshd.py). salt-ssh applies the `minion` formula with HUMMER_SALT_SSH_PILLAR pointing every path
into a temporary directory, `install: none` (the venv's salt-minion) and `service: daemon`, so the
minion it starts is a real one that knocks at the session's master.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from portal.extensions import db
from portal.models import AuditEvent, ClusterNode, ProvisioningRun, RunStep
from tests.cluster.helpers import wait_no_active_run, wait_run
from tests.support.processes import free_port, pgroup_members
from tests.support.salt_harness import REPO, venv_bin
from tests.support.web import error_beside, text


@pytest.fixture
def minion_root(app):
    """Where the minion salt-ssh sets up lives (short: its unix sockets must fit in 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="hm-ssh-"))
    app.config["SALT_SSH_PILLAR"] = {"hummer": {"minion": {
        "install": {"method": "none"},
        "bin": str(venv_bin() / "salt-minion"),
        "config_dir": str(root / "conf"),
        "root_dir": str(root),
        "pki_dir": str(root / "pki"),
        "pidfile": str(root / "salt-minion.pid"),
        "service": {"manager": "daemon"},
        "options": {"enable_fqdns_grains": False, "enable_gpu_grains": False, "acceptance_wait_time": 1,
                    "acceptance_wait_time_max": 2, "random_reauth_delay": 0, "log_level_logfile": "info"},
    }}}
    yield root
    stop_minion(root / "salt-minion.pid")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ssh_admin(salt_portal, admin, minion_root, salt_env):
    yield admin
    # Leave no run going, and no key of a test host on the master.
    wait_no_active_run()
    for mid in ("hm-ssh1", "hm-ssh2"):
        salt_env.salt_key("-d", mid, "-y", check=False)


def stop_minion(pidfile: Path) -> None:
    """Stop the daemonized salt-minion by its pid file: its whole process group, SIGKILL after 3 s
    (a salt-minion takes about 10 s to honour SIGTERM; nothing of a test minion needs saving)."""
    try:
        pid = int(pidfile.read_text().strip())
        pgid = os.getpgid(pid)
    except (OSError, ValueError):
        return
    if pgid == os.getpgid(0):
        os.kill(pid, signal.SIGKILL)
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while pgroup_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pgroup_members(pgid):
        os.killpg(pgid, signal.SIGKILL)


def host_form(sshd, minion_id: str, private_key: str = "", password: str = "", port: int | None = None) -> dict:
    return {"address": "127.0.0.1", "port": str(port or sshd.port), "user": "root",
            "private_key": private_key, "password": password, "minion_id": minion_id}


def steps_of(run_url: str) -> dict[str, RunStep]:
    run_pk = int(run_url.rstrip("/").rsplit("/", 1)[1])
    return {s.step: s for s in db.session.scalars(db.select(RunStep).filter_by(run_id=run_pk))}


def add(web, form: dict) -> str:
    response = web.post("/cluster/hosts", form)
    html = text(response)
    assert response.status_code == 302, html[html.find('id="ssh-host"'):][:3000]
    return response.headers["Location"]


def test_add_host_over_ssh_then_accept_its_key(ssh_admin, salt_env, sshd, minion_root):
    web = ssh_admin
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    page = text(web.get("/cluster/nodes"))
    assert "Add a host over SSH" in page and 'name="private_key"' in page
    # A browser's textarea sends CRLF line ends; the key still works.
    run_url = add(web, host_form(sshd, "hm-ssh1", private_key=private.replace("\n", "\r\n")))
    assert 'id="run-progress"' in text(web.get(run_url))
    html = wait_run(web, run_url)
    assert 'data-status="succeeded"' in html, html[:4000]
    g = salt_env.salt("hm-master", "grains.item", "os", "osrelease")["hm-master"]  # the same machine
    assert f"salt-minion runs on hm-ssh1 ({g['os']} {g['osrelease']} at 127.0.0.1); its key waits" in html
    assert "Accept its key on the Nodes page" in html and "Retry from the failed step" not in html
    steps = steps_of(run_url)
    assert [steps[s].status for s in ("connect", "minion", "key")] == ["succeeded"] * 3
    assert steps["minion"].states_changed >= 2  # the configuration, the started daemon
    assert "minion-config-file-file-managed" in steps["minion"].changes
    assert "minion-service-start-cmd-run" in steps["minion"].changes

    # The new key waits on the Nodes page; the same id cannot be added twice.
    nodes = text(web.get("/cluster/nodes"))
    assert "Waiting for acceptance" in nodes and "<code>hm-ssh1</code>" in nodes
    again = web.post("/cluster/hosts", host_form(sshd, "hm-ssh1", private_key=private))
    assert again.status_code == 422
    assert "already has a key for hm-ssh1 (waiting for acceptance)" in error_beside(text(again), "minion_id")
    assert private.splitlines()[1] not in text(again)  # the pasted key is not sent back

    # Accepted through the page, the minion answers the master.
    assert web.post("/cluster/keys/hm-ssh1/accept").status_code == 302
    deadline, answer = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        answer = salt_env.salt("hm-ssh1", "test.ping", timeout=5, check=False)
        if answer == {"hm-ssh1": True}:
            break
        time.sleep(1)
    assert answer == {"hm-ssh1": True}
    config = yaml.safe_load((minion_root / "conf" / "minion.d" / "hummer.conf").read_text())
    assert config["state_events"] is True
    assert (config["master"], config["id"]) == ("127.0.0.1", "hm-ssh1")
    assert (config["master_port"], config["publish_port"]) == (salt_env.ret_port, salt_env.publish_port)

    # The host key was recorded on first use; nothing secret stayed behind.
    instance = Path(web.app.config["INSTANCE_PATH"]) / "salt-ssh"
    assert "ssh-ed25519" in recorded_host_key(instance, sshd.port)
    assert not any((instance / "calls").iterdir())
    secret = private.splitlines()[1]
    stored = [e.detail for e in db.session.scalars(db.select(AuditEvent))]
    stored += [s.output + s.comment for s in steps.values()]
    assert not any(secret in s for s in stored)
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="cluster.ssh_host"))
    assert event.object_name == "hm-ssh1" and f"root@127.0.0.1:{sshd.port} with a key" in event.detail


def recorded_host_key(instance: Path, port: int) -> str:
    """The known_hosts entry the portal keeps for 127.0.0.1:port (ssh may hash the names)."""
    return subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{port}", "-f", str(instance / "known_hosts")],
                          capture_output=True, text=True, check=False).stdout


def test_a_refused_key_fails_the_connect_step_and_names_the_host(ssh_admin, sshd):
    web = ssh_admin
    _, public = sshd.client_key("authorized")
    sshd.authorize(public)
    stranger, _ = sshd.client_key("stranger")
    run_url = add(web, host_form(sshd, "hm-ssh2", private_key=stranger))
    html = wait_run(web, run_url, timeout=120)
    assert 'data-status="failed"' in html
    assert f"Step connect failed on hm-ssh2: root@127.0.0.1:{sshd.port} refused the login: " \
           "the key was not accepted" in html
    assert "Add the host again" in html and "Retry from the failed step" not in html
    steps = steps_of(run_url)
    assert set(steps) == {"connect"} and steps["connect"].status == "failed"


def test_nothing_listening_is_unreachable(ssh_admin, sshd):
    web = ssh_admin
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    port = free_port()
    run_url = add(web, host_form(sshd, "hm-ssh2", private_key=private, port=port))
    html = wait_run(web, run_url, timeout=120)
    assert 'data-status="failed"' in html
    assert f"Step connect failed on hm-ssh2: No SSH server answers at 127.0.0.1:{port}" in html
    assert "Connection refused" in html


def test_a_failing_state_names_the_node_the_state_and_why(app, ssh_admin, sshd, minion_root):
    web = ssh_admin
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    # The rehearsal failpoint every formula has (salt_states/lib/failpoint.jinja).
    app.config["SALT_SSH_PILLAR"]["hummer_fail_state"] = {"component": "minion", "comment": "disk full on purpose"}
    run_url = add(web, host_form(sshd, "hm-ssh2", private_key=private))
    html = wait_run(web, run_url, timeout=180)
    assert 'data-status="failed"' in html
    error = re.search(r'id="run-error">(.*?)</p>', html, re.S)
    assert error, html[:3000]
    assert "Step minion failed on hm-ssh2 in state minion-failpoint-test-configurable_test_state" in html, \
        error.group(1)
    assert "disk full on purpose" in html
    steps = steps_of(run_url)
    assert (steps["connect"].status, steps["minion"].status) == ("succeeded", "failed") and "key" not in steps
    assert not (minion_root / "salt-minion.pid").exists()  # failhard: nothing after it ran


def test_a_changed_host_key_is_refused(ssh_admin, sshd):
    web = ssh_admin
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    # First contact, with a password root may not use here: refused, but the host key is recorded.
    run_url = add(web, host_form(sshd, "hm-ssh2", password="not-this-one"))
    html = wait_run(web, run_url, timeout=120)
    assert "refused the login: the password was not accepted" in html
    # The host comes back with another key: even the right private key is not used on it.
    fingerprint = sshd.new_host_key()
    run_url = add(web, host_form(sshd, "hm-ssh2", private_key=private))
    html = wait_run(web, run_url, timeout=120)
    assert 'data-status="failed"' in html
    assert f"The SSH host key of 127.0.0.1:{sshd.port} has changed since the portal first connected" in html
    assert fingerprint in html and "ssh-keygen -f" in html
    assert "Accepted publickey" not in sshd.log()


def test_a_host_without_python3_is_named(sshd, tmp_path):
    """salt-ssh needs python3 on the host; here the remote PATH lacks it (the adapter's remote_path)."""
    from portal.adapters.salt.ssh import SaltSSH, SSHNoPython, Target
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    ssh = SaltSSH(tmp_path / "salt-ssh", [REPO / "salt_states"], remote_path=str(tmp_path / "no-python-here"))
    with pytest.raises(SSHNoPython) as error:
        ssh.grains(Target("hm-ssh2", "127.0.0.1", sshd.port, "root", private_key=private))
    assert f"root@127.0.0.1:{sshd.port} has no python3, which salt-ssh needs" in error.value.message


KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize("change, field, message", [
    ({"address": ""}, "address", "Give the host's IP address or DNS name."),
    ({"address": "-oProxyCommand=sh"}, "address", "is neither an IP address nor a DNS name"),
    ({"port": "0"}, "port", "The SSH port must be between 1 and 65535."),
    ({"port": "70000"}, "port", "The SSH port must be between 1 and 65535."),
    ({"user": ""}, "user", "Give the SSH user"),
    ({"password": "secret"}, "password", "Give a private key or a password, not both"),
    ({"private_key": ""}, "private_key", "Paste the private key the host accepts, or give the password"),
    ({"private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB admin@laptop"}, "private_key", "This is a public key"),
    ({"private_key": "hunter2"}, "private_key", "This is not a private key"),
    ({"minion_id": "new node!"}, "minion_id", "A minion id is letters, digits"),
])
def test_the_form_says_what_is_wrong_beside_the_field(admin, change, field, message):
    form = dict({"address": "192.0.2.13", "port": "22", "user": "root", "private_key": KEY, "password": "",
                 "minion_id": "k8s-node3"}, **change)
    response = admin.post("/cluster/hosts", form)
    assert response.status_code == 422
    assert message in error_beside(text(response), field)
    assert db.session.scalar(db.select(ProvisioningRun)) is None


def test_ids_the_master_or_the_cluster_knows_are_refused(ssh_admin, salt_env):
    web = ssh_admin
    form = {"address": "127.0.0.1", "port": "22", "user": "root", "private_key": KEY, "password": ""}
    response = web.post("/cluster/hosts", dict(form, minion_id="hm-node1"))
    assert response.status_code == 422
    assert "already has a key for hm-node1 (accepted)" in error_beside(text(response), "minion_id")
    db.session.add(ClusterNode(minion_id="hm-gone", roles="node"))
    db.session.commit()
    response = web.post("/cluster/hosts", dict(form, minion_id="hm-gone"))
    assert "hm-gone is a node of this cluster already" in error_beside(text(response), "minion_id")
    # salt-api listens on 127.0.0.1 here: a host elsewhere could not reach the master at that address.
    response = web.post("/cluster/hosts", dict(form, address="192.0.2.13", minion_id="k8s-node3"))
    assert response.status_code == 422
    assert "set HUMMER_SALT_MASTER_ADDRESS" in error_beside(text(response), "address")
    assert db.session.scalar(db.select(ProvisioningRun)) is None
