"""A run outlives the portal process that follows it.

The portal runs here as real gunicorn processes from the venv, on the test's database
and the session's real salt-master and salt-api. One of them starts an Apply and is
SIGKILLed mid-run; the supervisor of one of the other processes follows it again (pages
only show runs). This test process runs a supervisor only where a test starts one.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
import requests

from portal.adapters.salt import summarize_orchestration
from portal.extensions import db
from portal.models import AuditEvent, ProvisioningRun, RunStep, utcnow
from portal.services import provisioning
from portal.services.provisioning.supervision import Supervisor
from tests.conftest import PASSWORD
from tests.support.live_portal import LivePortal
from tests.support.processes import free_port, pgroup_members
from tests.support.waiting import wait_for
from tests.support.web import TOKEN, text

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}
RESUMED_LINE = "Followed again after the portal restarted."


class Portal:
    """`gunicorn wsgi:app` (one worker, four threads) in a process group of its own."""

    def __init__(self, name: str, database_url: str, salt_env, tmp_path: Path, stale_seconds: int = 45,
                 run_pillar: dict | None = None):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUMMER_")}
        env.update(
            HUMMER_DATABASE_URL=database_url, HUMMER_INSTANCE_PATH=str(tmp_path / f"instance-{name}"),
            HUMMER_SECRET_KEY="resume-test-secret-key-of-32-bytes-at-least", HUMMER_SALT_API_URL=salt_env.api_url,
            HUMMER_SALT_API_USER=salt_env.api_user, HUMMER_SALT_API_PASSWORD=salt_env.api_password,
            HUMMER_SALT_API_EAUTH=salt_env.eauth, HUMMER_SALT_PILLAR_FILE=str(salt_env.cluster_pillar_path),
            HUMMER_SALT_DRY_RUN="1", HUMMER_SALT_RUN_STALE_SECONDS=str(stale_seconds),
            HUMMER_SALT_RUN_PILLAR=json.dumps(run_pillar or {}))
        self.live = LivePortal({k: v for k, v in env.items() if k.startswith("HUMMER_")},
                               tmp_path / f"portal-{name}.log", workers=1, threads=4, port=self.port)
        self.proc, self.log_path = self.live.proc, self.live.log_path
        self.session = requests.Session()

    def wait_ready(self, timeout: float = 60) -> "Portal":
        try:
            self.live.wait_ready(timeout)
        except AssertionError as error:
            raise AssertionError(f"portal {self.name}: {error}") from None
        return self

    def log(self) -> str:
        return self.live.log()

    def token(self, path: str) -> str:
        match = TOKEN.search(self.session.get(self.url + path, timeout=30).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1) or match.group(2)

    def login(self, username: str) -> "Portal":
        response = self.session.post(self.url + "/login", allow_redirects=False, timeout=30, data={
            "username": username, "password": PASSWORD, "csrf_token": self.token("/login")})
        assert response.status_code == 302, response.text[:500]
        return self

    def start_run(self, kind: str) -> str:
        response = self.session.post(self.url + "/cluster/runs", allow_redirects=False, timeout=60,
                                     data={"kind": kind, "csrf_token": self.token("/cluster")})
        assert response.status_code == 302, response.text[:2000]
        return response.headers["Location"].replace(self.url, "")

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url + path, timeout=60, **kw)

    def kill(self) -> None:
        """What an OOM kill or a crash does: SIGKILL to every process of the portal, no goodbye."""
        self.live.kill()

    def stop(self) -> None:
        self.live.stop(15)


@pytest.fixture
def portals(database_url, salt_env, tmp_path):
    """Start portal processes on the test's database; every one is stopped afterwards."""
    started = []

    def start(name: str, stale_seconds: int = 45, run_pillar: dict | None = None) -> Portal:
        portal = Portal(name, database_url, salt_env, tmp_path, stale_seconds, run_pillar)
        started.append(portal)
        return portal

    yield start
    for portal in started:
        portal.stop()


