"""One command run for the adapters that drive a CLI for a long time (buildah, git): its
output passed on line by line as it comes, and stopped on request or at a deadline.

    finished = run(argv, env=env, cwd=home, on_line=print, cancel=event, deadline=t)
    finished.code, finished.stopped ("cancel", "timeout" or None), finished.tail

No shell. The command runs in a new session, so that it and everything it starts form one
process group; a cancel or the deadline sends the group SIGTERM, then SIGKILL after `grace`
seconds, and run() returns once nothing of the group is left (or it gave up waiting after the
SIGKILL, logged). stdout and stderr come together, each line decoded as UTF-8 with bad bytes
replaced, its trailing CR dropped, and cut at LINE_MAX bytes (the rest of a longer line is
dropped). A missing program is FileNotFoundError, for the adapter to name.

The command gets SIGTERM from the kernel if the thread that started it ends first (the
portal process died or was killed): util-linux's `setpriv --pdeathsig` sets that up before
it executes the command (a preexec_fn could deadlock the child of a threaded server).
"""
from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["run", "Finished", "LINE_MAX", "GRACE"]

log = logging.getLogger(__name__)

LINE_MAX = 4096           # bytes of one output line passed on
GRACE = 5.0               # seconds between SIGTERM and SIGKILL
TAIL = 20                 # output lines kept for the caller's error message
POLL = 0.2                # seconds between looks at `cancel` while the command is silent

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class Finished:
    code: int | None            # the exit status; None when stopped
    stopped: str | None         # "cancel" or "timeout" when run() stopped the command
    tail: tuple[str, ...]       # the last TAIL lines of output


def run(argv: list[str], *, env: dict[str, str], cwd: str | os.PathLike, on_line: OnLine,
        cancel: threading.Event, deadline: float, grace: float = GRACE) -> Finished:
    """Run `argv` to its end, or until `cancel` is set or `deadline` (time.monotonic()) passes."""
    program = shutil.which(argv[0], path=env.get("PATH"))
    if program is None:
        raise FileNotFoundError(argv[0])
    if time.monotonic() >= deadline:
        return Finished(None, "timeout", ())
    setpriv = shutil.which("setpriv", path=env.get("PATH"))
    if setpriv:  # SIGTERM when the thread that started it ends (the portal process died)
        argv = [setpriv, "--pdeathsig=TERM", "--", program, *argv[1:]]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True, env=env, cwd=cwd)
    tail: deque[str] = deque(maxlen=TAIL)
    try:
        stopped = _stream(proc, on_line, tail, cancel, deadline)
    except BaseException:  # on_line raised, or the thread is being torn down: leave nothing behind
        _kill_group(proc, grace)
        raise
    if stopped is not None:
        _kill_group(proc, grace)
        return Finished(None, stopped, tuple(tail))
    code = proc.wait()
    _kill_group(proc, grace)  # anything the command left running in its group
    return Finished(code, None, tuple(tail))


def _stream(proc: subprocess.Popen, on_line: OnLine, tail: deque, cancel: threading.Event,
            deadline: float) -> str | None:
    """Pass the output on until EOF; "cancel" or "timeout" if one of those came first."""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    pending = b""
    dropping = False  # inside a line longer than LINE_MAX, after its first LINE_MAX bytes
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if cancel.is_set():
                return "cancel"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if not selector.select(min(left, POLL)):
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            pending += chunk
            while True:
                end = pending.find(b"\n")
                if end < 0:
                    if len(pending) >= LINE_MAX:
                        if not dropping:
                            _emit(pending[:LINE_MAX], on_line, tail)
                        dropping, pending = True, b""
                    break
                if not dropping:
                    _emit(pending[:min(end, LINE_MAX)], on_line, tail)
                dropping, pending = False, pending[end + 1:]
    if pending and not dropping:
        _emit(pending[:LINE_MAX], on_line, tail)
    return None


def _emit(raw: bytes, on_line: OnLine, tail: deque) -> None:
    line = raw.decode("utf-8", errors="replace").rstrip("\r")
    tail.append(line)
    on_line(line)


def _kill_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds; wait until it is gone."""
    try:
        if _group_alive(proc):
            _signal(proc.pid, signal.SIGTERM)
            end = time.monotonic() + grace
            while _group_alive(proc) and time.monotonic() < end:
                time.sleep(0.05)
            if _group_alive(proc):
                _signal(proc.pid, signal.SIGKILL)
                end = time.monotonic() + 5
                while _group_alive(proc) and time.monotonic() < end:
                    time.sleep(0.05)
                if _group_alive(proc):
                    log.warning("process group %s (%s) still there after SIGKILL", proc.pid, proc.args[0])
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %s) did not exit after SIGKILL", proc.args[0], proc.pid)
    finally:
        if proc.stdout and not proc.stdout.closed:
            proc.stdout.close()


def _group_alive(proc: subprocess.Popen) -> bool:
    """Whether any process of the group is left (the leader reaped first, so that it does not
    count once it has exited; orphans are reaped by init)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
