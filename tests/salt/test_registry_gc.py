"""The registry's garbage collection, for real: the `registry.gc` state on a real minion
against a real docker-registry, from the Salt CLI and through the portal's admin pages.

The module's registry is set up by the formula itself: `registry.config` and
`registry.service` applied for real with every path redirected into a temporary root and
`service_manager: daemon` (no systemd here: the registry runs as `docker-registry serve`
with a pidfile, which registry.gc stops and starts as it would the systemd unit). One image
is pushed with skopeo and kept; each test pushes one of its own and deletes it by digest
(skopeo delete), so its blobs are garbage. A dry run must name exactly the garbage no real
run collected yet, and its bytes, and delete nothing; the real run frees the space, restarts
the registry (a new process), the deleted blobs answer 404 and the kept image still pulls.
The tests do not depend on their order: pytest groups the tests of one database (a
session-scoped parameter) together, so in the full suite the portal's tests, real run
included, run before the CLI's, which uses no database.

Both the registries of tests/support/registry.py are played: `open` (no auth) and `locked`
(htpasswd: its config.yml has the auth block, every read after the collection sends the
login). The portal's dry run and the real run run on both; the CLI dry run on the locked one.
"""
from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from portal.extensions import db
from portal.models import ClusterNode, RegistryGcRun
from tests.support.html import find
from tests.support.processes import free_port
from tests.support.registry import PASSWORD, USER, RegistryServer, oci_layout, pillar_for, run
from tests.support.waiting import wait_for

MINION = "hm-master"
COLLECTED = "hummer_registry_|-registry-gc-hummer_registry-collected_|-{config}_|-collected"


