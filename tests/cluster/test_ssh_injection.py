"""Add a host over SSH must never let form text become ssh options or shell on the portal's host.

salt-ssh 3008.4 joins its ssh command into one string and splits it on spaces, and Python's
ipaddress takes any text after an IPv6 '%' as a zone id: `::1%lo -oProxyCommand=...` would make
ssh run that command here. Each payload below asks ssh (or a shell) to `touch` a marker file in
the portal process's working directory (a temporary one; '/' is not allowed in a zone id), so
a command that ran leaves the file behind. The portal here is pointed at the real Salt master, and
a real sshd listens, so without the checks the route would go on to run salt-ssh.
"""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import AuditEvent, ProvisioningRun
from tests.conftest import PASSWORD
from tests.support.live_portal import live_portal
from tests.support.salt_harness import REPO
from tests.support.web import error_beside, text

MARKER = "hm-injected"
TOUCH = "touch${IFS}" + MARKER
INJECTIONS = [
    f"-oProxyCommand={TOUCH}",
    f"x -oProxyCommand={TOUCH}",
    f"x' -oProxyCommand={TOUCH} '",
    f'x" -oProxyCommand={TOUCH} "',
    f"$({TOUCH})",
    f"`{TOUCH}`",
    f"x\n-oProxyCommand={TOUCH}",
    f"x;{TOUCH}",
]
ZONE_TRICKS = [
    f"::1%lo -oProxyCommand={TOUCH}",
    f"fe80::1%lo -oProxyCommand={TOUCH}",
    "::1%lo",
    "[::1%lo]",
    f"127.0.0.1 -oProxyCommand={TOUCH}",
]
CASES = ([("address", v) for v in ZONE_TRICKS + INJECTIONS]
         + [(field, v) for field in ("port", "user", "minion_id") for v in INJECTIONS])


@pytest.fixture
def portal_dir(tmp_path, monkeypatch):
    """The portal's (and so salt-ssh's and ssh's) working directory: where a marker would land."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


@pytest.mark.parametrize("field, value", CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)])
def test_option_injection_is_refused_beside_the_field(salt_portal, admin, sshd, portal_dir, field, value):
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    form = {"address": "127.0.0.1", "port": str(sshd.port), "user": "root", "private_key": private,
            "password": "", "minion_id": "hm-inject"}
    form[field] = value
    seen = sshd.log().count("Connection from")  # start() knocks once to see the banner
    response = admin.post("/cluster/hosts", form)
    html = text(response)
    assert response.status_code == 422, html[html.find('id="ssh-host"'):][:2000]
    assert error_beside(html, field), html[html.find('id="ssh-host"'):][:2000]
    assert db.session.scalar(db.select(ProvisioningRun)) is None  # no run, so no salt-ssh started
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="cluster.ssh_host")) is None
    assert not (portal_dir / MARKER).exists()
    assert sshd.log().count("Connection from") == seen and "Accepted" not in sshd.log()


def test_option_injection_through_a_real_gunicorn(app, salt_env, database_url, make_user, sshd, tmp_path):
    """The same payloads, sent by a client to the portal as production serves it (gunicorn in
    its own working directory, pointed at the real salt-api): every one is refused, no run
    is recorded, sshd is never reached, and no marker file appears where ssh would run."""
    make_user("root", admin=True)
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    here = tmp_path / "gunicorn-cwd"
    here.mkdir()
    seen = sshd.log().count("Connection from")
    with live_portal(database_url, tmp_path, workers=1, threads=4, cwd=here,
                     SALT_API_URL=salt_env.api_url, SALT_API_USER=salt_env.api_user,
                     SALT_API_PASSWORD=salt_env.api_password, SALT_API_EAUTH=salt_env.eauth,
                     SALT_PILLAR_FILE=str(salt_env.cluster_pillar_path), SALT_DRY_RUN="1") as portal:
        client = portal.client()
        assert client.login("root", PASSWORD).status_code == 302
        token = client.token("/cluster/nodes")
        for field, value in CASES:
            form = {"address": "127.0.0.1", "port": str(sshd.port), "user": "root", "private_key": private,
                    "password": "", "minion_id": "hm-inject", "csrf_token": token}
            form[field] = value
            response = client.post("/cluster/hosts", form)
            assert response.status_code == 422, (field, value, response.text[:500])
            assert error_beside(response.text, field), (field, value)
    db.session.expire_all()
    assert db.session.scalar(db.select(ProvisioningRun)) is None
    assert not (here / MARKER).exists() and not (REPO / MARKER).exists()
    assert sshd.log().count("Connection from") == seen and "Accepted" not in sshd.log()


def test_the_zone_trick_names_the_rule(salt_portal, admin, sshd, portal_dir):
    form = {"address": f"::1%lo -oProxyCommand={TOUCH}", "port": "22", "user": "root",
            "private_key": "", "password": "x", "minion_id": "hm-inject"}
    response = admin.post("/cluster/hosts", form)
    assert "an IPv6 address without a %zone" in error_beside(text(response), "address")


@pytest.mark.parametrize("address, kept", [
    ("192.0.2.13", "192.0.2.13"), ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"),
    ("node3.example.org", "node3.example.org"), ("node3.example.org.", "node3.example.org"),
])
def test_plain_addresses_pass(app, address, kept):
    from portal.services.provisioning.enrolment import _address
    with app.test_request_context():
        assert _address(address) == kept


@pytest.mark.parametrize("change", [
    {"host": f"::1%lo -oProxyCommand={TOUCH}"}, {"host": "::1%lo"}, {"host": f"-oProxyCommand={TOUCH}"},
    {"host": f"127.0.0.1 -oProxyCommand={TOUCH}"}, {"port": f"22 -oProxyCommand={TOUCH}"}, {"port": 0},
    {"port": True}, {"user": f"root -oProxyCommand={TOUCH}"}, {"user": f"-oProxyCommand={TOUCH}"},
    {"user": "root\n"}, {"minion_id": f"hm-x -oProxyCommand={TOUCH}"}, {"minion_id": f"$({TOUCH})"},
    {"minion_id": "hm-*"},
])
def test_the_adapter_refuses_unsafe_roster_values_before_running_anything(sshd, tmp_path, portal_dir, change):
    """The second line: salt_ssh.SaltSSH checks the roster values itself, just before the call."""
    from portal.adapters.salt.ssh import SaltSSH, Target, UnsafeTarget
    private, public = sshd.client_key("admin")
    sshd.authorize(public)
    seen = sshd.log().count("Connection from")
    values = dict({"minion_id": "hm-inject", "host": "127.0.0.1", "port": sshd.port, "user": "root",
                   "private_key": private}, **change)
    ssh = SaltSSH(tmp_path / "salt-ssh", [REPO / "salt_states"])
    with pytest.raises(UnsafeTarget) as error:
        ssh.grains(Target(**values))
    assert error.value.field == next(iter(change))
    assert "Refused to run salt-ssh" in error.value.message
    assert not (portal_dir / MARKER).exists()
    assert not (tmp_path / "salt-ssh").exists()  # nothing was even prepared
    assert sshd.log().count("Connection from") == seen
