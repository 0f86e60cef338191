"""Builds through the portal: the form, the queue, real buildah builds pushed to the suite's
real registry, read back with skopeo; failure, cancel, the queue's limit, bad input."""
from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import timedelta

import pytest
from markupsafe import escape

from portal.extensions import db
from portal.models import AuditEvent, Build, BuildLogChunk, ImagePush, utcnow
from portal.services import builds
from portal.services.builds import queue
from tests.support.waiting import wait_for
from tests.support.web import error_beside, text

GOOD = """FROM {base}
ARG GREETING=hello
ENV WHO=world
COPY site/ /site/
RUN echo "$GREETING $WHO" > /greeting && cat /site/index.html
"""


def tar_gz(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def builder(app, registries, busybox_base, tmp_path, login, team):
    """A developer of project alpha, on a portal that builds into the open registry."""
    app.config.update(REGISTRY_URL=registries["open"].url, BUILD_DIR=str(tmp_path / "builds"))
    web = login("dev")
    web.base = busybox_base
    web.registry = registries["open"]
    yield web
    wait_for(lambda: not db.session.scalar(db.select(Build).where(
        Build.status.in_(("queued", "building", "pushing")))) or db.session.commit(),
        timeout=60, what="no build left going")


def submit(web, files: dict, name="web", tag="1.0", **fields):
    data = {"source": "upload", "name": name, "tag": tag, "dockerfile": "Dockerfile",
            "context": (io.BytesIO(tar_gz(files)), "ctx.tar.gz"), **fields}
    return web.post("/projects/alpha/builds/new", data, content_type="multipart/form-data")


def ended(build_id: int, timeout: float = 90) -> Build:
    def probe():
        db.session.commit()
        build = db.session.get(Build, build_id)
        return build if build.status in ("pushed", "failed", "cancelled") else None
    return wait_for(probe, timeout=timeout, what=f"build {build_id} to end")


def newest() -> Build:
    db.session.commit()
    return db.session.scalar(db.select(Build).order_by(Build.id.desc()))


def test_an_uploaded_context_is_built_pushed_and_pulled_back(builder, tmp_path):
    response = submit(builder, {"Dockerfile": GOOD.format(base=builder.base),
                                "site/index.html": "<h1>shop</h1>"},
                      build_args="GREETING=hey")
    assert response.status_code == 302, text(response)[:2000]
    build = ended(newest().id)
    log = builds.text(build.id)
    assert build.status == "pushed", (build.message, log)
    assert "<h1>shop</h1>" in log  # the RUN step's output, in the kept log
    manifest = builder.registry.inspect("alpha/web:1.0")
    assert "WHO=world" in manifest["Env"]
    assert manifest["Digest"] == build.digest
    layers = builder.registry.pull("alpha/web:1.0", tmp_path / "pulled")["layers"]
    files = {}
    for layer in layers:
        blob = tmp_path / "pulled" / layer["digest"].split(":")[1]
        with tarfile.open(blob) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.lstrip("./") in ("greeting", "site/index.html"):
                    files[member.name.lstrip("./")] = tar.extractfile(member).read().decode()
    assert files == {"greeting": "hey world\n", "site/index.html": "<h1>shop</h1>"}
    record = db.session.scalar(db.select(ImagePush).filter_by(repository="alpha/web", tag="1.0"))
    assert record.digest == build.digest and record.pushed_by == "dev"
    actions = set(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.action.like("build.%"))))
    assert actions == {"build.queued", "build.pushed"}
    page = text(builder.get(f"/projects/alpha/builds/{build.id}"))
    assert build.digest in page and "Deploy" in page
    history = text(builder.get("/projects/alpha/builds"))
    assert "alpha/web:1.0" in history and "ctx.tar.gz" in history and build.digest[:19] in history
    assert not (tmp_path / "builds" / str(build.id)).exists(), "the workspace goes with the build"


def test_a_failing_run_step_fails_the_build_with_its_line_and_writes_no_tag(builder):
    dockerfile = f"FROM {builder.base}\nRUN echo about to fail && false\n"
    assert submit(builder, {"Dockerfile": dockerfile}, tag="broken").status_code == 302
    build = ended(newest().id)
    assert build.status == "failed"
    log = builds.text(build.id)
    assert "about to fail" in log
    assert "false" in build.message or "exit" in build.message, build.message
    page = text(builder.get(f"/projects/alpha/builds/{build.id}"))
    assert str(escape(build.message[:40])) in page
    with pytest.raises(AssertionError, match="manifest unknown"):
        builder.registry.inspect("alpha/web:broken")
    assert db.session.scalar(db.select(ImagePush).filter_by(tag="broken")) is None


