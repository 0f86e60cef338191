"""The orchestration follower: turns salt-api's events into RunStep rows (a RunWorker).

A live follower (runs.start_run) starts the orchestration itself. A resuming one (the
Supervisor, after the process that followed the run died) never starts it again: it
rebuilds its step jobs from the RunStep rows, looks the orchestration up (finished
meanwhile: completes the run from its return), adopts the step jobs that are running
now, and follows the events from there as the live one does. Reading Salt's tags, events
and returns is the adapter's (portal/adapters/salt/events.py, results.py).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import ProvisioningRun, RunKind, RunStatus, RunStep, utcnow
from portal.services.errors import Invalid, Unavailable
from portal.services.provisioning import registration
from portal.services.provisioning.access import salt
from portal.services.provisioning.settings import forget_node, nodes
from portal.services.provisioning.supervision import RunWorker

log = logging.getLogger(__name__)

ORCHESTRATIONS = {RunKind.PLAN: "orch.cluster", RunKind.APPLY: "orch.cluster",
                  RunKind.ADD_NODE: "orch.add_node", RunKind.REMOVE_NODE: "orch.remove_node"}
TEXT_LIMIT = 60000


def start(app: Flask, run_pk: int, api: salt_adapter.SaltAPI, pillar: dict, beat_at: datetime | None) -> "Follower":
    follower = Follower(app, run_pk, api, pillar, beat_at=beat_at)
    follower.start()
    return follower


def resume(app: Flask, run_pk: int, beat_at: datetime) -> "Follower":
    follower = Follower(app, run_pk, salt(), resume=True, beat_at=beat_at)
    follower.start()
    return follower


def record_result(row: RunStep, ret, success: bool = True) -> None:
    """A step's result on one minion, from its return ({state key: result} or render errors)."""
    outcome = salt_adapter.state_outcome(ret)
    if outcome.ran:
        row.states_done = outcome.total
        changing = [s.id for s in outcome.changing]
        row.states_changed = len(changing)
        row.changes = "\n".join(changing)[:TEXT_LIMIT]
        row.current_state = ""
        failed = outcome.first_failure()
        if failed is not None:
            row.status = RunStatus.FAILED
            row.failed_state = failed.id[:255]
            row.comment = failed.comment[:TEXT_LIMIT]
            row.output = failed.output()[:TEXT_LIMIT]
        else:
            row.status = RunStatus.SUCCEEDED if success else RunStatus.FAILED
    else:
        row.status = RunStatus.FAILED
        row.comment = outcome.errors
        row.output = row.comment


