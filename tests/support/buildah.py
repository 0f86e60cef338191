"""The real buildah of the build tests, and the base image they build on.

`busybox_base` makes a busybox image from the machine's static busybox (FROM scratch, COPY
busybox, RUN busybox --install -s /bin) with the buildah CLI itself (not the adapter under
test) in a storage of its own, and pushes it to the suite's `open` registry as
library/busybox:1, once per session.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
BASE = "library/busybox:1"
DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin
"""


def need_buildah() -> None:
    """Skip (with the reason) where buildah or busybox is missing."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (./hummer test installs the Debian package buildah)")
    if not BUSYBOX.is_file():
        pytest.skip("/bin/busybox is missing (./hummer test installs the Debian package busybox-static)")


def storage_flags(storage: Path) -> list[str]:
    return [f"--root={storage / 'root'}", f"--runroot={storage / 'run'}", "--storage-driver=vfs"]


def cli(storage: Path, *args: str, timeout: float = 300) -> str:
    """The buildah CLI on `storage`; its stdout (an AssertionError with stderr when it fails)."""
    done = subprocess.run(["buildah", *storage_flags(storage), *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"buildah {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def processes_of(needle: str) -> list[tuple[int, str]]:
    """(pid, argv) of every live process whose argv mentions `needle`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        text = " ".join(a.decode(errors="replace") for a in argv)
        if needle in text and state != "Z":
            found.append((int(proc.name), text))
    return found


def session_members(sid: int) -> list[int]:
    """Live processes of the session `sid` (buildah and everything it started)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="session")
def busybox_base(registries, tmp_path_factory) -> str:
    """The full reference of the busybox base image in registries["open"]."""
    need_buildah()
    work = tmp_path_factory.mktemp("busybox-base")
    context = work / "context"
    context.mkdir()
    shutil.copy2(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(DOCKERFILE)
    server = registries["open"]
    reference = f"{server.host}/{BASE}"
    storage = work / "storage"
    try:
        cli(storage, "bud", "--isolation=chroot", "--layers=false", f"--tag={reference}",
            f"--file={context}/Dockerfile", "--", str(context))
        cli(storage, "push", "--tls-verify=false", "--", reference)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return reference
