"""buildah, the image builder: one build and its push, as a subprocess, with errors of its own.

    buildah = Buildah(root, runroot, tls_verify=False)   # one storage per build, the caller's dirs
    image_id = buildah.build(context, "Dockerfile", "10.0.1.5:5000/shop/web:1", {"V": "1"},
                             on_line, cancel, deadline)
    digest = buildah.push("10.0.1.5:5000/shop/web:1", on_line, cancel, deadline, "hummer", "pw")
    buildah.remove_storage()

How it runs (verified with Debian's buildah 1.28, as root): `--storage-driver vfs` and
`--isolation chroot`, so no daemon, no overlay mounts and no user namespaces are needed;
`--layers=false`, since each build has its own storage and nothing would reuse a cached layer.
Base images are pulled as usual (from the private registry). Every configuration file buildah
would read from /etc/containers is replaced by one of ours in a private temporary directory:
registries.conf (no search registries and no short-name aliases, so `FROM busybox` is refused
rather than looked up anywhere; the insecure registries of the constructor) and the
signature policy. HOME is that directory, and the environment is built from nothing
(BUILDAH_* and REGISTRY_AUTH_FILE from the portal's environment would change what the flags
say).

Nothing given by a user becomes an option: every value is one `--flag=value` token, and the
context and the image come after `--`. Credentials never appear in an argv (which `ps`
shows): they go in an auth file, mode 0600, deleted afterwards.

Output (stdout and stderr together) goes to `on_line` line by line as it comes (streamed.py:
UTF-8 with bad bytes replaced, lines cut at 4 KiB). `cancel` (a threading.Event) and
`deadline` (a time.monotonic() value) end the run: the process group (buildah and every step
it runs, `buildah-chroot-runtime` and the step's processes included) gets SIGTERM, then SIGKILL
after a grace, and Cancelled or TimedOut is raised once nothing of it is left.
"""
from __future__ import annotations

import base64
import ctypes
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from portal.adapters import streamed

__all__ = ["Buildah", "BuildahError", "BuildFailed", "Cancelled", "TimedOut", "BuildahMissing"]

log = logging.getLogger(__name__)

MESSAGE_MAX = 500
_OWN = ("subprocess exited with status", "STEP ", "error running ", "time=", "level=", "WARN", "[Warning]")
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


class BuildahError(Exception):
    """Base of every error this adapter raises; `message` is short, in English."""

    def __init__(self, message: str):
        message = str(message)
        if len(message) > MESSAGE_MAX:
            message = message[:MESSAGE_MAX - 1] + "…"
        super().__init__(message)
        self.message = message


class BuildFailed(BuildahError):
    """buildah exited non-zero. `line` is its last meaningful output line (for a failing step,
    buildah's `building at STEP "RUN ...": exit status N`); `detail` the last line of output
    before it that is not buildah's own (what the step printed last, often its error);
    `tail` the last lines of output."""

    def __init__(self, message: str, line: str = "", detail: str = "", tail: tuple[str, ...] = ()):
        super().__init__(message)
        self.line = line
        self.detail = detail
        self.tail = tail


class Cancelled(BuildahError):
    pass


class TimedOut(BuildahError):
    pass


class BuildahMissing(BuildahError):
    pass


OnLine = Callable[[str], None]


