"""The wizard across several hosts: each Salt minion in a network namespace of its own.

netns_salt (tests/support/netns_fixtures.py): the Salt master and salt-api in the namespace
hmt<pid>-salt (10.213.0.1 on the bridge), minions ns-n1, ns-n2, ns-n3 in hmt<pid>-n1..n3
(10.213.0.11, .12, .13). The portal reaches salt-api through a forwarder on 127.0.0.1.
"""
import json
import re
import shutil
import subprocess
from html import unescape

import pytest
import yaml

from portal.adapters.salt import SaltAPI
from portal.extensions import db
from portal.models import ClusterNode, ProvisioningRun, RunStep
from tests.cluster.helpers import wait_no_active_run, wait_run
from tests.support.html import find_all
from tests.support.web import text

SETTINGS = {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}
ROLE_ACTION = re.compile(r'/cluster/nodes/(?P<minion>[^/"]+)/roles')
PREFLIGHT_ROW = re.compile(r'<tr class="(?:ok|fail)"><td><code>(?P<node>[^<]+)</code></td><td>(?P<check>[^<]+)</td>\s*'
                           r'<td>(?P<result>pass|FAIL)</td><td>(?P<detail>.*?)</td><td>(?P<fix>.*?)</td></tr>', re.S)


@pytest.fixture
def lan(netns_portal, admin):
    """An admin's browser-like client on the portal pointed at the namespaced Salt master."""
    yield admin
    wait_no_active_run()


def role_forms(html: str) -> dict[str, str]:
    """{minion: the address its roles form on the Nodes page will send}."""
    forms = {}
    for form in find_all(html, "form", method="post"):
        match = ROLE_ACTION.fullmatch(form.get("action") or "")
        if match:
            field = form.find("input", type="hidden", name="address")
            forms[match["minion"]] = field.get("value", "") if field else None
    return forms


def assign(web, roles_by_minion: dict[str, list[str]]) -> dict[str, str]:
    """Submit each minion's roles form as the Nodes page offers it (with its address); return the addresses."""
    forms = role_forms(text(web.get("/cluster/nodes")))
    for minion, roles in roles_by_minion.items():
        response = web.post(f"/cluster/nodes/{minion}/roles", {"roles": roles, "address": forms[minion]})
        assert response.status_code == 302, text(response)[:500]
    return forms


def preflight(web) -> dict[tuple[str, str], dict]:
    response = web.post("/cluster/preflight", htmx="preflight")
    html = text(response)
    assert response.status_code == 200, html[:1000]
    rows = {(m["node"], m["check"]): {k: unescape(v).strip() for k, v in m.groupdict().items()}
            for m in PREFLIGHT_ROW.finditer(html)}
    assert rows, html[:2000]
    return rows


def test_each_minion_is_a_host_of_its_own(netns_salt):
    env, lan_ = netns_salt.env, netns_salt.lan
    grains = env.salt("*", "grains.item", "ipv4")
    for minion in env.minion_ids:
        own = netns_salt.address(minion)
        assert sorted(grains[minion]["ipv4"]) == sorted([own, "127.0.0.1"]), grains
    # Each host reaches the others over the bridge, and nothing was added to this namespace.
    assert env.salt("ns-n2", "network.ping", netns_salt.address("ns-n1"), "return_boolean=True",
                    "timeout=2")["ns-n2"] is True
    root = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    assert "10.213." not in root
    assert set(lan_.names) <= set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
                                  .stdout.split())


def test_forwarder_carries_requests_and_event_streams_and_closes_them(netns_salt):
    env, fwd = netns_salt.env, netns_salt.forwarder
    assert env.api_url == fwd.url and env.api_url.startswith("http://127.0.0.1:")
    before = fwd.accepted
    api = SaltAPI(env.api_url, env.api_user, env.api_password, eauth=env.eauth)
    assert api.local("*", "test.ping", timeout=10) == {m: True for m in env.minion_ids}
    seen = set()
    with api.events(read_timeout=30) as stream:
        job = api.local_async("*", "test.ping")
        for event in stream:
            if event["tag"].startswith(f"salt/job/{job['jid']}/ret/"):
                seen.add(event["data"]["id"])
                if seen == set(env.minion_ids):
                    break
    assert seen == set(env.minion_ids)
    assert fwd.accepted > before
    api.session.close()
    assert fwd.wait_idle(15, since=before), f"{fwd.open_since(before)} forwarded connection(s) still open"


# --------------------------------------------------------------------------- the wizard

