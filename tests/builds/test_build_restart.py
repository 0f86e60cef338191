"""A portal killed during a build: the build's processes die with it, and the portal that
comes back marks the build failed with its log kept (never a ghost "building" row)."""
from __future__ import annotations

import io

from portal.extensions import db
from portal.models import Build
from portal.services import builds
from tests.builds.test_portal_builds import tar_gz
from tests.conftest import PASSWORD
from tests.support.buildah import processes_of
from tests.support.live_portal import LivePortal, portal_env
from tests.support.waiting import wait_for


def test_a_build_survives_a_portal_restart_as_failed_with_its_log(database_url, team, registries, busybox_base,
                                                                  tmp_path):
    builds_dir = tmp_path / "builds"
    env = portal_env(database_url, tmp_path / "instance", REGISTRY_URL=registries["open"].url,
                     BUILD_DIR=builds_dir, BUILD_STALE_SECONDS=3, SALT_RUN_STALE_SECONDS=4)
    first = LivePortal(env, tmp_path / "first.log", workers=1).wait_ready()
    try:
        web = first.client()
        assert web.login("dev", PASSWORD).status_code == 302
        context = tar_gz({"Dockerfile": f"FROM {busybox_base}\nRUN echo sleeping && sleep 600\n"})
        response = web.post("/projects/alpha/builds/new", {
            "source": "upload", "name": "web", "tag": "restart", "dockerfile": "Dockerfile",
            "csrf_token": web.token("/projects/alpha/builds/new")},
            files={"context": ("ctx.tar.gz", io.BytesIO(context), "application/gzip")})
        assert response.status_code == 302, response.text[:2000]
        build_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])

        def sleeping() -> bool:
            db.session.commit()  # a new snapshot each look
            return "RUN echo sleeping" in builds.text(build_id)
        wait_for(sleeping, timeout=90, what="the build's slow step to start")
        assert processes_of(str(builds_dir / str(build_id))), "buildah runs in the build's workspace"
    finally:
        first.kill()
    # buildah and its step die with the process that started them.
    wait_for(lambda: not processes_of(str(builds_dir / str(build_id))), timeout=15,
             what="the killed portal's buildah to end")
    db.session.commit()
    assert db.session.get(Build, build_id).status == "building"  # nobody has looked yet
    second = LivePortal(env, tmp_path / "second.log", workers=1).wait_ready()
    try:
        web = second.client()
        assert web.login("dev", PASSWORD).status_code == 302  # the first request starts its supervisor

        def failed() -> Build | None:
            db.session.commit()
            build = db.session.get(Build, build_id)
            return build if build.status == "failed" else None
        build = wait_for(failed, timeout=30, what="the new portal to mark the lost build failed")
        assert "portal stopped during the build" in build.message
        assert "RUN echo sleeping" in builds.text(build_id)  # the log up to the kill is kept
        page = web.get(f"/projects/alpha/builds/{build_id}").text
        assert "portal stopped during the build" in page and "RUN echo sleeping" in page
        assert not (builds_dir / str(build_id)).exists(), "the lost build's workspace is deleted"
    finally:
        second.stop()
