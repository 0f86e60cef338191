"""Where builds run: on this portal host, at most HUMMER_BUILD_CONCURRENCY at once, the
rest queued in submission order.

    queue.dispatch(app)   # start queued builds while a slot is free: after a submit, at the
                          # end of each build, and at each sweep of the process's supervisor
    queue.sweep(app)      # builds whose process died end as failed (their log is kept);
                          # then dispatch

A slot is an exclusive flock on one of the files BUILD_DIR/slots/<k>.lock (k below the
concurrency): every gunicorn worker of the host competes for the same files, and the kernel
lets go of a slot when its process dies, so no slot is ever held by a ghost. A queued build
is taken with one UPDATE ... WHERE status = 'queued', so that exactly one process builds it.

The building thread (BuildWorker) writes the build's heartbeat every BEAT_SECONDS and reads
back whether someone asked to cancel; a build whose heartbeat is older than STALE_SECONDS
lost its process (a restart, an OOM kill) and the sweep marks it failed
(HUMMER_BUILD_STALE_SECONDS, default STALE_SECONDS). buildah dies with
the thread that started it (adapters/buildah.py), and the workspace goes when the build ends.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select, update

from portal.adapters import buildah as buildah_adapter
from portal.adapters import files
from portal.adapters import kube as kube_adapter
from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ACTIVE_BUILD_STATUSES, Build, BuildStatus, Project, utcnow
from portal.services import audit, kube_access
from portal.services.builds import context, incluster
from portal.services.builds.log import BuildLog
from portal.services.errors import ServiceError
from portal.services.images import access, pullsecrets
from portal.services.images.uploads import record_push
from portal.services.provisioning.supervision import heartbeat_now

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0
STALE_SECONDS = 20
LEFTOVER_SECONDS = 300
MESSAGE_LIMIT = 60000
LOST = ("The portal stopped during the build (a restart or a crash); the log up to then is kept. "
        "Start the build again.")
_dispatching = threading.Lock()


def host() -> str:
    return socket.gethostname()


def me() -> str:
    return f"{host()} pid {os.getpid()}"


def workspace(app: Flask, build_pk: int) -> Path:
    return Path(app.config["BUILD_DIR"]) / str(build_pk)


# Slots -----------------------------------------------------------------------------------

class Slot:
    def __init__(self, fd: int, index: int):
        self.fd, self.index = fd, index
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)  # closing the file lets go of its flock
                self.fd = -1


def acquire_slot(app: Flask) -> Slot | None:
    """A free slot of this host, or None when HUMMER_BUILD_CONCURRENCY builds are running."""
    folder = Path(app.config["BUILD_DIR"]) / "slots"
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(max(1, int(app.config["BUILD_CONCURRENCY"]))):
        fd = os.open(folder / f"{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(fd, index)
    return None


def _claim_next(app: Flask) -> int | None:
    """Take the oldest queued build of this host: one UPDATE that only one process wins."""
    table = Build.__table__
    with db.engine.begin() as conn:
        queued = list(conn.execute(select(table.c.id).where(
            table.c.status == BuildStatus.QUEUED, table.c.host == host()).order_by(table.c.id).limit(20)).scalars())
    for pk in queued:
        at = heartbeat_now()
        with db.engine.begin() as conn:
            taken = conn.execute(update(table).where(table.c.id == pk, table.c.status == BuildStatus.QUEUED).values(
                status=BuildStatus.BUILDING, worker=me(), started_at=at, heartbeat_at=at)).rowcount == 1
        if taken:
            return pk
    return None


def dispatch(app: Flask) -> list[int]:
    """Start queued builds while this host has a free slot; the ids of those started."""
    started: list[int] = []
    with _dispatching, app.app_context():
        while True:
            slot = acquire_slot(app)
            if slot is None:
                break
            pk = _claim_next(app)
            if pk is None:
                slot.release()
                break
            BuildWorker(app, pk, slot).start()
            started.append(pk)
    return started


# The building thread -------------------------------------------------------------------

class Outcome(Exception):
    """How a build ends, raised from anywhere in work()."""

    def __init__(self, status: BuildStatus, message: str = "", digest: str = ""):
        super().__init__(message)
        self.status, self.message, self.digest = status, message, digest


class BuildWorker(threading.Thread):
    def __init__(self, app: Flask, build_pk: int, slot: Slot):
        super().__init__(name=f"hummer-build-{build_pk}", daemon=True)
        self.app, self.build_pk, self.slot = app, build_pk, slot
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.worker = me()
        self.log: BuildLog | None = None

    def run(self) -> None:
        # English: what a build stores (its message, its log) is read later in any language.
        with self.app.app_context(), force_locale("en"):
            self.engine = db.engine  # the heartbeat thread has no app context of its own
            self.log = BuildLog(self.engine, self.build_pk, int(self.app.config["BUILD_LOG_MAX_BYTES"]))
            beater = threading.Thread(target=self._beat_loop, daemon=True, name=f"{self.name}-heartbeat")
            beater.start()
            try:
                outcome = Outcome(BuildStatus.FAILED, "The build ended without an outcome.")
                try:
                    self.work()
                except Outcome as ended:
                    outcome = ended
                except Exception as error:  # noqa: BLE001 - a build must never be left "building"
                    log.exception("build %s failed", self.build_pk)
                    db.session.rollback()
                    outcome = Outcome(BuildStatus.FAILED, f"The build failed: {error}")
                try:
                    self.log.line(f"[hummer] {outcome.status}{': ' + outcome.message if outcome.message else ''}")
                    self.log.flush()
                    self.finish(outcome)
                except Exception:  # noqa: BLE001 - the row went meanwhile (its project deleted)
                    log.warning("build %s: its end was not recorded", self.build_pk, exc_info=True)
                    db.session.rollback()
            finally:
                self.done.set()
                beater.join(10)
                files.remove(workspace(self.app, self.build_pk))
                self.slot.release()
                db.session.remove()
        dispatch(self.app)  # the next queued build, in this slot

    def work(self) -> None:
        config = self.app.config
        build = db.session.get(Build, self.build_pk)
        args = json.loads(build.build_args or "{}")
        repository, tag, dockerfile, git_path = build.repository, build.tag, build.dockerfile, build.git_path
        if build.source == "git" and config["BUILD_IN_CLUSTER"]:
            self.in_cluster(build, args)
        db.session.commit()  # end the read: the heartbeat thread writes the row meanwhile
        space = workspace(self.app, self.build_pk)
        root = space / "context"
        if not root.is_dir():
            raise Outcome(BuildStatus.FAILED, "The build's context is gone from this host.")
        source = context.subdir_in(root, git_path)  # the context itself for an empty path
        image = access.image_name(repository, tag)
        tool = buildah_adapter.Buildah(space / "storage", space / "run", binary=config["BUILDAH"],
                                       tls_verify=bool(config["BUILD_TLS_VERIFY"]))
        deadline = time.monotonic() + int(config["BUILD_TIMEOUT"])
        try:
            self.log.line(f"[hummer] building {image} from {dockerfile}")
            username, password = access.credentials()  # for the bases in the registry too
            tool.build(source, dockerfile, image, args, self.log.line, self.cancel, deadline,
                       username=username, password=password)
            self._status(BuildStatus.PUSHING)
            self.log.line(f"[hummer] pushing {image}")
            digest = tool.push(image, self.log.line, self.cancel, deadline, username, password)
        except buildah_adapter.Cancelled:
            raise self._cancelled() from None
        except buildah_adapter.TimedOut:
            raise self._timed_out() from None
        except buildah_adapter.BuildFailed as error:
            raise Outcome(BuildStatus.FAILED, error.line or str(error)) from None
        except buildah_adapter.BuildahError as error:
            raise Outcome(BuildStatus.FAILED, str(error)) from None
        finally:
            tool.remove_storage()
        raise Outcome(BuildStatus.PUSHED, "", digest)

    def in_cluster(self, build: Build, args: dict) -> None:
        """Build as a Job in the project's namespace (incluster.py); raises the Outcome."""
        config = self.app.config
        project = db.session.get(Project, build.project_id)
        image = access.image_name(build.repository, build.tag)
        builder = config["BUILD_IMAGE"] or access.image_name("library/buildah", "latest")
        deadline = time.monotonic() + int(config["BUILD_TIMEOUT"])
        db.session.commit()
        try:
            kube = kube_access.kube()
            secrets = pullsecrets.prepare(kube, project.name)
            spec = incluster.job_spec(build, image, args, builder=builder, tls_verify=bool(config["BUILD_TLS_VERIFY"]),
                                      timeout=int(config["BUILD_TIMEOUT"]), pull_secret=(secrets or [""])[0],
                                      privileged=bool(config["BUILD_PRIVILEGED"]))
            self.log.line(f"[hummer] building {image} in the cluster with {builder}")
            incluster.run(kube, project.name, spec, self.log.line, self.cancel, deadline)
            digest = access.registry(retries=1).manifest(build.repository, build.tag).digest
        except incluster.JobCancelled:
            raise self._cancelled() from None
        except incluster.JobTimedOut:
            raise self._timed_out() from None
        except incluster.JobFailed as error:
            raise Outcome(BuildStatus.FAILED, str(error)) from None
        except (kube_adapter.KubeError, registry_adapter.RegistryError, ServiceError) as error:
            raise Outcome(BuildStatus.FAILED, f"The in-cluster build failed: {getattr(error, 'message', error)}") \
                from None
        raise Outcome(BuildStatus.PUSHED, "", digest)

    def _cancelled(self) -> Outcome:
        """Cancelled, by whom cancel() wrote into the message."""
        message = db.session.scalar(select(Build.message).where(Build.id == self.build_pk)) or ""
        db.session.commit()
        return Outcome(BuildStatus.CANCELLED, message or "Cancelled.")

    def _timed_out(self) -> Outcome:
        return Outcome(BuildStatus.FAILED, f"The build took longer than {self.app.config['BUILD_TIMEOUT']} s "
                                           "(HUMMER_BUILD_TIMEOUT) and was stopped.")

    def _status(self, status: BuildStatus) -> None:
        table = Build.__table__
        with db.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == self.build_pk, table.c.worker == self.worker,
                                             table.c.status.in_(ACTIVE_BUILD_STATUSES)).values(status=status))

    def finish(self, outcome: Outcome) -> None:
        """End the build (if still this worker's), record the pushed tag and the audit event."""
        table = Build.__table__
        ended = db.session.execute(update(table).where(
            table.c.id == self.build_pk, table.c.worker == self.worker,
            table.c.status.in_(ACTIVE_BUILD_STATUSES),
        ).values(status=outcome.status, message=outcome.message[:MESSAGE_LIMIT], digest=outcome.digest,
                 finished_at=utcnow())).rowcount == 1
        if not ended:
            db.session.rollback()
            return
        build = db.session.get(Build, self.build_pk)
        db.session.refresh(build)
        project = db.session.get(Project, build.project_id)
        target = f"{build.repository}:{build.tag}"
        if outcome.status == BuildStatus.PUSHED:
            record_push(project, build.repository, build.tag, outcome.digest, self._size(build), build.started_by)
        detail = f"build {build.id}: {outcome.digest or outcome.message}"[:2000]
        if outcome.status == BuildStatus.PUSHED:
            audit.record(None, "build.pushed", "build", target, project, detail=detail)
        elif outcome.status == BuildStatus.CANCELLED:
            audit.record(None, "build.cancelled", "build", target, project, detail=detail)
        else:
            audit.record(None, "build.failed", "build", target, project, detail=detail)
        db.session.commit()

    def _size(self, build: Build) -> int:
        """The pushed image's compressed size (its layers), 0 if the registry does not say."""
        try:
            manifest = access.registry(retries=1).manifest(build.repository, build.tag)
        except (registry_adapter.RegistryError, Exception):  # noqa: BLE001 - a size is not worth failing for
            return 0
        return sum(int(layer.get("size", 0)) for layer in manifest.data.get("layers", []))

    # The heartbeat: a thread of its own, so that it beats while buildah runs ------------------

    def _beat_loop(self) -> None:
        while not self.done.wait(BEAT_SECONDS):
            try:
                self.log.flush()
                if not self.beat():
                    self.cancel.set()  # ended or taken for dead: stop building
                    return
            except Exception:  # noqa: BLE001 - the database may be away a moment: beat again later
                log.warning("build %s: heartbeat not written", self.build_pk, exc_info=True)

    def beat(self) -> bool:
        table = Build.__table__
        with self.engine.begin() as conn:
            written = conn.execute(update(table).where(
                table.c.id == self.build_pk, table.c.worker == self.worker,
                table.c.status.in_(ACTIVE_BUILD_STATUSES)).values(heartbeat_at=heartbeat_now())).rowcount == 1
            wanted = conn.execute(select(table.c.cancel_requested).where(table.c.id == self.build_pk)).scalar()
        if wanted:
            self.cancel.set()
        return written


