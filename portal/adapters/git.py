"""git, for a build's source: one commit of a remote repository, shallow, checked out into a
new directory, with errors of its own.

    sha = fetch("http://git.example.lan/shop.git", "v1.2", dest, on_line, cancel, deadline)

fetch() runs `git init`, `git fetch --depth=1 -- URL REF` and `git checkout --detach
FETCH_HEAD`: REF may be a branch, a tag or a full commit SHA (a SHA only where the server lets
a client ask for one; git daemon and git-http-backend do with protocol v2). The repository's
.git directory lives in a private temporary directory, removed afterwards: `dest` holds the
work tree only, ready to be a build context.

Nothing from the user is trusted (git runs code for some URLs and reads options from
arguments that start with '-'):
  * the URL must be `scheme://...` with a scheme of `allowed_schemes`; scp-like `host:path`,
    `transport::address` (ext::, fd::), local paths and anything starting with '-' are refused
    before git runs, and git itself is told `protocol.allow=never` but for those schemes;
  * the ref must look like a branch, tag or SHA: no leading '-', no '..', no ':' (a refspec
    that would write a local ref), no control characters or spaces;
  * no system or global configuration (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null, a
    temporary HOME), hooks off (core.hooksPath=/dev/null), no submodules, no terminal prompt
    and no askpass program (GIT_TERMINAL_PROMPT=0, GIT_ASKPASS=/bin/false).

Errors (GitError, each with a short English `message`; services translate): GitUnreachable
(no connection, no such repository, not exported; RefusedUrl, its subclass, for a URL refused
before git ran), UnknownRef (the repository has no such branch, tag or commit; BadRef for a
name refused before git ran), GitTimedOut and GitCancelled (the deadline passed, the
cancel event was set: git's process group was killed). Output goes to `on_line` line by line.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from portal.adapters import files, streamed

__all__ = ["fetch", "check_url", "check_ref", "GitError", "GitUnreachable", "RefusedUrl", "UnknownRef",
           "BadRef", "GitTimedOut", "GitCancelled", "DEFAULT_SCHEMES"]

DEFAULT_SCHEMES = ("git", "http", "https", "file")
URL_MAX = 2048
REF_MAX = 255
MESSAGE_MAX = 500
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.+)", re.DOTALL)
_SCP_LIKE = re.compile(r"[^/:]*:")  # what git reads as host:path when no scheme precedes it
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
_UNKNOWN_REF = ("couldn't find remote ref", "not our ref", "unadvertised object", "no such remote ref",
                "invalid refspec")
_UNREACHABLE = ("unable to connect", "no such repository", "could not resolve host", "connection refused",
                "failed to connect",
                "does not appear to be a git repository", "not found", "repository not exported",
                "access denied", "could not read from remote repository", "unable to access",
                "connection timed out", "no route to host", "network is unreachable", "not allowed")

OnLine = Callable[[str], None]


class GitError(Exception):
    """Base of every error this adapter raises; `message` is short, in English."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())
        if len(message) > MESSAGE_MAX:
            message = message[:MESSAGE_MAX - 1] + "…"
        super().__init__(message)
        self.message = message


class GitUnreachable(GitError):
    """No connection, no such repository, or a URL that is refused."""


class RefusedUrl(GitUnreachable):
    """A URL refused before git ran (scheme, form, a leading '-')."""


class UnknownRef(GitError):
    """The repository has no such branch, tag or commit, or the name cannot be one."""


class BadRef(UnknownRef):
    """A ref refused before git ran (a leading '-', '..', ':', control characters)."""


class GitTimedOut(GitError):
    pass


class GitCancelled(GitError):
    pass


def check_url(url: str, allowed_schemes=DEFAULT_SCHEMES) -> str:
    """`url` if git may fetch from it, else RefusedUrl saying why (no git is run)."""
    if not isinstance(url, str) or not url:
        raise RefusedUrl("no repository URL was given")
    if len(url) > URL_MAX:
        raise RefusedUrl(f"the repository URL is longer than {URL_MAX} characters")
    if url.startswith("-"):
        raise RefusedUrl("a repository URL cannot start with '-'")
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in url):
        raise RefusedUrl("the repository URL holds spaces or control characters")
    match = _URL.fullmatch(url)
    if match is None:
        if "::" in url:
            raise RefusedUrl("transport::address URLs (such as ext::) are not allowed")
        if _SCP_LIKE.match(url):
            raise RefusedUrl("scp-like host:path URLs are not allowed: use scheme://host/path")
        raise RefusedUrl("the repository URL must start with scheme:// ("
                             + ", ".join(f"{s}://" for s in allowed_schemes) + ")")
    scheme = match.group(1).lower()
    if scheme not in allowed_schemes:
        raise RefusedUrl(f"{scheme}:// URLs are not allowed here ("
                             + ", ".join(f"{s}://" for s in allowed_schemes) + " are)")
    if match.group(2).startswith("-"):
        raise RefusedUrl("the repository URL's host or path cannot start with '-'")
    return url