def test_cancel_stops_a_running_build_and_the_next_one_starts(builder):
    slow = f"FROM {builder.base}\nRUN echo sleeping && sleep 600\n"
    assert submit(builder, {"Dockerfile": slow}, tag="slow").status_code == 302
    first = newest().id
    assert submit(builder, {"Dockerfile": f"FROM {builder.base}\nRUN true\n"}, tag="next").status_code == 302
    second = newest().id
    def slow_step_started():
        db.session.commit()  # a new transaction: MariaDB reads each one from its own snapshot
        return "RUN echo sleeping" in builds.text(first)
    wait_for(slow_step_started, timeout=60, what="the slow step to start")
    db.session.commit()
    assert db.session.get(Build, second).status == "queued"  # HUMMER_BUILD_CONCURRENCY is 1
    assert "waiting for a free build slot" in text(builder.get(f"/projects/alpha/builds/{second}"))
    response = builder.post(f"/projects/alpha/builds/{first}/cancel")
    assert response.status_code == 302
    build = ended(first, timeout=30)
    assert build.status == "cancelled" and build.message == "Cancelled by dev."
    assert ended(second).status == "pushed"
    with pytest.raises(AssertionError, match="manifest unknown"):
        builder.registry.inspect("alpha/web:slow")


def test_a_queued_build_is_cancelled_at_once(builder, app):
    app.config["BUILD_CONCURRENCY"] = 0  # read as 1: hold the one slot so that the build stays queued
    slot = queue.acquire_slot(app)
    try:
        assert submit(builder, {"Dockerfile": f"FROM {builder.base}\n"}, tag="q").status_code == 302
        build = newest()
        assert build.status == "queued"
        assert builder.post(f"/projects/alpha/builds/{build.id}/cancel").status_code == 302
        db.session.commit()
        assert db.session.get(Build, build.id).status == "cancelled"
        assert not queue.workspace(app, build.id).exists()
    finally:
        slot.release()


@pytest.mark.parametrize("files, fields, field, message", [
    ({"README": "no dockerfile here"}, {}, "dockerfile", "No Dockerfile"),
    ({"Dockerfile": "FROM scratch\n"}, {"dockerfile": "../Dockerfile"}, "dockerfile", "outside"),
    ({"Dockerfile": "FROM scratch\n"}, {"tag": "-bad"}, "tag", "A tag is up to 128"),
    ({"Dockerfile": "FROM scratch\n"}, {"name": "Web App"}, "name", "is not an image name"),
    ({"Dockerfile": "FROM scratch\n"}, {"build_args": "no equals sign"}, "build_args", "NAME=value"),
])
def test_bad_input_is_refused_beside_its_field_and_nothing_is_queued(builder, files, fields, field, message):
    response = submit(builder, files, **fields)
    assert response.status_code == 422
    assert message in error_beside(text(response), field)
    assert db.session.scalar(db.select(Build)) is None


def test_a_context_that_is_not_an_archive_or_escapes_is_refused(builder):
    data = {"source": "upload", "name": "web", "tag": "1", "context": (io.BytesIO(b"plain text"), "ctx.tar")}
    response = builder.post("/projects/alpha/builds/new", data, content_type="multipart/form-data")
    assert response.status_code == 422 and error_beside(text(response), "context")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data["context"] = (io.BytesIO(out.getvalue()), "evil.tar")
    response = builder.post("/projects/alpha/builds/new", data, content_type="multipart/form-data")
    assert response.status_code == 422 and error_beside(text(response), "context")
    assert db.session.scalar(db.select(Build)) is None


def test_no_registry_means_no_build(app, login, team):
    app.config["REGISTRY_URL"] = ""
    web = login("dev")
    response = submit(web, {"Dockerfile": "FROM scratch\n"})
    assert response.status_code == 503
    assert db.session.scalar(db.select(Build)) is None


