"""The portal as production runs it: `gunicorn wsgi:app` on a free loopback port.

For race and flood tests: several workers and threads, the test's database, settings
through HUMMER_* variables. Clients are plain `requests` sessions, as a browser would be.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.processes import die_with_parent, free_port
from tests.support.waiting import wait_for
from tests.support.web import TOKEN

REPO = Path(__file__).resolve().parents[2]


class Client:
    """One browser: its own cookies, the CSRF token of the last page it loaded."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.session.get(self.base + path, **kw)

    def post(self, path: str, data: dict | None = None, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return self.session.post(self.base + path, data=data or {}, **kw)

    def token(self, path: str = "/login") -> str:
        response = self.get(path)
        match = TOKEN.search(response.text)
        assert match, f"no CSRF token on {path} ({response.status_code}): {response.text[:300]}"
        return match.group(1) or match.group(2)

    def login(self, username: str, password: str, token: str | None = None) -> requests.Response:
        return self.post("/login", {"username": username, "password": password,
                                    "csrf_token": token or self.token()})


class LivePortal:
    def __init__(self, database_url: str, tmp_path: Path, workers: int, threads: int,
                 settings: dict[str, str], port: int | None = None, cwd: Path | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUMMER_")}
        env.update(HUMMER_DATABASE_URL=database_url,
                   HUMMER_INSTANCE_PATH=str(tmp_path / f"instance-{self.port}"),
                   HUMMER_SECRET_KEY="live-portal-test-" + "k" * 32)
        env.update(settings)
        if cwd:  # the process's working directory elsewhere: the code still comes from REPO
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
                 "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(workers), "--threads", str(threads), "--timeout", "120",
                 "--backlog", "256", "wsgi:app"],
                cwd=cwd or REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, preexec_fn=die_with_parent)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 60) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, f"gunicorn exited:\n{self.log()}"
            try:
                return requests.get(self.base + "/healthz", timeout=10).status_code == 200
            except requests.RequestException:  # not listening yet, or a worker still booting
                return False
        wait_for(answers, timeout=timeout, interval=0.2, what="gunicorn to answer /healthz")

    def client(self) -> Client:
        return Client(self.base)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@contextmanager
def live_portal(database_url: str, tmp_path: Path, workers: int = 2, threads: int = 4,
                port: int | None = None, cwd: Path | None = None, **settings: str):
    """gunicorn on the database (on `port`, or a free one; in `cwd`, or the repository),
    with HUMMER_<NAME> settings given as NAME="value"."""
    portal = LivePortal(database_url, tmp_path, workers, threads,
                        {f"HUMMER_{k}": str(v) for k, v in settings.items()}, port, cwd)
    try:
        portal.wait_ready()
        yield portal
    finally:
        portal.stop()
