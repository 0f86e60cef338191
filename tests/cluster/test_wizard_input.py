"""Bad input to the cluster wizard: a message beside the field (or a 4xx with the reason), nothing stored.

Settings, node roles, node ids and key actions, through the routes, on SQLite and MariaDB; the
roles and keys against the session's real Salt master, and with Salt not configured.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from portal.extensions import db
from portal.models import AuditEvent, ClusterNode, ClusterSettings
from tests.cluster.helpers import wait_no_active_run
from tests.support.web import error_beside, text

SETTINGS = {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}
LONG = "a" * 300


@pytest.fixture
def salted(salt_portal, admin):
    yield admin
    wait_no_active_run()


# Settings --------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("pod_cidr", "", "Give the pod network in CIDR notation, such as 172.16.0.0/16."),
    ("pod_cidr", "   ", "Give the pod network in CIDR notation"),
    ("service_cidr", "", "Give the service network in CIDR notation, such as 10.0.1.0/24."),
    ("pod_cidr", "fd00:10::/48", "give both in the same IP family"),
    ("service_cidr", "fd00:10::/112", "is IPv6 but the pod network 172.16.0.0/16 is IPv4"),
    ("pod_cidr", "fd00:10::/48", "is IPv6 but the service network 10.0.1.0/24 is IPv4"),
    ("pod_cidr", "172.16.0.0/31", "The pod network must be a /8 to /22 (flannel gives each node a /24"),
    ("pod_cidr", "172.16.0.0/24", "The pod network must be a /8 to /22"),
    ("pod_cidr", "10.0.0.0/7", "The pod network must be a /8 to /22"),
    ("service_cidr", "10.0.0.0/8", "The service network must be a /12 to /28"),
    ("service_cidr", "10.0.1.0/30", "The service network must be a /12 to /28"),
    ("pod_cidr", "127.0.0.0/16", "loopback, link-local, multicast or reserved"),
    ("pod_cidr", "172.16.0.0/33", "is not a network in CIDR notation"),
    ("pod_cidr", "172.16.0.1/16", "has host bits set"),
    ("pod_cidr", LONG, "is not a network in CIDR notation"),
    ("service_cidr", "172.16.5.0/24", "overlaps the pod network 172.16.0.0/16"),
    ("kubernetes_version", "1.19.0", "Kubernetes 1.24.0 to 1.30.x is supported"),
    ("kubernetes_version", "1.31.0", "Kubernetes 1.24.0 to 1.30.x is supported"),
    ("kubernetes_version", "2.0.0", "Kubernetes 1.24.0 to 1.30.x is supported"),
    ("kubernetes_version", "latest", "Give a Kubernetes version such as 1.30.4."),
    ("kubernetes_version", "", "Give a Kubernetes version such as 1.30.4."),
    ("kubernetes_version", "1.30.4\n", None),  # trailing whitespace is stripped: accepted
    ("registry_port", "70000", "The registry port must be between 1 and 65535."),
    ("registry_port", "0", "The registry port must be between 1 and 65535."),
    ("registry_port", "6443", "Port 6443 is the API server's"),
    ("registry_port", "10250", "Port 10250 is the kubelet's"),
    ("registry_port", "30080", "NodePort range"),
    ("nfs_export", "/", "not / itself"),
    ("nfs_export", "//", "not / itself"),
    ("nfs_export", "/../etc", "without '.' or '..' in it"),
    ("nfs_export", "/srv/../etc", "without '.' or '..' in it"),
    ("nfs_export", "/srv/./x", "without '.' or '..' in it"),
    ("nfs_export", "/etc", "not the system directory /etc"),
    ("nfs_export", "/proc/self", "not the system directory /proc/self"),
    ("nfs_export", "/hummer/", "no doubled or trailing '/'"),
    ("nfs_export", "/srv//hummer", "no doubled or trailing '/'"),
    ("nfs_export", "hummer", "must be an absolute path"),
    ("nfs_export", "/my export", "no spaces"),
    ("nfs_export", "/{{ x }}", "no spaces"),
    ("nfs_export", "/" + LONG, "of at most 255 characters"),
    ("name", "My Lab", "DNS-1123 label"),
    ("name", "", "Cluster name is required."),
    ("name", LONG, "at most 63 characters"),
])
def test_settings_say_what_is_supported_beside_the_field(admin, app, field, value, message):
    pillar = Path(app.config["SALT_PILLAR_FILE"])
    response = admin.post("/cluster/settings", dict(SETTINGS, **{field: value}))
    if message is None:
        assert response.status_code == 302, error_beside(text(response), field)
        return
    assert response.status_code == 422, text(response)[:500]
    assert message in error_beside(text(response), field)
    assert "Traceback" not in text(response) and "does not appear to be" not in text(response)
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="cluster.settings")) is None
    assert db.session.scalar(db.select(ClusterSettings.name)) in (None, "hummer")
    assert not pillar.exists()


def test_good_settings_are_stored_and_written(admin, app):
    response = admin.post("/cluster/settings", dict(SETTINGS, pod_cidr="10.244.0.0/16",
                                                     service_cidr="10.96.0.0/12", nfs_export="/srv/hummer",
                                                     kubernetes_version="1.24.0", registry_port="5001"))
    assert response.status_code == 302, text(response)[:2000]
    row = db.session.scalar(db.select(ClusterSettings))
    assert (row.pod_cidr, row.service_cidr, row.nfs_export, row.kubernetes_version, row.registry_port) == \
        ("10.244.0.0/16", "10.96.0.0/12", "/srv/hummer", "1.24.0", 5001)
    pillar = yaml.safe_load(Path(app.config["SALT_PILLAR_FILE"]).read_text())
    assert pillar["hummer"]["cluster"]["nfs_export"] == "/srv/hummer"


# Node roles without Salt --------------------------------------------------------------

def test_without_salt_no_node_gets_roles(admin, app):
    pillar = Path(app.config["SALT_PILLAR_FILE"])
    assert admin.post("/cluster/settings", SETTINGS).status_code == 302
    before = pillar.read_bytes()
    for minion, address in (("hm-node1", "127.0.0.1"), ("anything", "<script>alert(1)</script>"),
                            ("hm-node2", "")):
        response = admin.post(f"/cluster/nodes/{minion}/roles", {"roles": ["node"], "address": address})
        assert response.status_code in (422, 503), text(response)[:500]
        assert "Salt is not configured" in text(response) or "is not an IP address" in text(response)
    response = admin.post("/cluster/nodes/hm-node1/roles", {"roles": ["master"]})
    assert response.status_code == 503
    assert "Salt is not configured: set HUMMER_SALT_API_URL" in text(response)
    assert db.session.scalar(db.select(ClusterNode)) is None
    assert pillar.read_bytes() == before
    assert b"<script>" not in pillar.read_bytes()


@pytest.mark.parametrize("minion_id, message", [
    ("{{7*7}}", "is not a valid minion id"),
    ("{%raw%}", "is not a valid minion id"),
    ("hm-*", "is not a valid minion id"),
    ("a b", "is not a valid minion id"),
    ("-oProxyCommand=x", "is not a valid minion id"),
    (LONG, "at most 255 characters"),
])
def test_bad_node_ids_are_refused_before_anything_is_stored(salted, app, minion_id, message):
    assert salted.post("/cluster/settings", SETTINGS).status_code == 302
    response = salted.post(f"/cluster/nodes/{quote(minion_id, safe='')}/roles",
                           {"roles": ["node"], "address": "127.0.0.1"})
    assert response.status_code == 422, text(response)[:500]
    assert message in text(response)
    assert db.session.scalar(db.select(ClusterNode)) is None
    # Nothing half-stored blocks the next save.
    assert salted.post("/cluster/settings", dict(SETTINGS, name="lab2")).status_code == 302


# Node roles with the real Salt master ---------------------------------------------------

def test_only_accepted_minions_get_roles_and_addresses_are_ip_addresses(salted, salt_env):
    pillar = salt_env.cluster_pillar_path
    assert salted.post("/cluster/settings", SETTINGS).status_code == 302
    before = pillar.read_bytes()
    m = salt_env.minion_ids[0]
    refused = [
        ("hm-ghost", {"roles": ["node"], "address": "127.0.0.1"}, 422, "has not accepted a minion hm-ghost"),
        (m, {"roles": ["node"], "address": "<script>alert(1)</script>"}, 422, "is not an IP address"),
        (m, {"roles": ["node"], "address": "fe80::1%eth0"}, 422, "is not an IP address"),
        (m, {"roles": ["node"], "address": "node1.example.org"}, 422, "is not an IP address"),
        (m, {"roles": ["node"], "address": LONG}, 422, "is not an IP address"),
        (m, {"roles": ["emperor"], "address": "127.0.0.1"}, 422, "Unknown role(s) emperor"),
    ]
    for minion, form, status, message in refused:
        response = salted.post(f"/cluster/nodes/{minion}/roles", form)
        assert response.status_code == status, (minion, form, text(response)[:500])
        assert message in text(response), (minion, form)
    assert db.session.scalar(db.select(ClusterNode)) is None
    assert pillar.read_bytes() == before
    # An accepted minion without an address given: its own, from its grains.
    response = salted.post(f"/cluster/nodes/{m}/roles", {"roles": ["node"]})
    assert response.status_code == 302, text(response)[:500]
    grains = salt_env.salt(m, "grains.item", "ipv4")[m]["ipv4"]
    expected = next((a for a in grains if a != "127.0.0.1"), "127.0.0.1")
    assert db.session.scalar(db.select(ClusterNode.address).filter_by(minion_id=m)) == expected
    assert yaml.safe_load(pillar.read_text())["hummer"]["nodes"][m] == {"address": expected, "roles": ["node"]}


def test_a_node_salt_does_not_know_can_be_removed(salted, salt_env):
    # A row as an older portal may have left it (a hand-made POST, before ids were checked).
    db.session.add(ClusterNode(minion_id="hm-ghost", roles="node", address="10.0.0.9"))
    db.session.commit()
    html = text(salted.get("/cluster/nodes"))
    assert "In the plan, but not an accepted minion" in html and "<code>hm-ghost</code>" in html
    assert 'action="/cluster/nodes/hm-ghost/roles"' in html and "Remove from the plan" in html
    response = salted.post("/cluster/nodes/hm-ghost/roles", {})
    assert response.status_code == 302
    assert db.session.scalar(db.select(ClusterNode).filter_by(minion_id="hm-ghost")) is None
    assert "hm-ghost" not in salt_env.cluster_pillar_path.read_text()


# Keys -------------------------------------------------------------------------------------

def test_key_actions_take_one_exact_id_never_a_pattern(salted, salt_env):
    from tests.support.salt_harness import make_keypair
    pki = salt_env.root / "master" / "pki"
    for folder in ("minions_pre", "minions_rejected"):
        (pki / folder).mkdir(exist_ok=True)
    waiting, rejected = ("hm-pend1", "hm-pend2"), "hm-rej1"
    for name in (*waiting, rejected):
        pub = make_keypair(salt_env.root / f"{name}-pki", "minion")
        folder = "minions_rejected" if name == rejected else "minions_pre"
        (pki / folder / name).write_bytes(pub.read_bytes())

    def states():
        keys = salt_env.salt_key("--list-all")
        return {k: sorted(v) for k, v in keys.items()}

    try:
        before = states()
        assert set(waiting) <= set(before["minions_pre"]) and rejected in before["minions_rejected"]
        for pattern in ("*", "hm-*", "hm-pend?", "hm-pend[12]", "hm-pend1,hm-pend2", "hm-pend1 hm-pend2", "{{x}}"):
            for action in ("accept", "reject"):
                response = salted.post(f"/cluster/keys/{quote(pattern, safe='')}/{action}")
                assert response.status_code == 422, (pattern, action, text(response)[:300])
                assert "is not a valid minion id" in text(response)
        # A real id without a key in the expected list: refused, with the reason.
        response = salted.post("/cluster/keys/hm-nosuch/accept")
        assert response.status_code == 422 and "has no waiting or rejected key" in text(response)
        response = salted.post(f"/cluster/keys/{salt_env.minion_ids[0]}/reject")  # accepted, not waiting
        assert response.status_code == 422 and "has no waiting key" in text(response)
        assert states() == before
        # One exact id: only that key moves.
        assert salted.post("/cluster/keys/hm-pend1/accept").status_code == 302
        after = states()
        assert "hm-pend1" in after["minions"] and "hm-pend2" in after["minions_pre"]
        assert rejected in after["minions_rejected"]
        assert salted.post("/cluster/keys/hm-pend2/reject").status_code == 302
        after = states()
        assert "hm-pend2" in after["minions_rejected"] and "hm-pend1" in after["minions"]
        assert set(after["minions"]) - {"hm-pend1"} == set(before["minions"])
    finally:
        for folder in ("minions", "minions_pre", "minions_rejected"):
            for name in (*waiting, rejected):
                (pki / folder / name).unlink(missing_ok=True)
