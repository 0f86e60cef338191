"""The one wrapper for the daemons the harnesses start (Kubernetes, Salt, sshd, gunicorn):
a subprocess in its own process group, its output in a log file, a wait until it is ready
while it still runs, and a stop of the whole group (SIGTERM, wait, SIGKILL)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.processes import die_with_parent as _die_with_parent
from tests.support.processes import pgroup_members
from tests.support.waiting import wait_for


class DaemonError(RuntimeError):
    pass


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> list[int]:
    """SIGTERM the process group led by `proc`, wait up to `grace` seconds for all of it,
    then SIGKILL what is left; return the pids still alive afterwards (normally none)."""
    if proc.poll() is None or pgroup_members(proc.pid):
        signal_group(proc.pid, signal.SIGTERM)
    return reap_group(proc, time.monotonic() + grace)


def reap_group(proc: subprocess.Popen, deadline: float) -> list[int]:
    """Wait for the (already signalled) group until `deadline`, then SIGKILL it; return pids left."""
    while time.monotonic() < deadline:
        if proc.poll() is not None and not pgroup_members(proc.pid):
            break
        time.sleep(0.1)
    if pgroup_members(proc.pid):
        signal_group(proc.pid, signal.SIGKILL)
        end = time.monotonic() + 5
        while pgroup_members(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    return pgroup_members(proc.pid)


class Daemon:
    """`argv` started in a new session (its own process group), stdout and stderr appended
    to `log_path`; SIGTERMed by the kernel if the test process dies (unless
    die_with_parent=False). `error` is the exception type check() raises."""

    def __init__(self, name: str, argv: list[str], log_path: Path, *, env: dict | None = None,
                 cwd: Path | str | None = None, die_with_parent: bool = True,
                 error: type[Exception] = DaemonError):
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        self.error = error
        self.log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True, close_fds=True, env=env, cwd=cwd,
                                         preexec_fn=_die_with_parent if die_with_parent else None)
        except BaseException:
            self.log.close()
            raise
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        """Raise `error` with the log's last lines if the daemon has exited."""
        if self.proc.poll() is not None:
            raise self.error(f"{self.name} exited with {self.proc.returncode}; last log lines:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, probe, timeout: float = 60.0, interval: float = 0.1, what: str | None = None):
        """Poll `probe` until it is truthy, failing at once (with the log) if the daemon exits."""
        def ready():
            self.check()
            return probe()
        return wait_for(ready, timeout=timeout, interval=interval, what=what or f"{self.name} to be ready")

    def signal(self, sig: int) -> None:
        signal_group(self.pid, sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self, grace: float = 10.0) -> list[int]:
        """SIGTERM the group, wait, SIGKILL what is left; return pids still alive afterwards."""
        left = stop_group(self.proc, grace)
        self.close()
        return left

    def reap(self, deadline: float) -> list[int]:
        """Wait for the group (already signalled) until deadline, then SIGKILL it; return pids left."""
        left = reap_group(self.proc, deadline)
        self.close()
        return left

    def close(self) -> None:
        try:
            self.log.close()
        except Exception:
            pass
