"""Who follows a run: pages never start a follower; one supervisor per process claims stale
runs, and exactly one of several wins; a worker taken for dead does not overwrite the run."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from portal import create_app
from portal.adapters.salt.ssh import Target
from portal.extensions import db
from portal.models import AuditEvent, ProvisioningRun
from portal.services.provisioning import supervision
from portal.services.provisioning.enrolment import Enroller
from portal.services.provisioning.supervision import LOST, LOST_OTHER, LOST_STARTING, Supervisor, heartbeat_now


@pytest.fixture
def other_app(database_url, tmp_path):
    """A second portal on the same database, as another process or host would be."""
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret",
                        "INSTANCE_PATH": str(tmp_path / "other-instance"), "SALT_RUN_STALE_SECONDS": 5})
    yield other
    with other.app_context():
        db.engine.dispose()


def stale_run(**kw) -> ProvisioningRun:
    values = dict(run_id="hummer-stale", kind="apply", orchestration="orch.cluster", started_by="root",
                  heartbeat_at=heartbeat_now() - timedelta(minutes=2))
    values.update(kw)
    run = ProvisioningRun(**values)
    db.session.add(run)
    db.session.commit()
    return run


def fresh(run_pk: int) -> ProvisioningRun:
    db.session.rollback()
    return db.session.get(ProvisioningRun, run_pk)


def hummer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("hummer-")}


def test_pages_start_no_follower_even_for_a_stale_run(app, admin):
    app.config.update(SALT_RUN_STALE_SECONDS=5, SALT_API_URL="http://127.0.0.1:9")
    run = stale_run(status="running", jid="20261202150000000000")
    beat = run.heartbeat_at
    before = hummer_threads()
    for path in ("/", "/cluster", f"/cluster/runs/{run.id}", "/cluster/nodes"):
        assert admin.get(path).status_code in (200, 503), path
    assert hummer_threads() - before == set()
    again = fresh(run.id)
    assert again.status == "running" and again.heartbeat_at == beat
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action.like("cluster.run_%"))) is None


def test_a_stale_run_is_claimed_by_exactly_one_of_two_supervisors(app, other_app):
    app.config["SALT_RUN_STALE_SECONDS"] = 5
    run = stale_run()
    supervisors = [Supervisor(app), Supervisor(other_app)]
    barrier, taken = threading.Barrier(2), {}

    def sweep(i):
        barrier.wait()
        taken[i] = supervisors[i].sweep()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken.values()) == [[], [run.id]], taken
    assert (fresh(run.id).status, fresh(run.id).message) == ("failed", LOST_STARTING)
    lost = list(db.session.scalars(db.select(AuditEvent).filter_by(action=LOST, object_name=run.run_id)))
    assert len(lost) == 1
    assert Supervisor(app).sweep() == [] and Supervisor(other_app).sweep() == []


def test_an_enrolment_worker_taken_for_dead_does_not_overwrite_the_run(app, other_app):
    """One process marks the run failed (its heartbeat went stale); the old worker's finish
    must not turn it into a success afterwards."""
    app.config["SALT_RUN_STALE_SECONDS"] = 5
    run = stale_run(run_id="hummer-enrol", kind="ssh_host", orchestration="salt-ssh minion",
                    target="k8s-node3", status="running")
    worker = Enroller(app, run.id, Target(minion_id="k8s-node3", host="192.0.2.13", password="x"),
                      {"hummer": {"minion": {}}}, ssh=None, api=None, beat_at=run.heartbeat_at)
    assert Supervisor(other_app).sweep() == [run.id]
    assert (fresh(run.id).status, fresh(run.id).message) == ("failed", LOST_OTHER)

    assert worker.finish(True, "salt-minion runs on k8s-node3; its key waits for acceptance.") is False
    assert worker.superseded.is_set()
    after = fresh(run.id)
    assert (after.status, after.message) == ("failed", LOST_OTHER)
    assert worker.beat(db.engine) is False  # and it stops beating


def test_a_worker_that_still_holds_its_run_finishes_it(app):
    run = stale_run(run_id="hummer-mine", kind="ssh_host", orchestration="salt-ssh minion",
                    target="k8s-node4", status="running", heartbeat_at=heartbeat_now())
    worker = Enroller(app, run.id, Target(minion_id="k8s-node4", host="192.0.2.14", password="x"),
                      {"hummer": {"minion": {}}}, ssh=None, api=None, beat_at=run.heartbeat_at)
    assert worker.beat(db.engine) is True
    assert worker.finish(True, "salt-minion runs on k8s-node4.") is True
    assert (fresh(run.id).status, fresh(run.id).message) == ("succeeded", "salt-minion runs on k8s-node4.")


class _WatchedLock:
    """The worker's heartbeat lock, telling when another thread asks for it."""

    def __init__(self):
        self.lock, self.asked = threading.Lock(), threading.Event()

    def __enter__(self):
        if self.lock.locked():
            self.asked.set()
        self.lock.acquire()

    def __exit__(self, *exc):
        self.lock.release()

    def locked(self) -> bool:
        return self.lock.locked()


def test_a_heartbeat_due_as_the_worker_ends_the_run_waits_for_the_end(app, monkeypatch):
    """A heartbeat falls due just as the worker ends the run. It waits until the run is ended:
    before, it could commit a new beat between the worker reading its claim and closing on it,
    and the worker took its own beat for another process's claim and left the run going
    (seen in the full suite, with the 0.5 s beats of a 1 s stale period)."""
    run = stale_run(status="running", jid="20261207120000000000", heartbeat_at=heartbeat_now())
    worker = supervision.RunWorker(app, run.id, beat_at=run.heartbeat_at)
    worker.beating = _WatchedLock()
    engine, beats = db.engine, []
    beater = threading.Thread(target=lambda: beats.append(worker.beat(engine)))
    real_close = supervision.close

    def close_as_a_beat_falls_due(*args):
        beater.start()
        assert worker.beating.asked.wait(10), "the beat did not wait for the end"
        return real_close(*args)
    monkeypatch.setattr(supervision, "close", close_as_a_beat_falls_due)
    assert worker.finish(False, "it ended") is True
    beater.join(10)
    assert beats == [False]  # the run is over: the heartbeat stops, nothing overwritten
    again = fresh(run.id)
    assert (again.status, again.message) == ("failed", "it ended")
    assert not worker.superseded.is_set()


def test_one_supervisor_per_process_starts_with_the_first_request_when_asked(app, client):
    assert supervision.ensure_supervisor(app) is None  # TESTING: none unless a test asks
    app.config["SALT_SUPERVISE"] = True
    try:
        for _ in range(3):
            client.get("/healthz")
        running = [t for t in threading.enumerate() if t.name == "hummer-run-supervisor"]
        assert len(running) == 1 and running[0].is_alive()
    finally:
        supervision.stop_supervisor()
    assert not [t for t in threading.enumerate() if t.name == "hummer-run-supervisor"]
