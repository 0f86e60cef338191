"""The cluster bootstrap wizard against a real salt-master, minions and salt-api."""

import time

import pytest
import yaml

from portal.extensions import db
from portal.models import ClusterNode, ProvisioningRun, RunStep
from tests.cluster.helpers import assign, wait_no_active_run, wait_run
from tests.support.html import field_value, find, find_all
from tests.support.web import error_beside, text

SETTINGS = {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}


@pytest.fixture
def salted(salt_portal, admin):
    """An admin's browser-like client on the portal pointed at the real Salt master."""
    yield admin
    wait_no_active_run()


@pytest.mark.parametrize("field, value, message", [
    ("pod_cidr", "172.16.0.0/33", "is not a network in CIDR notation"),
    ("pod_cidr", "172.16.0.1/16", "has host bits set"),
    ("service_cidr", "172.16.5.0/24", "overlaps the pod network 172.16.0.0/16"),
    ("kubernetes_version", "latest", "Give a Kubernetes version such as 1.30.4."),
    ("registry_port", "70000", "The registry port must be between 1 and 65535."),
    ("nfs_export", "hummer", "must be an absolute path"),
    ("name", "My Lab", "DNS-1123 label"),
])
def test_settings_validation_beside_field(admin, field, value, message):
    response = admin.post("/cluster/settings", dict(SETTINGS, **{field: value}))
    assert response.status_code == 422
    assert message in error_beside(text(response), field)