# After a process died ------------------------------------------------------------------

def sweep(app: Flask) -> list[int]:
    """Fail the going builds nobody beats for any more (their log stays), drop workspaces of
    ended builds on this host, then dispatch. The ids of the builds marked failed."""
    table = Build.__table__
    lost: list[int] = []
    with app.app_context():
        cutoff = heartbeat_now() - timedelta(seconds=int(app.config.get("BUILD_STALE_SECONDS", STALE_SECONDS)))
        with db.engine.begin() as conn:
            stale = list(conn.execute(select(table.c.id).where(
                table.c.status.in_(ACTIVE_BUILD_STATUSES),
                (table.c.heartbeat_at.is_(None)) | (table.c.heartbeat_at < cutoff))).scalars())
        for pk in stale:
            ended = db.session.execute(update(table).where(
                table.c.id == pk, table.c.status.in_(ACTIVE_BUILD_STATUSES),
                (table.c.heartbeat_at.is_(None)) | (table.c.heartbeat_at < cutoff),
            ).values(status=BuildStatus.FAILED, message=LOST, finished_at=utcnow())).rowcount == 1
            if not ended:
                db.session.rollback()
                continue
            build = db.session.get(Build, pk)
            audit.record(None, "build.lost", "build", f"{build.repository}:{build.tag}",
                         db.session.get(Project, build.project_id), detail=f"build {pk}; marked failed by {me()}")
            db.session.commit()
            if build.host == host():
                files.remove(workspace(app, pk))
            if build.source == "git" and app.config["BUILD_IN_CLUSTER"]:
                _delete_job(build)
            lost.append(pk)
        _drop_leftovers(app)
        db.session.remove()
    dispatch(app)
    return lost


def _delete_job(build: Build) -> None:
    """The Job of a lost in-cluster build, so that it does not push after it was failed."""
    try:
        incluster.delete(kube_access.kube(), db.session.get(Project, build.project_id).name, build)
    except (kube_adapter.KubeError, ServiceError):
        log.warning("build %s: its Job could not be deleted", build.id, exc_info=True)


def _drop_leftovers(app: Flask) -> None:
    """Workspaces on this host whose build has ended or is gone."""
    folder = Path(app.config["BUILD_DIR"])
    if not folder.is_dir():
        return
    numbers = [int(p.name) for p in folder.iterdir() if p.name.isdigit()]
    if not numbers:
        return
    open_ones = set(db.session.scalars(select(Build.id).where(
        Build.id.in_(numbers), Build.status.in_((BuildStatus.QUEUED, *ACTIVE_BUILD_STATUSES)))))
    settled = time.time() - LEFTOVER_SECONDS  # a submit names its workspace just before it commits
    for number in numbers:
        path = folder / str(number)
        if number not in open_ones and path.lstat().st_mtime < settled:
            files.remove(path)