def storage_bytes(root: Path) -> int:
    """Bytes of every regular file under root, measured here (not by the module under test)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def storage_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def layout_blobs(layout: Path) -> dict[str, int]:
    """{digest: size} of every blob the OCI layout holds (manifest, config, layers)."""
    return {f"sha256:{p.name}": p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir()}


def pid_of(pidfile: Path) -> int:
    return int(pidfile.read_text().strip())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class GcRegistry:
    def __init__(self, name: str, root: Path, port: int):
        self.name, self.root = name, root
        self.locked = name == "locked"
        self.auth = (USER, PASSWORD) if self.locked else None
        self.pillar = pillar_for(root, port, auth=self.locked)
        self.pillar["hummer"]["registry"].update({
            "service_manager": "daemon",
            "daemon": {"pidfile": f"{root}/run/registry.pid", "log_file": f"{root}/registry.log"}})
        (root / "run").mkdir(parents=True, exist_ok=True)
        self.config_file = root / "etc/registry/config.yml"
        self.pidfile = root / "run/registry.pid"
        self.server: RegistryServer | None = None
        self.kept: dict[str, int] = {}
        self.kept_served: list[str] = []
        # Every blob made garbage and not collected yet (digest: bytes), and for each one the
        # registry served (the configs and layers), the repository it served it in.
        self.garbage: dict[str, int] = {}
        self.served: dict[str, str] = {}

    def salt(self, salt_env, fun: str, *args, test: bool = False):
        argv = [MINION, fun, *args, f"pillar={json.dumps(self.pillar)}"]
        if test:
            argv.append("test=True")
        out = salt_env.salt(*argv, timeout=300)[MINION]
        assert isinstance(out, dict), out
        return out

    def answers(self) -> bool:
        """/v2/ answers 200, with the login on the locked registry."""
        try:
            return requests.get(self.server.url + "/v2/", auth=self.auth, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def blob_file(self, digest: str) -> Path:
        hexdigest = digest.removeprefix("sha256:")
        return self.server.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"

    def blob_status(self, repo: str, digest: str) -> int:
        return requests.head(f"{self.server.url}/v2/{repo}/blobs/{digest}", auth=self.auth, timeout=10).status_code

    def make_garbage(self, work: Path) -> dict[str, int]:
        """Push an image of random layers to a repository of its own and delete it by digest:
        its blobs (manifest, config, layers) are garbage, still stored and served until a
        real run. Added to self.garbage; returned."""
        repo = f"gc/gone-{uuid.uuid4().hex[:8]}"
        layout = oci_layout(work / repo.replace("/", "_"),
                            [{"gone/a": os.urandom(64 * 1024)}, {"gone/b": os.urandom(4096)}])
        digest = self.server.push(layout, f"{repo}:1")
        run(["skopeo", "delete", "--tls-verify=false", *self.server.src_creds(),
             f"docker://{self.server.host}/{repo}@{digest}"])
        blobs = layout_blobs(layout)
        # Its config and layers, which the registry serves as blobs of the repository (the
        # manifest itself was a manifest revision, deleted with the tag)
        served = sorted(set(blobs) - {digest})
        assert not set(blobs) & set(self.kept) and len(served) == 3
        for d in blobs:  # still stored, still served: nothing collected yet
            assert self.blob_file(d).is_file()
        for d in served:
            assert self.blob_status(repo, d) == 200
        self.garbage.update(blobs)
        self.served.update(dict.fromkeys(served, repo))
        return blobs


@pytest.fixture(scope="module", params=["open", "locked"])
def gc_registry(request, salt_env, tmp_path_factory):
    """The formula's own registry (config + service, daemon manager), open or locked (htpasswd),
    with one image kept."""
    reg = GcRegistry(request.param, tmp_path_factory.mktemp(f"registry-gc-{request.param}"), free_port())
    try:
        applied = reg.salt(salt_env, "state.apply", "registry.config,registry.service")
        failed = {k: r["comment"] for k, r in applied.items() if r["result"] is not True}
        assert not failed, failed
        reg.server = RegistryServer(f"gc-{reg.name}", reg.root, reg.config_file,
                                    reg.pillar["hummer"]["cluster"]["registry_port"],
                                    *(reg.auth or ("", "")), config=yaml.safe_load(reg.config_file.read_text()))
        assert reg.answers(), "registry.service returned before the registry answered"
        # The locked one is locked: its config has the auth block, /v2/ wants the login
        assert ("auth" in reg.server.config) is reg.locked
        assert requests.get(reg.server.url + "/v2/", timeout=10).status_code == (401 if reg.locked else 200)
        keep = oci_layout(tmp_path_factory.mktemp("gc-keep") / "keep",
                          [{"keep/a": b"kept layer one\n"}, {"keep/b": b"kept layer two\n" * 50}])
        kept_manifest = reg.server.push(keep, "gc/keep:1")
        reg.kept = layout_blobs(keep)
        reg.kept_served = sorted(set(reg.kept) - {kept_manifest})
        yield reg
    finally:
        if reg.pidfile.exists() and alive(pid := pid_of(reg.pidfile)):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not alive(pid), timeout=30, what="the test registry to stop")


@pytest.fixture
def garbage(gc_registry, tmp_path) -> dict[str, int]:
    """This test's own garbage on gc_registry (see GcRegistry.make_garbage): whichever test ran
    before, a run finds garbage, and exactly gc_registry.garbage."""
    return gc_registry.make_garbage(tmp_path)


# On the locked registry only (the portal's dry run and real run below take both): in the full
# suite pytest runs it after them (they use the session's database), right after the locked
# ones, so that registry is still up and not set up twice.
@pytest.mark.parametrize("gc_registry", ["locked"], indirect=True)
@pytest.mark.usefixtures("garbage")
def test_cli_dry_run_names_the_garbage_and_deletes_nothing(salt_env, gc_registry):
    reg, storage = gc_registry, gc_registry.server.storage
    files, size = storage_files(storage), storage_bytes(storage)
    # The state in test mode, as an operator runs it: salt ... state.apply registry.gc test=True
    out = reg.salt(salt_env, "state.apply", "registry.gc", test=True)
    state = out[COLLECTED.format(config=reg.config_file)]
    assert state["result"] is None, state
    assert sorted(state["changes"]["blobs"]) == sorted(reg.garbage)
    assert state["changes"]["bytes"] == sum(reg.garbage.values())
    assert "would be deleted" in state["comment"]
    # The registry was neither stopped nor started: a plan only
    assert all(r["result"] is not False for r in out.values()), out
    pid = pid_of(reg.pidfile)
    assert alive(pid)
    # The execution module directly: a dry run by default
    found = salt_env.salt(MINION, "hummer_registry.gc", str(reg.config_file), "delete_untagged=True",
                          timeout=120)[MINION]
    assert found["retcode"] == 0 and found["dry_run"] is True, found
    assert found["blobs"] == sorted(reg.garbage) and found["bytes"] == sum(reg.garbage.values())
    assert found["storage_before"] == found["storage_after"] == size
    assert storage_files(storage) == files and storage_bytes(storage) == size
    assert pid_of(reg.pidfile) == pid and reg.answers()


@pytest.fixture
def gc_people(app, salt_env, make_user, login):
    """The portal on the test Salt, the master as the registry node, an admin and a user."""
    app.config.update(SALT_API_URL=salt_env.api_url, SALT_API_USER=salt_env.api_user,
                      SALT_API_PASSWORD=salt_env.api_password, SALT_API_EAUTH=salt_env.eauth)
    db.session.add(ClusterNode(minion_id=MINION, address="127.0.0.1", roles="master,nfs,registry"))
    db.session.commit()
    make_user("root", admin=True)
    make_user("olivia")
    return login


@pytest.fixture
def gc_portal(app, gc_people, gc_registry):
    """gc_people, with every Salt run's pillar pointing registry.gc at gc_registry."""
    app.config["SALT_RUN_PILLAR"] = gc_registry.pillar
    return gc_people


