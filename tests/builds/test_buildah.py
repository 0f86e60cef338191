"""Real buildah builds (portal/adapters/buildah.py) on the busybox base in the suite's real
registry: RUN, COPY, ARG and ENV land in the pushed image as skopeo reads it back; a failing
step, a cancel and a deadline as a user sees them; hostile values never become options; the
locked registry's password never shows in a process's argv."""
from __future__ import annotations

import json
import tarfile
import threading
import time
from pathlib import Path

import pytest

from portal.adapters.buildah import Buildah, BuildahError, BuildahMissing, BuildFailed, Cancelled, TimedOut
from tests.support.buildah import cli, processes_of, session_members
from tests.support.waiting import wait_for

DOCKERFILE = """ARG BASE
FROM ${BASE}
ARG GREETING=none
ENV GREETING=$GREETING MODE=built-by-hummer
COPY app/ /app/
RUN echo "$GREETING" > /app/greeting && cp /app/data.txt /app/copy.txt \\
 && head -c 10000 /dev/zero | tr '\\0' a && echo && echo after-the-long-line
"""


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def storage(tmp_path: Path, **kwargs) -> Buildah:
    """An adapter on tmp_path/storage/{root,run} (where tests.support.buildah.cli looks too)."""
    return Buildah(tmp_path / "storage" / "root", tmp_path / "storage" / "run",
                   tls_verify=kwargs.pop("tls_verify", False), **kwargs)


def make_context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = tmp_path / "context"
    (context / "app").mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {"app/data.txt": "data from the context\n"}).items():
        (context / name).write_text(content)
    return context


def later(seconds: float = 120) -> float:
    return time.monotonic() + seconds


