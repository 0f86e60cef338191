"""The floor under volume_io's upload: a file sent over a loopback TCP connection (sendfile,
as bench/volume_io.py's client sends it) into a file by a server that does nothing else,
beside `cp` of the same file on the same filesystem.

    python bench/socket_to_file.py [--mib 1024] [--runs 7]

No portal, no HTTP: the server is a process of its own running the loop of
portal/rawbody.py SplicedBody (poll, splice the socket into a 1 MiB pipe, splice the pipe
into the file), and a second one reading with recv_into and write (two copies). Each run
times cp and both servers in rotating order, after a sync outside the timing, in a
directory of TMPDIR's filesystem (printed); an untimed round goes first. Medians are
printed as throughput over cp's: what no code above the socket can beat on this machine.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20


def splice_loop(conn: socket.socket, fd: int, left: int) -> None:
    pipe_r, pipe_w = os.pipe()
    fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, MiB)
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    while left:
        poller.poll(60_000)
        moved = os.splice(conn.fileno(), pipe_w, min(left, MiB))
        if not moved:
            raise SystemExit("the client went away")
        left -= moved
        while moved:
            moved -= os.splice(pipe_r, fd, moved)


def recv_loop(conn: socket.socket, fd: int, left: int) -> None:
    buf = memoryview(bytearray(MiB))
    while left:
        got = conn.recv_into(buf, min(left, MiB))
        if not got:
            raise SystemExit("the client went away")
        left -= got
        view = buf[:got]
        while view:
            view = view[os.write(fd, view):]


def serve(directory: str, kind: str) -> None:
    """The server process: prints its port, then takes one file per connection (its size first)."""
    loop = {"splice": splice_loop, "recv_into": recv_loop}[kind]
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        size = int(conn.recv(32, socket.MSG_WAITALL))
        fd = os.open(os.path.join(directory, f"{kind}-{time.time_ns()}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            loop(conn, fd, size)
        finally:
            os.close(fd)
        conn.sendall(b"k")
        conn.close()


def timed(action) -> float:
    os.sync()
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024, help="the file's size in MiB")
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each side")
    args = ap.parse_args()
    size = args.mib * MiB
    with tempfile.TemporaryDirectory(prefix="hummer-bench-socket-") as name:
        tmp = Path(name)
        out = tmp / "out"
        out.mkdir()
        source = tmp / "source"
        with open(source, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MiB))
        servers = {kind: subprocess.Popen([sys.executable, __file__, "--serve", str(out), kind],
                                          stdout=subprocess.PIPE, text=True)
                   for kind in ("splice", "recv_into")}
        try:
            ports = {kind: int(p.stdout.readline()) for kind, p in servers.items()}

            def send(port: int):
                def go():
                    with socket.create_connection(("127.0.0.1", port)) as s, open(source, "rb") as f:
                        s.sendall(f"{size:<32}".encode())
                        s.sendfile(f)
                        if s.recv(1) != b"k":
                            raise SystemExit("the server did not answer")
                return go

            sides = {"cp": lambda: subprocess.run(["cp", str(source), str(out / "cp")], check=True),
                     **{kind: send(port) for kind, port in ports.items()}}
            times = {side: [] for side in sides}
            order = list(sides)
            for i in range(-1, args.runs):
                for side in order[i % len(order):] + order[:i % len(order)]:
                    t = timed(sides[side])
                    if i >= 0:
                        times[side].append(t)
                    for f in out.iterdir():
                        f.unlink()
        finally:
            for p in servers.values():
                p.terminate()
                p.wait()
    cp = statistics.median(times["cp"])
    print(f"{args.mib} MiB on {os.path.realpath(tempfile.gettempdir())}, medians of {args.runs} runs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  cp           {cp:6.2f} s {args.mib / cp:7.1f} MiB/s   [{', '.join(f'{t:.2f}' for t in times['cp'])} s]")
    for side in ("splice", "recv_into"):
        t = statistics.median(times[side])
        print(f"  {side:<12} {t:6.2f} s {args.mib / t:7.1f} MiB/s   {cp / t:.2f}x cp   "
              f"[{', '.join(f'{x:.2f}' for x in times[side])} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