class Follower(RunWorker):
    """Follows one orchestration run to its end, and keeps its heartbeat while it does."""

    thread_prefix = "hummer-run"

    def __init__(self, app: Flask, run_pk: int, api: salt_adapter.SaltAPI, pillar: dict | None = None,
                 *, resume: bool = False, beat_at: datetime | None = None):
        super().__init__(app, run_pk, beat_at=beat_at)
        self.api, self.pillar, self.resume = api, pillar or {}, resume
        self.step_jobs: dict[str, str] = {}  # step jid -> step name

    def work(self) -> None:
        if self.resume:
            self._resume()
        else:
            self._follow()

    def _follow(self) -> None:
        run = self.run_row()
        deadline = time.monotonic() + self.app.config["SALT_RUN_TIMEOUT"]
        stream = self.api.events(read_timeout=30)  # open before starting, so nothing is missed
        try:
            job = self.api.orchestrate_async(run.orchestration, pillar=self.pillar, test=run.test)
            run.jid, run.status = str(job.get("jid", "")), RunStatus.RUNNING
            run.units_total = self._expected_units(run)
            db.session.commit()
        except BaseException:
            stream.close()
            raise
        self._watch(run, stream, deadline)

    def _resume(self) -> None:
        run = self.run_row()
        self.step_jobs = {s.jid: s.step for s in run.steps if s.jid}
        elapsed = (utcnow() - run.started_at).total_seconds()
        deadline = time.monotonic() + max(0.0, self.app.config["SALT_RUN_TIMEOUT"] - elapsed)
        stream = self.api.events(read_timeout=30)  # before the lookup: nothing after it is missed
        try:
            if self._finished_meanwhile(run):
                stream.close()
                return
            self._adopt_running_jobs(run)
        except BaseException:
            stream.close()
            raise
        self._watch(run, stream, deadline)

    def _watch(self, run: ProvisioningRun, stream: salt_adapter.EventStream, deadline: float) -> None:
        try:
            while True:
                try:
                    for event in stream:
                        if self.superseded.is_set():
                            return
                        if self._handle(run, event["tag"], event.get("data") or {}):
                            return
                        if time.monotonic() > deadline:
                            break
                except salt_adapter.SaltUnavailable:
                    pass  # no event for a while, or the stream broke: look the job up
                if self.superseded.is_set():
                    return
                if self._finished_meanwhile(run):
                    return
                if time.monotonic() > deadline:
                    self.finish(False, f"No result after {self.app.config['SALT_RUN_TIMEOUT']} s; "
                                       "the run was given up. Check the Salt master's log.")
                    return
                stream.close()
                stream = self.api.events(read_timeout=30)
        finally:
            stream.close()

    def _adopt_running_jobs(self, run: ProvisioningRun) -> None:
        """Step jobs that started while nobody followed the run and still run: follow them too."""
        targets = sorted({s.minion for s in run.steps} | {n.minion_id for n in nodes() if n.role_list})
        if not targets:
            return
        try:
            running = self.api.local(targets, "saltutil.running", tgt_type="list", timeout=15)
        except salt_adapter.SaltError as error:
            log.warning("run %s: cannot list the running jobs: %s", run.id, error)
            return
        for minion, jobs in running.items():
            for job in jobs if isinstance(jobs, list) else []:
                if not isinstance(job, dict) or salt_adapter.run_id_of(job) != run.run_id:
                    continue
                jid = str(job.get("jid", ""))
                step = self.step_jobs.setdefault(jid, salt_adapter.step_name(job))
                if self._step_row(run, jid, minion) is None:
                    db.session.add(RunStep(run=run, step=step, minion=minion, jid=jid, states_done=0))
        db.session.commit()

    def _expected_units(self, run: ProvisioningRun) -> int:
        """(step, node) pairs the orchestration will run, from its rendered high data."""
        try:
            shown = self.api.runner("state.orchestrate_show_sls", mods=run.orchestration, pillar=self.pillar)
        except salt_adapter.SaltError:
            return 0
        return salt_adapter.count_units(shown)

    def _step_row(self, run, jid, minion) -> RunStep | None:
        return db.session.scalar(select(RunStep).where(
            RunStep.run_id == run.id, RunStep.jid == jid, RunStep.minion == minion))

    def _handle(self, run: ProvisioningRun, tag: str, data: dict) -> bool:
        """Record one event; True when the run is over."""
        if salt_adapter.is_run_return(tag, run.jid):
            self._complete(run, data)
            return True
        event = salt_adapter.job_event(tag, data)
        if event is None:
            return False
        if event.kind == "new":
            if event.run_id != run.run_id:
                return False
            self.step_jobs[event.jid] = event.step
            for m in event.minions:
                if self._step_row(run, event.jid, m) is None:
                    db.session.add(RunStep(run=run, step=event.step, minion=m, jid=event.jid, states_done=0))
            db.session.commit()
            return False
        if event.jid not in self.step_jobs and event.kind == "ret" and event.minion:
            # A step whose start nobody saw (a resumed run): its return names the run too.
            if event.run_id == run.run_id:
                self.step_jobs[event.jid] = event.step
        if event.jid not in self.step_jobs or not event.minion:
            return False
        row = self._step_row(run, event.jid, event.minion)
        if row is None:
            row = RunStep(run=run, step=self.step_jobs[event.jid], minion=event.minion, jid=event.jid,
                          states_done=0)
            db.session.add(row)
        if event.kind == "prog":
            done, current = event.progress
            row.states_done = max(row.states_done, done)
            row.current_state = current[:255]
        else:
            record_result(row, event.result, event.success)
        db.session.commit()
        return False

    def _complete(self, run: ProvisioningRun, data: dict) -> None:
        summary = salt_adapter.summarize_orchestration(data)
        # Every (step, node) of the return gets its row with its final result, also the
        # ones whose events nobody recorded (the run was resumed, or an event was lost).
        rows = {(s.step, s.minion): s for s in run.steps}
        for step in summary["steps"]:
            if step["kind"] != "state":
                continue
            for minion, entry in step["minions"].items():
                row = rows.get((step["step"], minion))
                if row is None:
                    row = rows[(step["step"], minion)] = RunStep(
                        run=run, step=step["step"], minion=minion, jid=str(step["jid"] or ""),
                        status=RunStatus.RUNNING, states_done=0)
                    db.session.add(row)
                if row.status == RunStatus.RUNNING:
                    record_result(row, entry["return"])
        for fail in summary["failures"]:
            if not fail["minion"]:
                continue
            exists = rows.get((fail["step"], fail["minion"]))
            if exists is None:
                db.session.add(RunStep(run=run, step=fail["step"], minion=fail["minion"], status=RunStatus.FAILED,
                                       failed_state=fail["state"][:255], comment=fail["comment"][:TEXT_LIMIT]))
            elif exists.status != RunStatus.FAILED:
                exists.status, exists.comment = RunStatus.FAILED, fail["comment"][:TEXT_LIMIT]
        for row in run.steps:
            if row.status == RunStatus.RUNNING:  # no ret event arrived for it
                row.status = RunStatus.FAILED if not summary["success"] else RunStatus.SUCCEEDED
        message = ""
        if not summary["success"]:
            first = summary["failures"][0] if summary["failures"] else None
            message = (f"Step {first['step']} failed on {first['minion'] or 'the master'}"
                       f"{' in state ' + first['state'] if first['state'] else ''}: {first['comment']}"
                       if first else "The orchestration failed.")
        self.finish(summary["success"], message)

    def _finished_meanwhile(self, run: ProvisioningRun) -> bool:
        try:
            data = self.api.runner("jobs.lookup_jid", jid=run.jid)
        except salt_adapter.SaltError:
            return False
        if data:
            self._complete(run, {"return": data} if "return" not in data else data)
            return True
        return False

    # The end ------------------------------------------------------------------------

    def closing(self, run: ProvisioningRun, ok: bool, message: str) -> str:
        if ok and run.kind == RunKind.APPLY and not run.test:
            try:
                return "Registered for app management: " + registration.register_cluster(self.api)
            except (Invalid, Unavailable) as problem:
                return f"Applied, but the cluster is not registered for app management yet: {problem.message}"
        return message

    def closed(self, run: ProvisioningRun, ok: bool) -> None:
        if ok and run.kind == RunKind.REMOVE_NODE and not run.test:
            forget_node(run.target, self.api)