def test_a_build_whose_process_died_ends_failed_and_keeps_its_log(app, team, tmp_path):
    project, _people = team
    app.config["BUILD_DIR"] = str(tmp_path / "builds")
    stale = utcnow() - timedelta(seconds=queue.STALE_SECONDS + 5)
    build = Build(project_id=project.id, repository="alpha/web", tag="1", source="upload", status="building",
                  worker="gone-host pid 1", started_at=stale, heartbeat_at=stale, build_args=json.dumps({}))
    db.session.add(build)
    db.session.flush()
    db.session.add(BuildLogChunk(build_id=build.id, text="STEP 1/2: FROM busybox\n"))
    db.session.commit()
    assert queue.sweep(app) == [build.id]
    db.session.commit()
    build = db.session.get(Build, build.id)
    assert build.status == "failed" and "portal stopped during the build" in build.message
    assert builds.text(build.id) == "STEP 1/2: FROM busybox\n"
    assert db.session.scalar(db.select(AuditEvent.action).filter_by(action="build.lost")) == "build.lost"
    # A build that beats is left alone.
    fresh = Build(project_id=project.id, repository="alpha/web", tag="2", source="upload", status="building",
                  worker="elsewhere pid 2", heartbeat_at=utcnow(), build_args="{}")
    db.session.add(fresh)
    db.session.commit()
    assert queue.sweep(app) == []


def test_the_log_streams_as_server_sent_events_and_ends(builder):
    assert submit(builder, {"Dockerfile": f"FROM {builder.base}\nRUN echo streamed-line\n"}, tag="s").status_code == 302
    build = ended(newest().id)
    body = builder.get(f"/projects/alpha/builds/{build.id}/log/stream").get_data(as_text=True)
    assert "event: line" in body and "streamed-line" in body
    assert body.rstrip().endswith(f"event: end\ndata: {build.status}")


def test_a_git_repository_is_built_from_its_sub_directory(builder, git_daemon):
    repo = git_daemon.repo("portal-shop.git", {"app/Dockerfile": f"FROM {builder.base}\nARG V=1\nRUN echo version $V\n",
                                        "README": "the shop"})
    fields = {"source": "git", "git_url": git_daemon.url("portal-shop.git"), "git_ref": repo.branch, "git_path": "app",
              "name": "shop", "tag": "git", "build_args": "V=7"}
    response = builder.post("/projects/alpha/builds/new", fields)
    assert response.status_code == 302, text(response)[:2000]
    build = ended(newest().id)
    assert build.status == "pushed", (build.message, builds.text(build.id))
    assert build.commit == repo.commit and build.git_path == "app"
    assert "version 7" in builds.text(build.id)
    assert builder.registry.inspect("alpha/shop:git")["Digest"] == build.digest
    history = text(builder.get("/projects/alpha/builds"))
    assert git_daemon.url("portal-shop.git") in history and repo.commit[:12] in history
    # An unknown ref and an unreachable repository are said beside their fields; nothing queues.
    count = db.session.scalar(db.select(db.func.count(Build.id)))
    response = builder.post("/projects/alpha/builds/new", dict(fields, git_ref="no-such-branch"))
    assert response.status_code == 422 and "no-such-branch" in error_beside(text(response), "git_ref")
    response = builder.post("/projects/alpha/builds/new", dict(fields, git_url=git_daemon.url("missing.git")))
    assert response.status_code == 422 and error_beside(text(response), "git_url")
    response = builder.post("/projects/alpha/builds/new", dict(fields, git_url="ext::sh -c touch% /tmp/pwned"))
    assert response.status_code == 422 and error_beside(text(response), "git_url")
    response = builder.post("/projects/alpha/builds/new", dict(fields, git_url=repo.file_url))
    assert response.status_code == 422 and error_beside(text(response), "git_url")  # file: is off by default
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Build.id))) == count


def test_a_context_over_the_limit_is_refused_packed_or_unpacked(builder, app):
    app.config["BUILD_CONTEXT_MAX_BYTES"] = 64 * 1024
    response = submit(builder, {"Dockerfile": "FROM scratch\n", "blob": os.urandom(100 * 1024)})  # no compression
    assert response.status_code == 413
    assert "too large" in text(response).lower() or "limit" in text(response).lower()
    response = submit(builder, {"Dockerfile": "FROM scratch\n", "zeros": bytes(1024 * 1024)})  # ~1 KiB packed
    assert response.status_code == 422
    assert error_beside(text(response), "context")
    assert db.session.scalar(db.select(Build)) is None
