"""Process and port helpers shared by the harnesses of the real parts (Kubernetes, Salt, browser)."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
from pathlib import Path

# Ports for the tests' own servers come from below the kernel's ephemeral range, one block per
# pytest-xdist worker. A port the kernel handed out by binding port 0 was free only at that
# instant: every outgoing connection on the machine (Salt, Kubernetes, MariaDB clients of all
# the workers) draws its local port from the same ephemeral range, so one could take it before
# the server bound it ("Address already in use"). Below that range only an explicit bind takes a
# port, and no two workers share a block.
_LOW, _BLOCK = 10000, 1800


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...; empty outside xdist
    blocks = max(1, (_ephemeral_start() - _LOW) // _BLOCK)
    index = int(worker[2:]) % (blocks - 1) if worker[2:].isdigit() and blocks > 1 else blocks - 1
    return range(_LOW + index * _BLOCK, _LOW + (index + 1) * _BLOCK)


_next_port = None


def _bindable(host: str, port: int) -> bool:
    """Nothing holds `port`: not a listener, not a connection, not a TIME_WAIT (no SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a listener on every address
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port of this process's block that nothing holds now; each call gives the next one, so a
    port handed out is not handed out again until the block has gone round."""
    global _next_port
    block = _block()
    if _next_port is None:  # start where an earlier run of the same worker is unlikely to have been
        _next_port = block.start + (os.getpid() * 7919) % len(block)
    for _ in range(len(block)):
        port = _next_port
        _next_port = block.start + (port - block.start + 1) % len(block)
        if _bindable(host, port):
            return port
    raise RuntimeError(f"no free port in {block.start}-{block.stop - 1}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def pgroup_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(p.name))
    return pids


def pgroup_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie member still counts for killpg(0); look at the real states.
    return bool(pgroup_members(pgid))


_libc = None


def die_with_parent():  # runs in the child between fork and exec
    """Ask the kernel to SIGTERM the child when its parent dies (PR_SET_PDEATHSIG)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGTERM)
    except Exception:
        pass