class Buildah:
    """The buildah CLI on one storage (`root`, `runroot`): see the module docstring."""

    def __init__(self, root: Path, runroot: Path, binary: str = "buildah", tls_verify: bool = True,
                 registries_insecure: tuple = ()):
        self.root = Path(root)
        self.runroot = Path(runroot)
        self.binary = binary
        self.tls_verify = tls_verify
        self.registries_insecure = tuple(registries_insecure)
        for host in self.registries_insecure:
            if not isinstance(host, str) or not host or any(c in host for c in "\"\\\n\r\t ") or host[0] == "-":
                raise ValueError(f"{host!r} is not a registry host")

    # ------------------------------------------------------------------ public

    def build(self, context: Path, dockerfile: str, tag: str, build_args: dict[str, str], on_line: OnLine,
              cancel: threading.Event, deadline: float, *, username: str = "", password: str = "",
              auth_host: str = "") -> str:
        """Build `dockerfile` (relative to `context`) into `tag`; the image id ("sha256:...").
        `username`/`password` log in to `auth_host` (default: the tag's registry) for pulls."""
        context = Path(context).resolve(strict=True)
        file = _inside(context, dockerfile)
        _check_value("tag", tag)
        args = []
        for key, value in build_args.items():
            _check_value("build argument name", key)
            _check_value("build argument value", value, empty=True)
            if "=" in key or not key.strip():
                raise BuildahError(f"{key!r} is not a build argument name")
            args.append(f"--build-arg={key}={value}")
        with _Scratch(self) as scratch:
            iid = scratch.dir / "iid"
            argv = [*self._global(), "bud", "--isolation=chroot", "--layers=false",
                    *self._tls(), f"--iidfile={iid}",
                    f"--signature-policy={scratch.policy}",
                    *scratch.auth(username, password, auth_host or _registry_host(tag)),
                    *args, f"--file={file}", f"--tag={tag}", "--", str(context)]
            self._run(argv, scratch.dir, on_line, cancel, deadline, "build")
            image_id = iid.read_text().strip() if iid.exists() else ""
        if not image_id:
            raise BuildahError("buildah finished without writing the image id")
        return image_id

    def push(self, tag: str, on_line: OnLine, cancel: threading.Event, deadline: float, username: str = "",
             password: str = "") -> str:
        """Push the built `tag` to its registry; the manifest digest pushed ("sha256:...")."""
        _check_value("tag", tag)
        with _Scratch(self) as scratch:
            digest_file = scratch.dir / "digest"
            argv = [*self._global(), "push", *self._tls(),
                    f"--digestfile={digest_file}", f"--signature-policy={scratch.policy}",
                    *scratch.auth(username, password, _registry_host(tag)), "--", tag]
            self._run(argv, scratch.dir, on_line, cancel, deadline, "push")
            digest = digest_file.read_text().strip() if digest_file.exists() else ""
        if not digest.startswith("sha256:"):
            raise BuildahError("buildah pushed without writing the digest")
        return digest

    def remove_storage(self) -> bool:
        """Delete root and runroot (anything mounted under them is detached first, symlinks are
        removed, never followed); False if something could not be removed (logged)."""
        ok = True
        for path in (self.runroot, self.root):
            if not os.path.lexists(path):
                continue
            _detach_mounts(path)
            errors: list = []
            if path.is_symlink() or not path.is_dir():
                path.unlink()
                continue
            shutil.rmtree(path, onerror=lambda _f, p, e, errors=errors: errors.append((p, e[1])))
            if errors or os.path.lexists(path):
                ok = False
                log.warning("buildah storage %s not removed completely: %s", path, errors[:3])
        return ok

    # ------------------------------------------------------------------ running

    def _tls(self) -> list[str]:
        """`--tls-verify=false`, or nothing: an explicit `--tls-verify=true` would override the
        insecure registries of registries.conf (buildah 1.28)."""
        return [] if self.tls_verify else ["--tls-verify=false"]

    def _global(self) -> list[str]:
        return [self.binary, f"--root={self.root}", f"--runroot={self.runroot}", "--storage-driver=vfs"]

    def _run(self, argv: list[str], home: Path, on_line: OnLine, cancel: threading.Event, deadline: float,
             what: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(home),
               "LC_ALL": "C.UTF-8", "TMPDIR": os.environ.get("TMPDIR", "/var/tmp")}
        try:
            finished = streamed.run(argv, env=env, cwd=home, on_line=on_line, cancel=cancel, deadline=deadline)
        except FileNotFoundError:
            raise BuildahMissing(f"{self.binary} is not installed (Debian package buildah)") from None
        if finished.stopped == "cancel":
            raise Cancelled(f"the {what} was cancelled")
        if finished.stopped == "timeout":
            raise TimedOut(f"the {what} did not finish in time")
        if finished.code != 0:
            line, detail = _meaningful(finished.tail)
            message = f"the {what} failed: {line}" if line else f"the {what} failed (exit status {finished.code})"
            if detail:
                message += f" ({detail})"
            raise BuildFailed(message, line, detail, finished.tail)


