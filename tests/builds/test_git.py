"""Fetching a build's source with git (portal/adapters/git.py) from a real git daemon and from
file:// paths: branches, tags and commits; unreachable repositories told from unknown refs;
URLs and refs an attacker would give refused before git runs; cancel and deadline."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from portal.adapters import git
from tests.support.git_daemon import SECOND_FILE
from tests.support.processes import free_port

FILES = {"Dockerfile": "FROM scratch\nCOPY app /app\n", "app/hello.txt": "hello\n",
         "services/web/Dockerfile": "FROM scratch\n", "link": ("->", "app/hello.txt")}


@pytest.fixture(scope="module")
def repo(git_daemon):
    return git_daemon.repo("shop.git", FILES)


def fetch(url: str, ref: str, dest: Path, **kwargs) -> tuple[str, list[str]]:
    lines: list[str] = []
    sha = git.fetch(url, ref, dest, lines.append, threading.Event(), time.monotonic() + 60, **kwargs)
    return sha, lines


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir() or p.is_symlink()}


@pytest.mark.parametrize("transport", ["git daemon", "file"])
def test_the_branch_tip_is_checked_out_without_git_metadata(git_daemon, repo, tmp_path, transport):
    url = git_daemon.url("shop.git") if transport == "git daemon" else repo.file_url
    sha, lines = fetch(url, repo.branch, tmp_path / "src")
    assert sha == repo.commit
    assert files_of(tmp_path / "src") == {*FILES, SECOND_FILE}
    assert (tmp_path / "src/link").read_text() == "hello\n" and (tmp_path / "src/link").is_symlink()
    assert not (tmp_path / "src/.git").exists(), "the build context would carry the repository"
    assert any("FETCH_HEAD" in line for line in lines), lines


@pytest.mark.parametrize("transport", ["git daemon", "file"])
def test_a_tag_and_a_full_sha_check_out_that_commit(git_daemon, repo, tmp_path, transport):
    url = git_daemon.url("shop.git") if transport == "git daemon" else repo.file_url
    assert fetch(url, repo.tag, tmp_path / "tag")[0] == repo.tag_commit
    assert SECOND_FILE not in files_of(tmp_path / "tag")
    assert fetch(url, repo.tag_commit, tmp_path / "sha")[0] == repo.tag_commit
    assert files_of(tmp_path / "sha") == set(FILES)
    assert fetch(url, "HEAD", tmp_path / "head")[0] == repo.commit


def test_an_unknown_branch_or_commit_is_unknown_ref_and_leaves_nothing(git_daemon, repo, tmp_path):
    for ref in ("no-such-branch", "0" * 40):
        dest = tmp_path / ref[:8]
        with pytest.raises(git.UnknownRef) as caught:
            fetch(git_daemon.url("shop.git"), ref, dest)
        assert ref in caught.value.message
        assert list(dest.iterdir()) == []


def test_an_unreachable_repository_is_unreachable_not_unknown_ref(git_daemon, repo, tmp_path):
    closed = free_port()  # nothing listens there
    cases = [f"git://127.0.0.1:{closed}/shop.git", f"http://127.0.0.1:{closed}/shop.git",
             git_daemon.url("no-such-repo.git"), f"file://{tmp_path}/nothing.git"]
    for i, url in enumerate(cases):
        dest = tmp_path / f"dest{i}"
        with pytest.raises(git.GitUnreachable) as caught:
            fetch(url, "main", dest)
        assert not isinstance(caught.value, git.RefusedUrl)
        assert "could not be reached" in caught.value.message
        assert list(dest.iterdir()) == []


@pytest.fixture
def marker_script(tmp_path) -> tuple[Path, Path]:
    """A program that, if git ever ran it, would leave a marker file."""
    marker = tmp_path / "pwned"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    return script, marker


@pytest.mark.parametrize("url,words", [
    ("ext::{script}", "ext::"),
    ("ssh://127.0.0.1/shop.git", "ssh:// URLs are not allowed"),
    ("127.0.0.1:shop.git", "scp-like"),
    ("{repo}", "must start with scheme://"),
    ("-uhelp", "cannot start with '-'"),
    ("--upload-pack={script}", "cannot start with '-'"),
    ("git://-oProxyCommand={script}/x", "cannot start with '-'"),
    ("git://127.0.0.1/a b", "spaces or control characters"),
    ("", "no repository URL"),
])
def test_urls_an_attacker_would_give_are_refused_before_git_runs(repo, tmp_path, marker_script, url, words):
    script, marker = marker_script
    url = url.format(script=script, repo=repo.path)
    with pytest.raises(git.RefusedUrl) as caught:
        fetch(url, "main", tmp_path / "dest")
    assert words in caught.value.message
    assert not marker.exists()
    assert not (tmp_path / "dest").exists()


def test_file_urls_are_refused_where_they_are_not_allowed(repo, tmp_path):
    with pytest.raises(git.RefusedUrl) as caught:
        fetch(repo.file_url, "main", tmp_path / "dest", allowed_schemes=("git", "https"))
    assert "file:// URLs are not allowed" in caught.value.message


def test_upload_pack_in_the_ref_is_not_an_option(repo, tmp_path, marker_script):
    script, marker = marker_script
    for ref in (f"--upload-pack={script}", "-h", "main..other", "main:refs/heads/x", "a\nb", "a b", "+main", ""):
        with pytest.raises(git.BadRef):
            fetch(repo.file_url, ref, tmp_path / "dest")
    assert not marker.exists()


def test_a_fetch_is_cancelled_and_times_out_while_the_server_says_nothing(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the kernel's backlog; nobody ever answers
    url = f"git://127.0.0.1:{silent.getsockname()[1]}/shop.git"
    try:
        cancel = threading.Event()
        timer = threading.Timer(0.5, cancel.set)
        timer.start()
        started = time.monotonic()
        with pytest.raises(git.GitCancelled):
            git.fetch(url, "main", tmp_path / "a", lambda line: None, cancel, time.monotonic() + 60)
        assert time.monotonic() - started < 5
        assert list((tmp_path / "a").iterdir()) == []

        started = time.monotonic()
        with pytest.raises(git.GitTimedOut):
            git.fetch(url, "main", tmp_path / "b", lambda line: None, threading.Event(), time.monotonic() + 1)
        assert time.monotonic() - started < 6
        assert list((tmp_path / "b").iterdir()) == []
    finally:
        silent.close()


def test_a_destination_with_files_is_refused(repo, tmp_path):
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep").write_text("mine")
    with pytest.raises(git.GitError):
        fetch(repo.file_url, "main", tmp_path / "dest")
    assert (tmp_path / "dest" / "keep").read_text() == "mine"