def pulled_files(server, reference: str, where: Path) -> tuple[dict[str, bytes], dict]:
    """The files of the pushed image (later layers over earlier ones) and its config, as skopeo pulls them."""
    manifest = server.pull(reference, where)
    files: dict[str, bytes] = {}
    for descriptor in manifest["layers"]:
        with tarfile.open(where / descriptor["digest"].split(":", 1)[1], "r:*") as layer:
            for member in layer:
                if member.isreg():
                    files[member.name.lstrip("./")] = layer.extractfile(member).read()
    config = json.loads((where / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    return files, config


def test_a_build_with_run_copy_arg_and_env_is_pushed_and_pulled_back(busybox_base, registries, tmp_path):
    server = registries["open"]
    tag = f"{server.host}/builds/web:1"
    tool = storage(tmp_path)
    log = Log()
    context = make_context(tmp_path, DOCKERFILE)
    started = time.monotonic()
    image_id = tool.build(context, "Dockerfile", tag, {"BASE": busybox_base, "GREETING": "hello world"}, log,
                          threading.Event(), later())
    built = time.monotonic() - started
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert any(line.startswith("STEP 5/5: RUN") for line in log.lines), log.lines
    long = [line for line in log.lines if line.startswith("aaaa")]
    assert [len(line) for line in long] == [4096], "a long output line is cut at 4 KiB"
    assert "after-the-long-line" in log.lines, "the line after a long one is intact"

    digest = tool.push(tag, log, threading.Event(), later())
    assert server.inspect("builds/web:1")["Digest"] == digest
    files, config = pulled_files(server, "builds/web:1", tmp_path / "pulled")
    assert files["app/greeting"] == b"hello world\n"
    assert files["app/copy.txt"] == files["app/data.txt"] == b"data from the context\n"
    assert "bin/busybox" in files, "the base's layer is in the pushed image"
    env = config["config"]["Env"]
    assert "GREETING=hello world" in env and "MODE=built-by-hummer" in env
    print(f"small build through the adapter: {built:.2f} s")

    assert (tmp_path / "storage" / "root").is_dir()
    assert tool.remove_storage() is True
    assert list((tmp_path / "storage").iterdir()) == []


def test_a_failing_run_step_says_which_step_and_why(busybox_base, tmp_path):
    context = make_context(tmp_path, f"FROM {busybox_base}\nRUN echo checking && ls /no-such-file\nRUN true\n")
    log = Log()
    with pytest.raises(BuildFailed) as caught:
        storage(tmp_path).build(context, "Dockerfile", "localhost/fails:1", {}, log, threading.Event(), later())
    error = caught.value
    assert 'STEP "RUN echo checking && ls /no-such-file"' in error.line and "exit status 1" in error.line
    assert "/no-such-file" in error.detail and "No such file" in error.detail
    assert "checking" in log.lines
    assert error.line in error.message


@pytest.mark.parametrize("order", ["stdout first", "stderr first"])
def test_the_reason_is_the_failed_steps_error_line_whichever_stream_came_first(order):
    """buildah relays a RUN step's stdout and stderr in either order (seen in a full run)."""
    from portal.adapters.buildah import _meaningful
    said = ["checking", "ls: /no-such-file: No such file or directory"]
    tail = ["STEP 1/3: FROM base", "an earlier step's line", 'STEP 2/3: RUN echo checking && ls /no-such-file',
            *(said if order == "stdout first" else said[::-1]), "subprocess exited with status 1",
            'Error: building at STEP "RUN echo checking && ls /no-such-file": exit status 1']
    line, detail = _meaningful(tail)
    assert line == 'building at STEP "RUN echo checking && ls /no-such-file": exit status 1'
    assert detail == "ls: /no-such-file: No such file or directory"
    assert _meaningful(["STEP 1/1: RUN false", "Error: building at STEP: exit status 1"])[1] == ""


def long_run(tmp_path: Path, busybox_base: str) -> Path:
    return make_context(tmp_path, f"FROM {busybox_base}\nRUN echo sleeping && sleep 60\n")


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_a_long_run_step_is_stopped_with_everything_it_started(busybox_base, tmp_path, how):
    context = long_run(tmp_path, busybox_base)
    cancel = threading.Event()
    seen: dict[str, object] = {}

    def on_line(line: str) -> None:
        if line == "sleeping":
            # buildah, its chroot runtime and the step's shell and sleep, all still running
            leader = [pid for pid, argv in processes_of(str(tmp_path / "storage")) if " bud " in argv]
            seen["sid"] = leader[0]
            seen["members"] = wait_for(lambda: len(session_members(leader[0])) >= 3 and session_members(leader[0]),
                                       timeout=30, what="the RUN step's processes")
            seen["at"] = time.monotonic()
            if how == "cancel":
                cancel.set()
    deadline = later(60 if how == "cancel" else 10)  # 10 s: to pull the base and start the step when busy
    with pytest.raises(Cancelled if how == "cancel" else TimedOut):
        storage(tmp_path).build(context, "Dockerfile", "localhost/long:1", {}, on_line, cancel, deadline)
    ended = time.monotonic()
    assert "sid" in seen, "the step never started"
    waited = ended - (seen["at"] if how == "cancel" else deadline)
    assert waited < 5, f"the build took {waited:.1f} s to stop"
    assert session_members(seen["sid"]) == [], "processes of the build outlived it"
    assert processes_of(str(tmp_path / "storage")) == []


@pytest.mark.parametrize("tag", ["--help", "-t=x", "--tag=evil"])
def test_a_hostile_tag_is_a_failed_build_not_an_option(busybox_base, tmp_path, tag):
    context = make_context(tmp_path, f"FROM {busybox_base}\n")
    log = Log()
    with pytest.raises(BuildFailed) as caught:
        storage(tmp_path).build(context, "Dockerfile", tag, {}, log, threading.Event(), later())
    assert "invalid reference format" in caught.value.line
    assert not any("Usage:" in line for line in log.lines), "buildah read the tag as --help"


def test_hostile_build_arguments_arrive_verbatim_and_are_no_options(busybox_base, tmp_path):
    tool = storage(tmp_path)
    context = make_context(tmp_path, f"FROM {busybox_base}\nARG X\nARG Y\nRUN echo \"X=[$X] Y=[$Y]\"\n")
    log = Log()
    tool.build(context, "Dockerfile", "localhost/args:1", {"X": "--tag=localhost/evil:1", "Y": "-t=x --help",
                                                           "--help": "-q"}, log, threading.Event(), later())
    assert "X=[--tag=localhost/evil:1] Y=[-t=x --help]" in log.lines
    images = cli(tmp_path / "storage", "images", "--format={{.Name}}:{{.Tag}}")
    assert "localhost/args:1" in images and "evil" not in images
    with pytest.raises(BuildahError):
        tool.build(context, "Dockerfile", "localhost/args:2", {"A=B": "1"}, log, threading.Event(), later())


def test_a_dockerfile_outside_the_context_is_refused_before_buildah_runs(tmp_path):
    context = make_context(tmp_path, "FROM scratch\n")
    (tmp_path / "Elsewhere").write_text("FROM scratch\n")
    (context / "sneaky").symlink_to(tmp_path / "Elsewhere")
    tool = storage(tmp_path, binary="/nonexistent/buildah")  # buildah would be missing if it ran
    for path in ("../Elsewhere", "sneaky", "/etc/passwd", "missing"):
        with pytest.raises(BuildahError) as caught:
            tool.build(context, path, "localhost/x:1", {}, Log(), threading.Event(), later())
        assert not isinstance(caught.value, BuildahMissing), path
    with pytest.raises(BuildahMissing):
        tool.build(context, "Dockerfile", "localhost/x:1", {}, Log(), threading.Event(), later())


def test_a_short_image_name_is_refused_rather_than_looked_up(tmp_path):
    context = make_context(tmp_path, "FROM busybox\nRUN true\n")
    started = time.monotonic()
    with pytest.raises(BuildFailed) as caught:
        storage(tmp_path).build(context, "Dockerfile", "localhost/x:1", {}, Log(), threading.Event(), later())
    assert 'short-name "busybox"' in caught.value.line
    assert time.monotonic() - started < 10


def test_push_with_credentials_keeps_the_password_out_of_every_argv(busybox_base, registries, tmp_path):
    server = registries["locked"]
    tag = f"{server.host}/builds/secret:1"
    tool = storage(tmp_path)
    context = make_context(tmp_path, f"FROM {busybox_base}\nRUN echo secret-image > /marker\n")
    tool.build(context, "Dockerfile", tag, {}, Log(), threading.Event(), later())
    with pytest.raises(BuildFailed) as caught:
        tool.push(tag, Log(), threading.Event(), later())
    assert "unauthorized" in caught.value.message.lower() or "authentication" in caught.value.message.lower()

    leaks: list[tuple[int, str]] = []
    looked = []

    def on_line(line: str) -> None:  # buildah is running: look at every process's argv meanwhile
        for pid, argv in processes_of(f"--root={tmp_path / 'storage'}"):
            looked.extend(a.split("=", 1)[1] for a in argv.split() if a.startswith("--authfile="))
            ours = set(session_members(pid))  # buildah and its children (other tests' skopeo is not ours)
            leaks.extend(found for found in processes_of(server.password) if found[0] in ours)
    digest = tool.push(tag, on_line, threading.Event(), later(), server.username, server.password)
    assert looked, "the argv check never saw buildah running with its --authfile"
    assert leaks == [], f"the password is in an argv: {leaks}"
    assert server.inspect("builds/secret:1")["Digest"] == digest
    assert all(not Path(path).exists() for path in looked), "the auth file was left behind"


def test_registries_insecure_lets_a_verifying_buildah_use_a_plain_http_registry(busybox_base, registries, tmp_path):
    server = registries["open"]
    tool = storage(tmp_path, tls_verify=True, registries_insecure=(server.host,))
    context = make_context(tmp_path, f"FROM {busybox_base}\nRUN echo insecure > /marker\n")
    tag = f"{server.host}/builds/insecure:1"
    tool.build(context, "Dockerfile", tag, {}, Log(), threading.Event(), later())
    assert tool.push(tag, Log(), threading.Event(), later()) == server.inspect("builds/insecure:1")["Digest"]


def test_remove_storage_never_follows_a_link_out(busybox_base, tmp_path):
    tool = storage(tmp_path)
    tool.build(make_context(tmp_path, f"FROM {busybox_base}\n"), "Dockerfile", "localhost/x:1", {}, Log(),
               threading.Event(), later())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    (tmp_path / "storage" / "root" / "link-out").symlink_to(outside)
    (tmp_path / "storage" / "root" / "vfs" / "file-link").symlink_to(outside / "precious")
    assert tool.remove_storage() is True
    assert (outside / "precious").read_text() == "keep me"
    assert list((tmp_path / "storage").iterdir()) == []