def test_nodes_show_each_minions_own_address_and_the_pillar_records_it(lan, netns_salt):
    env = netns_salt.env
    html = text(lan.get("/cluster/nodes"))
    forms = role_forms(html)
    expected = {m: netns_salt.address(m) for m in env.minion_ids}
    assert expected == {"ns-n1": "10.213.0.11", "ns-n2": "10.213.0.12", "ns-n3": "10.213.0.13"}
    assert {m: forms.get(m) for m in env.minion_ids} == expected, forms
    assert "Debian" in html
    lan.post("/cluster/settings", SETTINGS)
    roles = {"ns-n1": ["master", "registry", "nfs"], "ns-n2": ["node", "monitoring"], "ns-n3": ["node", "portal"]}
    assign(lan, roles)
    assert "The roles make a cluster." in text(lan.get("/cluster/nodes"))
    stored = dict(db.session.execute(db.select(ClusterNode.minion_id, ClusterNode.address)).all())
    assert stored == expected
    pillar = yaml.safe_load(env.cluster_pillar_path.read_text())
    assert {m: n["address"] for m, n in pillar["hummer"]["nodes"].items()} == expected
    assert {m: n["roles"] for m, n in pillar["hummer"]["nodes"].items()} == roles
    dashboard = text(lan.get("/"))
    for minion, address in expected.items():
        assert f"<td><code>{minion}</code></td><td>{address}</td>" in dashboard


def test_preflight_master_reachable_from_each_node(lan, netns_salt):
    env, lan_ = netns_salt.env, netns_salt.lan
    master = netns_salt.address("ns-n1")
    # The minions share this machine's files: the check runs its ping (salt's network.ping).
    assert shutil.which("ping"), "install iputils-ping (./hummer test does): preflight pings the master"
    assign(lan, {"ns-n1": ["master", "registry", "nfs"], "ns-n2": ["node"], "ns-n3": ["node"]})
    lan_.block("n3", master)
    try:
        # n3 still reaches the Salt master (.1), just not the Kubernetes master (n1).
        assert env.salt("ns-n3", "test.ping", timeout=10) == {"ns-n3": True}
        rows = preflight(lan)
        assert ("ns-n1", "master reachable") not in rows
        n2, n3 = rows[("ns-n2", "master reachable")], rows[("ns-n3", "master reachable")]
        assert n2["result"] == "pass" and n2["detail"] == f"ping {master}: ok" and n2["fix"] == "", n2
        assert n3["result"] == "FAIL" and n3["detail"] == f"ping {master}: no answer", n3
        assert n3["fix"] == f"Open the network path from ns-n3 to {master} (firewall, routes).", n3
    finally:
        lan_.unblock("n3", master)
    rows = preflight(lan)
    assert rows[("ns-n3", "master reachable")]["result"] == "pass", rows[("ns-n3", "master reachable")]
    assert rows[("ns-n2", "master reachable")]["result"] == "pass"


def test_common_state_puts_every_node_in_etc_hosts(lan, netns_salt):
    env = netns_salt.env
    lan.post("/cluster/settings", SETTINGS)
    assign(lan, {"ns-n1": ["master", "registry", "nfs"], "ns-n2": ["node"], "ns-n3": ["node"]})
    env.refresh_pillar()
    shown = env.salt("ns-n2", "state.show_sls", "common", timeout=60)["ns-n2"]
    assert isinstance(shown, dict), shown
    hosts_state = shown["common-config-hosts-file-blockreplace"]["file"]
    args = {k: v for item in hosts_state if isinstance(item, dict) for k, v in item.items()}
    assert args["name"] == "/etc/hosts"
    cluster = args["context"]["cluster"]
    expected = {m: netns_salt.address(m) for m in env.minion_ids}
    assert cluster["address"] == expected
    # The block the state writes, rendered on the node from the same template and context.
    block = env.salt("ns-n2", "slsutil.renderer", "salt://common/files/hosts.jinja", "default_renderer=jinja",
                     f"cluster={json.dumps(cluster)}", timeout=30)["ns-n2"]
    lines = [line for line in str(block).splitlines() if line.strip()]
    assert lines == [f"{expected[m]} {m}" for m in sorted(expected)], block


def test_plan_across_the_namespaced_minions(lan, netns_salt):
    env = netns_salt.env
    lan.post("/cluster/settings", SETTINGS)
    assign(lan, {"ns-n1": ["master", "registry", "nfs"], "ns-n2": ["node", "monitoring"],
                 "ns-n3": ["node", "portal"]})
    response = lan.post("/cluster/runs", {"kind": "plan"})
    assert response.status_code == 302, text(response)[:1000]
    html = wait_run(lan, response.headers["Location"])
    assert 'data-status="succeeded"' in html, html[:3000]
    for minion in env.minion_ids:
        assert f"<td><code>{minion}</code></td>" in html
    run = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    assert run.test and run.kind == "plan"
    steps = {(s.step, s.minion) for s in db.session.scalars(db.select(RunStep).filter_by(run_id=run.id))}
    for minion in env.minion_ids:
        assert ("common", minion) in steps, steps
    assert {("master", "ns-n1"), ("nodes", "ns-n2"), ("nodes", "ns-n3"), ("registry", "ns-n1"),
            ("monitoring", "ns-n2"), ("portal", "ns-n3")} <= steps, steps