# Words of a line that says what went wrong, in the output of the step that failed.
_ERRORISH = re.compile(r"error|not found|no such|denied|fail|cannot|can't|fatal|invalid|unknown|missing", re.I)


def _meaningful(tail) -> tuple[str, str]:
    """buildah's last `Error: ...` line (its prefix dropped), or else the last non-blank one;
    and the failed step's own line that says why: the last one before it that buildah did not
    write itself and that reads like an error, else the last one (or ""). The step's stdout
    and stderr reach us through buildah in either order, so "the last line" alone may be an
    `echo` that ran before the command that failed."""
    lines = [line.strip() for line in tail if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Error: "):
            step = lines[:i]
            starts = [j for j, x in enumerate(step) if x.startswith("STEP ")]
            own = [x for x in step[starts[-1] + 1 if starts else 0:] if not x.startswith(_OWN)]
            errorish = [x for x in own if _ERRORISH.search(x)]
            return lines[i][len("Error: "):], (errorish or own or [""])[-1]
    return (lines[-1] if lines else ""), ""


# ---------------------------------------------------------------------- values and files

def _check_value(what: str, value, empty: bool = False) -> None:
    if not isinstance(value, str) or (not value and not empty) or "\x00" in value:
        raise BuildahError(f"{what} {value!r} is not usable")


def _inside(context: Path, relative: str) -> Path:
    """`relative` resolved (following symlinks) under `context`: a regular file, or BuildahError."""
    if not isinstance(relative, str) or not relative or "\x00" in relative or relative.startswith("/"):
        raise BuildahError(f"{relative!r} is not a relative path in the build context")
    path = (context / relative).resolve()
    if path != context and context not in path.parents:
        raise BuildahError(f"{relative!r} is outside the build context")
    if not path.is_file():
        raise BuildahError(f"no Dockerfile at {relative!r} in the build context")
    return path


def _registry_host(reference: str) -> str:
    """The registry part of an image reference ("" for a short name)."""
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


class _Scratch:
    """A private directory (0700) for one run: HOME, the configuration files, the auth file,
    the iid and digest files; removed when the run ends."""

    def __init__(self, buildah: Buildah):
        self.buildah = buildah

    def __enter__(self) -> "_Scratch":
        self.dir = Path(tempfile.mkdtemp(prefix="hummer-buildah-"))
        # A registries.conf in HOME replaces the system's, drop-in directory (short-name
        # aliases) included; the --registries-conf flag would not (buildah 1.28 still read
        # /etc/containers/registries.conf.d with it).
        config = self.dir / ".config" / "containers"
        config.mkdir(parents=True)
        lines = ["unqualified-search-registries = []", 'short-name-mode = "enforcing"', ""]
        for host in self.buildah.registries_insecure:
            lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
        (config / "registries.conf").write_text("\n".join(lines))
        self.policy = self.dir / "policy.json"
        self.policy.write_text(json.dumps(POLICY))
        return self

    def auth(self, username: str, password: str, host: str) -> list[str]:
        """The --authfile flag for these credentials at `host` (none without a username)."""
        if not username:
            return []
        if not host:
            raise BuildahError("credentials were given for an image without a registry host")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        path = self.dir / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"auths": {host: {"auth": token}}}, out)
        return [f"--authfile={path}"]

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


_MNT_DETACH = 2
_OCTAL = re.compile(r"\\([0-7]{3})")


def _detach_mounts(path: Path) -> None:
    """Lazily unmount whatever is mounted at or under `path` (deepest first), so that removing
    the storage never reaches into a file system mounted there."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    base = str(path.resolve()) if not path.is_symlink() else str(path)
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])  # \040 is a space
            if point == base or point.startswith(base + "/"):
                points.append(point)
    if not points:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for point in sorted(points, key=len, reverse=True):
        if libc.umount2(point.encode(), _MNT_DETACH) != 0:
            log.warning("could not unmount %s under buildah storage: errno %s", point, ctypes.get_errno())