@pytest.fixture
def settled(salt_portal, admin, salt_api):
    """The wizard on the real Salt master; no run is left going in Salt or here afterwards."""
    yield admin
    deadline = time.monotonic() + 300
    db.session.rollback()
    for run in db.session.scalars(db.select(ProvisioningRun).where(ProvisioningRun.jid != "")):
        while not salt_api.runner("jobs.lookup_jid", jid=run.jid) and time.monotonic() < deadline:
            time.sleep(1)
    while time.monotonic() < deadline and any(
            t.name.startswith("hummer-run-") for t in threading.enumerate()):
        time.sleep(0.5)


def setup_cluster(web, salt_env):
    m, n1, n2 = salt_env.minion_ids[:3]
    assert web.post("/cluster/settings", SETTINGS).status_code == 302
    for minion, roles in {m: ["master", "registry", "nfs"], n1: ["node"], n2: ["node"]}.items():
        response = web.post(f"/cluster/nodes/{minion}/roles", {"roles": roles, "address": "127.0.0.1"})
        assert response.status_code == 302, text(response)[:500]


def fresh_run(run_pk: int) -> ProvisioningRun:
    db.session.rollback()  # see what the other processes committed
    return db.session.get(ProvisioningRun, run_pk)


def wait_until(condition, timeout: float, message: str, every: float = 0.3):
    return wait_for(condition, timeout=timeout, interval=every, what=message)


def resumed_events(run: ProvisioningRun) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(db.select(AuditEvent).filter_by(
        action=provisioning.RESUMED, object_name=run.run_id)))


def step_rows(html: str) -> list[tuple[str, str, str]]:
    """(status, node, step) of every row of the run page's table, in order."""
    return re.findall(r'<tr class="step-(\w+)"><td><code>([^<]+)</code></td><td>([^<]+)</td>', html)


