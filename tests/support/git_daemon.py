"""A real git daemon on loopback, serving bare repositories the tests make from a dict of files.

    repo = make_repo(git_daemon.root / "shop.git", {"Dockerfile": b"FROM ...", "app/x": b"1"})
    repo.branch, repo.tag, repo.commit, repo.tag_commit     # main, v1 (the first commit), SHAs
    url = git_daemon.url("shop.git")                        # git://127.0.0.1:PORT/shop.git

make_repo makes two commits: the first (tagged `v1`) holds `files`, the second (the tip of
the branch) adds SECOND_FILE, so that a test can tell which commit was checked out.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.daemons import Daemon
from tests.support.processes import free_port, port_open

SECOND_FILE = "second-commit.txt"
_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid", "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid", "GIT_AUTHOR_DATE": "2026-11-30T12:00:00Z",
        "GIT_COMMITTER_DATE": "2026-11-30T12:00:00Z", "PATH": "/usr/bin:/bin", "LC_ALL": "C"}


@dataclass(frozen=True)
class Repo:
    path: Path          # the bare repository
    branch: str         # its branch, at `commit`
    tag: str            # its tag, at `tag_commit`
    commit: str
    tag_commit: str

    @property
    def file_url(self) -> str:
        return f"file://{self.path}"


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args[:2])} failed: {done.stderr[-1000:]}")
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, bytes | str], branch: str = "main", tag: str = "v1") -> Repo:
    """A bare repository at `path` (see the module docstring); symlinks as `{"l": ("->", "target")}`."""
    work = path.parent / f"{path.name}.work"
    work.mkdir(parents=True)
    _git("init", "--quiet", f"--initial-branch={branch}", cwd=work)
    for name, content in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            target.symlink_to(content[1])
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)
    _git("add", "--all", cwd=work)
    _git("commit", "--quiet", "-m", "first", cwd=work)
    _git("tag", tag, cwd=work)
    tag_commit = _git("rev-parse", "HEAD", cwd=work)
    (work / SECOND_FILE).write_text("second\n")
    _git("add", "--all", cwd=work)
    _git("commit", "--quiet", "-m", "second", cwd=work)
    commit = _git("rev-parse", "HEAD", cwd=work)
    _git("clone", "--quiet", "--bare", str(work), str(path))
    shutil.rmtree(work)
    return Repo(path, branch, tag, commit, tag_commit)


class GitDaemon:
    def __init__(self, root: Path, port: int, daemon: Daemon):
        self.root, self.port, self.daemon = root, port, daemon

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def repo(self, name: str, files: dict[str, bytes | str], **kwargs) -> Repo:
        return make_repo(self.root / name, files, **kwargs)


@pytest.fixture(scope="session")
def git_daemon(tmp_path_factory):
    """`git daemon` serving every repository under its root (GitDaemon.repo makes one)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed (./hummer test installs the Debian package git)")
    root = tmp_path_factory.mktemp("git-daemon")
    (root / "repos").mkdir()
    port = free_port()
    daemon = Daemon("git daemon", ["git", "daemon", "--reuseaddr", f"--base-path={root / 'repos'}", "--export-all",
                                   "--listen=127.0.0.1", f"--port={port}", "--informative-errors",
                                   str(root / "repos")], root / "git-daemon.log", env=_ENV)
    try:
        daemon.wait_ready(lambda: port_open(port), timeout=30, what="git daemon to listen")
        yield GitDaemon(root / "repos", port, daemon)
    finally:
        daemon.stop(5)