@pytest.mark.usefixtures("garbage")
def test_portal_dry_run_shows_blobs_and_bytes_and_deletes_nothing(gc_portal, gc_registry):
    admin = gc_portal("root")
    storage = gc_registry.server.storage
    files = storage_files(storage)
    page = admin.post("/admin/registry/gc/dry-run", htmx="gc-dry-run")
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    html = page.get_data(as_text=True)
    assert find(html, id="gc-found-blobs").text.strip() == f"{len(gc_registry.garbage)} blobs"
    run_row = db.session.scalar(db.select(RegistryGcRun))
    assert (run_row.dry_run, run_row.status, run_row.started_by) == (True, "succeeded", "root")
    assert run_row.blobs == len(gc_registry.garbage)
    assert run_row.bytes_freed == sum(gc_registry.garbage.values())
    digests = {li.text.strip() for li in find(html, id="gc-found-digests").find_all("li")}
    assert digests == set(gc_registry.garbage)
    assert find(html, id=f"gc-run-{run_row.id}") is not None  # the history, refreshed out of band
    assert storage_files(storage) == files
    for d, repo in gc_registry.served.items():
        assert gc_registry.blob_status(repo, d) == 200


def test_only_admins_reach_garbage_collection(gc_people):
    earlier = RegistryGcRun(dry_run=True, status="succeeded", started_by="root")
    db.session.add(earlier)
    db.session.commit()
    web = gc_people("olivia")
    assert web.get("/admin/registry/gc").status_code == 403
    assert web.get(f"/admin/registry/gc/runs/{earlier.id}").status_code == 403
    assert web.post("/admin/registry/gc/dry-run").status_code == 403
    assert web.post("/admin/registry/gc/run").status_code == 403
    assert db.session.scalars(db.select(RegistryGcRun.id)).all() == [earlier.id]  # nothing started


