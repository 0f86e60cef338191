"""A private MariaDB server of one test's own, that the test may freeze, thaw and kill.

The shared server on 127.0.0.1:3306 serves every helper and test session at once and must
never be stopped. Fault tests start their own `mariadbd` instead: a fresh data directory
made by `mariadb-install-db`, a free loopback port, its own socket and pid file, as root.

    with PrivateMariaDB(tmp_path) as server:
        url = server.url("hummer")      # creates the database (utf8mb4)
        server.freeze()                 # SIGSTOP: connections hang, as on a hung host
        server.thaw()                   # SIGCONT
    # leaving the block kills the server and its data directory goes with tmp_path
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql

from tests.support.processes import die_with_parent, free_port


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/sbin")
    if not path:
        raise RuntimeError(f"{name} is not installed (Debian package mariadb-server)")
    return path


class PrivateMariaDB:
    def __init__(self, root: Path, start_timeout: float = 60.0):
        self.root = Path(root)
        self.datadir = self.root / "data"
        self.socket = self.root / "mariadb.sock"
        self.pid_file = self.root / "mariadb.pid"
        self.log = self.root / "mariadb.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.start_timeout = start_timeout
        self.frozen = False

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> "PrivateMariaDB":
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").exists():
            result = subprocess.run(
                [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}",
                 "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
                capture_output=True, text=True, timeout=180)
            if result.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed: {result.stderr[-2000:]}")
        self.port = free_port()
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
             f"--pid-file={self.pid_file}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             "--max-connections=200", f"--log-error={self.log}"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.connect().close()
                return self
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                    self.stop()
                    raise RuntimeError(f"private mariadbd did not start: {tail}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.frozen:
            self.thaw()
        if self.proc.poll() is None:
            self.proc.kill()  # the data is throw-away: no clean shutdown needed
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def __enter__(self) -> "PrivateMariaDB":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ---------------------------------------------------------------------------
    def freeze(self) -> None:
        """SIGSTOP: the port still accepts TCP connections (the kernel's backlog) but
        nothing answers, as on a hung database host."""
        assert self.proc is not None and self.proc.poll() is None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.frozen = False

    # -- clients --------------------------------------------------------------------------
    def connect(self, **kw) -> pymysql.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               connect_timeout=5, **kw)

    def create_database(self, name: str, charset: str = "utf8mb4",
                        collation: str = "utf8mb4_unicode_ci") -> None:
        conn = self.connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET {charset} COLLATE {collation}")
        finally:
            conn.close()

    def url(self, name: str = "hummer", **create) -> str:
        """Create database `name` and return its SQLAlchemy URL."""
        self.create_database(name, **create)
        return f"mysql+pymysql://root:@127.0.0.1:{self.port}/{name}?charset=utf8mb4"