def check_ref(ref: str) -> str:
    """`ref` if it can name a branch, tag or commit, else BadRef saying why."""
    if not isinstance(ref, str) or not ref:
        raise BadRef("no branch, tag or commit was given")
    if ref.startswith("-"):
        raise BadRef("a branch, tag or commit cannot start with '-'")
    if len(ref) > REF_MAX or not _REF.fullmatch(ref) or ".." in ref or "//" in ref or ref.endswith(
            ("/", ".", ".lock")):
        raise BadRef(f"{ref[:80]!r} is not a branch, tag or commit name: letters, digits and _ . + / - "
                         "only, without '..'")
    return ref


def fetch(url: str, ref: str, dest: Path, on_line: OnLine, cancel: threading.Event, deadline: float,
          allowed_schemes=DEFAULT_SCHEMES) -> str:
    """Check out `ref` of `url` into `dest` (a new or empty directory); the commit's SHA.
    On an error `dest` is left empty."""
    allowed = tuple(s.lower() for s in allowed_schemes)
    check_url(url, allowed)
    check_ref(ref)
    dest = Path(dest)
    dest.mkdir(parents=False, exist_ok=True)
    if dest.is_symlink() or any(dest.iterdir()):
        raise GitError(f"{dest} is not an empty directory")
    scratch = Path(tempfile.mkdtemp(prefix="hummer-git-"))
    try:
        git = _Git(scratch, dest, allowed, on_line, cancel, deadline)
        git.run(["init", "--quiet", "--bare", str(git.git_dir)], "init", bare=False)
        git.run(["fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "--", url, ref], "fetch")
        git.run(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "--force",
                 "FETCH_HEAD"], "checkout")
        lines: list[str] = []
        git.run(["rev-parse", "--verify", "--end-of-options", "HEAD^{commit}"], "rev-parse", capture=lines)
        sha = lines[-1].strip() if lines else ""
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
            raise GitError(f"git did not name the commit it checked out ({sha[:80]!r})")
        return sha
    except BaseException:
        files.empty(dest)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Git:
    """git commands on one repository (its git dir in `scratch`, its work tree `dest`)."""

    def __init__(self, scratch: Path, dest: Path, allowed: tuple[str, ...], on_line: OnLine,
                 cancel: threading.Event, deadline: float):
        self.git_dir = scratch / "repo.git"
        self.home = scratch / "home"
        self.home.mkdir()
        self.dest = dest
        self.on_line, self.cancel, self.deadline = on_line, cancel, deadline
        self.config = ["-c", "protocol.allow=never",
                       *[x for s in allowed for x in ("-c", f"protocol.{s}.allow=always")],
                       "-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false",
                       "-c", "fetch.recurseSubmodules=false", "-c", "core.fsmonitor=false",
                       "-c", "protocol.version=2", "-c", "credential.helper=", "-c", "core.askPass=/bin/false"]
        self.env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.home),
                    "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false",
                    "SSH_ASKPASS": "/bin/false", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                    "GIT_PROTOCOL_FROM_USER": "0", "GIT_ALLOW_PROTOCOL": ":".join(allowed),
                    "GIT_LFS_SKIP_SMUDGE": "1", "TMPDIR": os.environ.get("TMPDIR", "/tmp")}

    def run(self, args: list[str], what: str, bare: bool = True, capture: list[str] | None = None) -> None:
        where = ["--git-dir", str(self.git_dir), "--work-tree", str(self.dest)] if bare else []
        argv = ["git", *self.config, *where, *args]
        on_line = capture.append if capture is not None else self.on_line
        try:
            finished = streamed.run(argv, env=self.env, cwd=self.home, on_line=on_line, cancel=self.cancel,
                                    deadline=self.deadline)
        except FileNotFoundError:
            raise GitError("git is not installed (Debian package git)") from None
        if finished.stopped == "cancel":
            raise GitCancelled("fetching the source was cancelled")
        if finished.stopped == "timeout":
            raise GitTimedOut("fetching the source did not finish in time")
        if finished.code != 0:
            raise _error(what, finished.tail)


def _error(what: str, tail: tuple[str, ...]) -> GitError:
    """The error for a failed git command, from its output's first `fatal:` line (and the line
    after it when that one ends in ':', as "unable to connect to HOST:" does)."""
    lines = [line.strip() for line in tail if line.strip()]
    fatal = [i for i, x in enumerate(lines) if x.startswith(("fatal:", "error:"))]
    if fatal:
        line = lines[fatal[0]]
        if line.endswith(":") and fatal[0] + 1 < len(lines):
            line += " " + lines[fatal[0] + 1]
    else:
        line = lines[-1] if lines else f"git {what} failed"
    text = " ".join(lines).lower()
    if what == "fetch":
        if any(s in text for s in _UNKNOWN_REF):
            return UnknownRef(f"the repository has no such branch, tag or commit: {line}")
        if any(s in text for s in _UNREACHABLE):
            return GitUnreachable(f"the repository could not be reached: {line}")
    return GitError(f"git {what} failed: {line}")