def test_settings_defaults_are_the_original_guides(admin):
    page = text(admin.get("/cluster/settings"))
    assert {name: field_value(page, name) for name in ("pod_cidr", "service_cidr", "registry_port", "nfs_export")} == {
        "pod_cidr": "172.16.0.0/16", "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}


def test_without_salt_pages_explain_instead_of_failing(admin):
    response = admin.get("/cluster/nodes")
    assert response.status_code == 200
    assert "Salt is not configured" in text(response) and "HUMMER_SALT_API_URL" in text(response)
    assert admin.get("/cluster").status_code == 200
    response = admin.post("/cluster/runs", {"kind": "plan"})
    assert response.status_code == 422 and "Exactly one node must be the master" in text(response)


def test_nodes_roles_and_generated_pillar(salted, salt_env):
    html = text(salted.get("/cluster/nodes"))
    for minion in salt_env.minion_ids:
        assert f"<code>{minion}</code>" in html
    assert "Debian" in html  # grains came back from the real minions
    assert "Exactly one node must be the master (now 0)." in html
    salted.post("/cluster/settings", SETTINGS)
    m, n1, n2 = salt_env.minion_ids[:3]
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node", "monitoring"]})
    html = text(salted.get("/cluster/nodes"))
    assert "The roles make a cluster." in html
    dashboard = text(salted.get("/"))
    assert f"<td><code>{m}</code></td><td>127.0.0.1</td><td>master, registry, nfs</td>" in dashboard
    pillar = yaml.safe_load(salt_env.cluster_pillar_path.read_text())
    assert pillar["hummer"]["cluster"]["pod_cidr"] == "172.16.0.0/16"
    assert pillar["hummer"]["cluster"]["service_cidr"] == "10.0.1.0/24"
    assert pillar["hummer"]["nodes"][m]["roles"] == ["master", "registry", "nfs"]
    assert pillar["hummer"]["nodes"][n2]["roles"] == ["node", "monitoring"]
    # An unknown role is refused and nothing changes.
    response = salted.post(f"/cluster/nodes/{n1}/roles", {"roles": ["emperor"]})
    assert response.status_code == 422 and "Unknown role(s) emperor" in text(response)
    assert db.session.scalar(db.select(ClusterNode.roles).filter_by(minion_id=n1)) == "node"


def test_pending_key_is_accepted_then_rejected(salted, salt_env):
    from tests.support.salt_harness import make_keypair
    pki = salt_env.root / "master" / "pki"
    (pki / "minions_pre").mkdir(exist_ok=True)
    newcomers = ("hm-newcomer", "hm-intruder")
    for name in newcomers:  # real key pairs, offered to the master as a new minion would
        pub = make_keypair(salt_env.root / f"{name}-pki", "minion")
        (pki / "minions_pre" / name).write_bytes(pub.read_bytes())
    try:
        html = text(salted.get("/cluster/nodes"))
        assert "Waiting for acceptance" in html and all(n in html for n in newcomers)
        assert salted.post("/cluster/keys/hm-newcomer/accept").status_code == 302
        assert (pki / "minions" / "hm-newcomer").exists()
        assert salted.post("/cluster/keys/hm-intruder/reject").status_code == 302
        assert (pki / "minions_rejected" / "hm-intruder").exists()
        # hm-newcomer is accepted but no minion runs under its name: the page must not wait
        # for it (asking every minion took Salt's timeout, 20 s); the second request says who answers.
        started = time.monotonic()
        html = text(salted.get("/cluster/nodes"))
        assert time.monotonic() - started < 8
        assert "Rejected: <code>hm-intruder</code>" in html and "Waiting for acceptance" not in html
        newcomer = next(r for r in find_all(html, "tr") if "hm-newcomer" in r.text)
        assert "no facts yet" in newcomer.text and "Debian 12" in html  # the others' cached grains
        assert find(html, id="ask-minions").get("hx-get") == "/cluster/nodes/answering"
        started = time.monotonic()
        answers = text(salted.get("/cluster/nodes/answering", htmx="ask-minions"))
        assert time.monotonic() - started < 10  # the ping's 5 s and the job lookup's 2 s, not 10 + 10
        assert find(answers, id="answer-hm-newcomer").text == "not answering"
        assert all(find(answers, id=f"answer-{m}").text == "answering" for m in salt_env.minion_ids)
    finally:
        for folder in ("minions", "minions_pre", "minions_rejected"):
            for name in newcomers:
                (pki / folder / name).unlink(missing_ok=True)


def test_preflight_table_from_real_minions(salted, salt_env):
    m, n1 = salt_env.minion_ids[:2]
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"]})
    response = salted.post("/cluster/preflight", htmx="preflight")
    html = text(response)
    assert response.status_code == 200, html[:1000]
    for check in ("os", "cpus", "memory", "swap", "ports", "master reachable", "disk"):
        assert f"<td>{check}</td>" in html
    assert "Debian 12" in html
    assert " passed, " in html


def test_plan_runs_the_orchestration_and_lists_what_would_change(salted, salt_env):
    m, n1, n2 = salt_env.minion_ids[:3]
    salted.post("/cluster/settings", SETTINGS)
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node"]})
    response = salted.post("/cluster/runs", {"kind": "plan"})
    assert response.status_code == 302
    run_url = response.headers["Location"]
    page = text(salted.get(run_url))
    assert 'id="run-progress"' in page and "<progress" in page
    html = wait_run(salted, run_url)
    assert 'data-status="succeeded"' in html, html[:3000]
    run = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    assert run.test and run.kind == "plan"
    steps = {(s.step, s.minion) for s in db.session.scalars(db.select(RunStep).filter_by(run_id=run.id))}
    assert ("registry", m) in steps and ("common", n1) in steps and ("nodes", n2) in steps
    assert "Would change" in html
    assert "hx-trigger" not in html  # the finished run stops polling


def test_failing_state_stops_the_run_and_names_node_and_state(app, salted, salt_env):
    m, n1, n2 = salt_env.minion_ids[:3]
    salted.post("/cluster/settings", SETTINGS)
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node"]})
    app.config["SALT_RUN_PILLAR"] = {"hummer_fail_state": {
        "component": "docker", "minion": n1, "comment": "disk full on purpose"}}
    response = salted.post("/cluster/runs", {"kind": "apply"})
    run_url = response.headers["Location"]
    html = wait_run(salted, run_url)
    assert 'data-status="failed"' in html
    assert f"Step runtime failed on {n1}" in html
    assert "disk full on purpose" in html
    assert "Retry from the failed step" in html
    run = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    ran = {s.step for s in run.steps}
    assert "master" not in ran and "nodes" not in ran, "steps after the failure must not run"
    # Retry without the failure: the steps that succeeded are skipped.
    app.config["SALT_RUN_PILLAR"] = {}
    response = salted.post(f"/cluster/runs/{run.id}/retry")
    retry_url = response.headers["Location"]
    html = wait_run(salted, retry_url)
    assert 'data-status="succeeded"' in html, html[:3000]
    retry = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    assert "registry" not in {s.step for s in retry.steps}
    assert {"runtime", "master", "nodes"} <= {s.step for s in retry.steps}


def test_add_node_touches_only_that_node_and_the_master(salted, salt_env):
    m, n1, n2 = salt_env.minion_ids[:3]
    salted.post("/cluster/settings", SETTINGS)
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node"]})
    response = salted.post("/cluster/runs", {"kind": "add_node", "target": n2})
    assert response.status_code == 302, text(response)[:500]
    html = wait_run(salted, response.headers["Location"])
    assert 'data-status="succeeded"' in html, html[:3000]
    run = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    touched = {s.minion for s in run.steps}
    assert n2 in touched and n1 not in touched, touched
    assert touched <= {n2, m}


def test_remove_node_plans_drain_and_reset(salted, salt_env):
    m, n1, n2 = salt_env.minion_ids[:3]
    assign(salted, {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node"]})
    response = salted.post("/cluster/runs", {"kind": "remove_node", "target": n1})
    html = wait_run(salted, response.headers["Location"])
    assert 'data-status="succeeded"' in html, html[:3000]
    run = db.session.scalar(db.select(ProvisioningRun).order_by(ProvisioningRun.id.desc()))
    assert {s.minion for s in run.steps} <= {m, n1} and n2 not in {s.minion for s in run.steps}
    # A dry run changes nothing: the node is still in the cluster.
    assert db.session.scalar(db.select(ClusterNode).filter_by(minion_id=n1)) is not None
    response = salted.post("/cluster/runs", {"kind": "remove_node", "target": "no-such-node"})
    assert response.status_code == 404