@pytest.mark.usefixtures("garbage")
def test_portal_real_run_frees_the_space_and_restarts_the_registry(gc_portal, gc_registry, tmp_path):
    admin = gc_portal("root")
    reg, storage = gc_registry, gc_registry.server.storage
    before, pid = storage_bytes(storage), pid_of(reg.pidfile)
    started = admin.post("/admin/registry/gc/run")
    assert started.status_code == 302, started.get_data(as_text=True)[:2000]
    url = started.headers["Location"]

    def over():
        page = admin.get(url, htmx="gc-run")
        status = find(page.get_data(as_text=True), id="gc-run").get("data-status")
        return page if status != "running" else None
    page = wait_for(over, timeout=300, interval=0.5, what="the garbage collection to end")
    html = page.get_data(as_text=True)
    run_row = db.session.scalar(db.select(RegistryGcRun))
    assert run_row.status == "succeeded", run_row.message
    collected, served = dict(reg.garbage), dict(reg.served)
    reg.garbage.clear()  # collected: no other test may expect it any more
    reg.served.clear()
    after = storage_bytes(storage)
    assert run_row.bytes_freed == before - after > 0
    assert before - after >= sum(collected.values())
    assert run_row.blobs == len(collected)
    assert find(html, id="gc-run-blobs").text.strip() == str(len(collected))
    # Restarted: a new process, answering; the deleted blobs are gone, the kept image pulls
    new_pid = pid_of(reg.pidfile)
    assert new_pid != pid and not alive(pid) and alive(new_pid)
    assert reg.answers()
    for d in collected:
        assert not reg.blob_file(d).exists()
    for d, repo in served.items():  # what the registry served before the run: gone, not from a cache
        assert reg.blob_status(repo, d) == 404
    for d in reg.kept_served:  # the kept ones answer, with the same login: the 404s are the collection's
        assert reg.blob_status("gc/keep", d) == 200
    manifest = reg.server.pull("gc/keep:1", tmp_path / "keep")
    assert {layer["digest"] for layer in manifest["layers"]} <= set(reg.kept)
    # The history shows it, with its bytes
    listing = admin.get("/admin/registry/gc").get_data(as_text=True)
    row = find(listing, id=f"gc-run-{run_row.id}")
    assert row.find("td", class_="gc-bytes").get("data-bytes") == str(before - after)
    # A dry run now finds nothing
    again = admin.post("/admin/registry/gc/dry-run", htmx="gc-dry-run")
    assert find(again.get_data(as_text=True), id="gc-found-blobs").text.strip() == "0 blobs"


@pytest.mark.parametrize("manager", ["systemd", "daemon"])
@pytest.mark.parametrize("test", [True, False], ids=["plan", "real"])
def test_gc_renders_stop_collect_start_for_each_service_manager(salt_env, manager, test):
    """registry.gc's states and their order: stop, collect, start, wait until it answers, and
    (a real run only) the explained failure, which comes after the start so that a failed
    collection never leaves the registry stopped (the collection itself is not failhard)."""
    pillar = {"hummer": {"registry": {"service_manager": manager}}}
    high = salt_env.salt(MINION, "state.show_sls", "registry.gc", f"pillar={json.dumps(pillar)}",
                         f"test={test}", timeout=120)[MINION]
    assert isinstance(high, dict), high
    stop, start = (("registry-gc-stop-cmd-run", "registry-gc-start-cmd-run") if manager == "daemon"
                   else ("registry-gc-service-dead", "registry-gc-service-running"))
    expected = {stop, "registry-gc-hummer_registry-collected", start, "registry-gc-listening-cmd-run"}
    if not test:
        expected.add("registry-gc-test-fail_without_changes")
    assert set(high) == expected, sorted(high)
    collected = high["registry-gc-hummer_registry-collected"]["hummer_registry"]
    assert {"failhard": False} in collected and {"delete_untagged": True} in collected
    if not test:
        fail = {k: v for a in high["registry-gc-test-fail_without_changes"]["test"] if isinstance(a, dict)
                for k, v in a.items()}
        assert fail["failhard"] is True
        assert fail["require"] == [{"cmd": "registry-gc-listening-cmd-run"}]