def test_a_killed_portals_run_is_followed_again_by_one_process_to_its_end(
        app, settled, portals, salt_env, salt_api):
    setup_cluster(settled, salt_env)
    first = portals("first").wait_ready().login("root")
    run_url = first.start_run("apply")
    run_pk = int(run_url.rstrip("/").rsplit("/", 1)[1])
    wait_until(lambda: fresh_run(run_pk).steps, 120, "no step was recorded by the first portal")
    first.kill()
    killed_at = time.monotonic()
    run = fresh_run(run_pk)
    assert run.status == "running" and run.jid
    recorded_before = {(s.step, s.minion) for s in run.steps}

    # Right after the kill the heartbeat is fresh: a page does not take the run yet.
    html = text(settled.get(run_url))
    assert 'data-status="running"' in html and RESUMED_LINE not in html
    assert not resumed_events(run)

    # Two more processes, each with its supervisor: once the heartbeat is stale, exactly one takes the run.
    stale = 5
    viewers = [portals(name, stale_seconds=stale) for name in ("second", "third")]
    for viewer in viewers:
        viewer.wait_ready().login("root")
    wait_until(lambda: resumed_events(run), 90, "no supervisor took the run over")
    barrier, pages = threading.Barrier(len(viewers)), {}

    def view(viewer):
        barrier.wait()
        pages[viewer.name] = viewer.get(run_url)

    threads = [threading.Thread(target=view, args=(v,)) for v in viewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(p.status_code == 200 for p in pages.values()), {n: p.text[:500] for n, p in pages.items()}
    claims = resumed_events(run)
    assert len(claims) == 1, [c.detail for c in claims]
    follower_pid = int(re.search(r"pid (\d+)", claims[0].detail).group(1))
    assert any(follower_pid in pgroup_members(v.proc.pid) for v in viewers), claims[0].detail

    app.config["SALT_RUN_STALE_SECONDS"] = stale  # this process may look too, and must not take it again
    wait_until(lambda: fresh_run(run_pk).status not in ("starting", "running"), 400,
               f"the resumed run did not finish:\n{[v.log() for v in viewers]}", every=1)
    print(f"run finished {time.monotonic() - killed_at:.0f}s after the kill; "
          f"{len(recorded_before)} (step, node) recorded before it")
    html = text(settled.get(run_url))
    assert 'data-status="succeeded"' in html, unescape(html)[:3000]
    assert RESUMED_LINE in html
    assert "hx-trigger" not in html

    # Every (step, node) of the orchestration is on the page once, succeeded: also those that
    # ran while no portal followed the run.
    summary = summarize_orchestration(salt_api.runner("jobs.lookup_jid", jid=run.jid))
    assert summary["success"], summary["failures"]
    expected = {(m, s["step"]) for s in summary["steps"] if s["kind"] == "state" for m in s["minions"]}
    rows = step_rows(html)
    assert sorted((node, step) for _, node, step in rows) == sorted(expected)
    assert {status for status, _, _ in rows} == {"succeeded"}
    assert {(step, node) for node, step in expected} >= recorded_before
    assert ("master", "hm-master") in {(s, n) for n, s in expected}
    assert len(resumed_events(run)) == 1


def test_a_run_that_ended_while_no_portal_followed_it_is_completed_from_salts_job_cache(
        app, settled, portals, salt_env, salt_api):
    """The orchestration fails and ends while nobody follows it; the page still names node, state and why."""
    setup_cluster(settled, salt_env)
    m, node = salt_env.minion_ids[0], salt_env.minion_ids[2]
    first = portals("first", run_pillar={"hummer_fail_state": {
        "component": "kubernetes.node", "minion": node, "comment": "disk full on purpose"}})
    first.wait_ready().login("root")
    response = first.session.post(first.url + "/cluster/runs", allow_redirects=False, timeout=60, data={
        "kind": "add_node", "target": node, "csrf_token": first.token("/cluster")})
    assert response.status_code == 302, response.text[:2000]
    run_url = response.headers["Location"].replace(first.url, "")
    run_pk = int(run_url.rstrip("/").rsplit("/", 1)[1])
    wait_until(lambda: fresh_run(run_pk).steps, 120, "no step was recorded by the first portal")
    first.kill()
    run = fresh_run(run_pk)
    recorded_before = {(s.step, s.minion) for s in run.steps}
    wait_until(lambda: salt_api.runner("jobs.lookup_jid", jid=run.jid), 400,
               "the orchestration did not end", every=1)
    assert fresh_run(run_pk).status == "running"  # nobody recorded the end

    app.config["SALT_RUN_STALE_SECONDS"] = 1
    supervisor = Supervisor(app)  # this process's, as a portal process runs it
    assert wait_until(lambda: supervisor.sweep(), 30, "the supervisor did not take the run") == [run_pk]
    html = text(settled.get(run_url))
    assert RESUMED_LINE in html
    html = unescape(wait_until(lambda: (lambda h: 'data-status="running"' not in h and h)(
        text(settled.get(run_url, htmx="run-progress"))), 60, "the run was not completed", every=0.5))
    assert 'data-status="failed"' in html
    assert f"Step join failed on {node}" in html and "disk full on purpose" in html
    assert "Retry from the failed step" in html
    rows = step_rows(html)
    assert rows == [("succeeded", node, "common"), ("succeeded", node, "runtime"), ("failed", node, "join"),
                    ("succeeded", m, "token")], rows
    assert len(recorded_before) < len(rows), "the kill came too late to miss anything"
    join = db.session.scalar(db.select(RunStep).filter_by(run_id=run_pk, step="join"))
    assert join.failed_state == "kubernetes-node-failpoint-test-configurable_test_state"
    assert f'<strong>{join.failed_state}</strong>' in html
    runtime = db.session.scalar(db.select(RunStep).filter_by(run_id=run_pk, step="runtime"))
    assert runtime.states_done > 0 and runtime.states_changed > 0  # "would change", from the return


def test_a_run_lost_before_salt_accepted_it_turns_failed(app, admin):
    app.config["SALT_RUN_STALE_SECONDS"] = 5
    run = ProvisioningRun(run_id="hummer-lost", kind="apply", orchestration="orch.cluster",
                          started_by="root", heartbeat_at=utcnow() - timedelta(minutes=2))
    db.session.add(run)
    db.session.commit()
    assert run.status == "starting" and run.jid == ""

    assert Supervisor(app).sweep() == [run.id]
    html = text(admin.get("/cluster"))
    assert re.search(rf'<td>{run.id}</td><td>apply</td>\s*<td><span class="badge status-failed">failed</span>', html)

    html = unescape(text(admin.get(f"/cluster/runs/{run.id}")))
    assert 'data-status="failed"' in html
    assert "The portal stopped before Salt accepted the run; start it again." in html
    assert "Retry from the failed step" in html


def test_a_lost_run_that_is_no_orchestration_turns_failed(app, admin):
    app.config["SALT_RUN_STALE_SECONDS"] = 5
    run = ProvisioningRun(run_id="hummer-lost-host", kind="ssh_host", orchestration="salt-ssh minion",
                          status="running", started_by="root", heartbeat_at=utcnow() - timedelta(minutes=2))
    db.session.add(run)
    db.session.commit()
    assert Supervisor(app).sweep() == [run.id]
    html = unescape(text(admin.get(f"/cluster/runs/{run.id}")))
    assert 'data-status="failed"' in html
    assert "The portal stopped during the run, and a run of this kind cannot be followed again" in html
    assert "add the host again on the Nodes page" in html
    response = admin.post(f"/cluster/runs/{run.id}/retry", {})
    assert response.status_code == 422
    assert "adding it again on the Nodes page" in unescape(text(response))


def test_a_starting_run_with_a_fresh_heartbeat_is_left_alone(app, admin):
    app.config["SALT_RUN_STALE_SECONDS"] = 5
    run = ProvisioningRun(run_id="hummer-starting", kind="apply", orchestration="orch.cluster",
                          started_by="root", heartbeat_at=utcnow())
    db.session.add(run)
    db.session.commit()
    assert Supervisor(app).sweep() == []
    html = text(admin.get(f"/cluster/runs/{run.id}"))
    assert 'data-status="starting"' in html and "start it again" not in html
    assert fresh_run(run.id).status == "starting"


def test_a_followed_run_is_not_taken_over_by_views(app, settled, portals, salt_env):
    stale = 4  # the follower beats every second
    app.config["SALT_RUN_STALE_SECONDS"] = stale
    other = portals("other", stale_seconds=stale)
    setup_cluster(settled, salt_env)
    response = settled.post("/cluster/runs", {"kind": "plan"})
    assert response.status_code == 302, text(response)[:500]
    run_url = response.headers["Location"]
    run = fresh_run(int(run_url.rstrip("/").rsplit("/", 1)[1]))
    other.wait_ready().login("root")
    # Views from this process and from another one, for three stale periods while the run goes on.
    deadline = time.monotonic() + 3 * stale
    views = 0
    while time.monotonic() < deadline:
        for html in (text(settled.get(run_url, htmx="run-progress")), other.get(run_url).text):
            assert RESUMED_LINE not in html
            views += 1
        assert fresh_run(run.id).status in ("starting", "running"), "the plan finished too early for this test"
        time.sleep(0.5)
    beat = fresh_run(run.id).heartbeat_at
    assert utcnow() - beat <= timedelta(seconds=stale), beat
    html = wait_until(lambda: (lambda h: 'data-status="running"' not in h and h)(
        text(settled.get(run_url, htmx="run-progress"))), 400, "the plan did not finish", every=1)
    assert 'data-status="succeeded"' in html and RESUMED_LINE not in html
    assert not resumed_events(run), views
