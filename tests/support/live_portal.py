"""The portal as production runs it: `gunicorn wsgi:app` on a free loopback port; the one
gunicorn launcher of the tests and the benches.

    with live_portal(database_url, tmp_path, workers=2, threads=8, LOGIN_MAX_FAILURES=5) as portal:
        portal.client().login(...)                 # plain `requests` sessions, as a browser
    with serve({"HUMMER_DATABASE_URL": url, ...}, log_path, workers=2) as portal:   # benches
        portal.base, portal.worker_pids(), portal.kill(), portal.stop()
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.daemons import Daemon
from tests.support.processes import free_port
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
    """`gunicorn wsgi:app` (REPO's gunicorn.conf.py) on `port` or a free loopback one, in a
    process group of its own (tests/support/daemons.py), its output in `log_path`.

    `env` holds the HUMMER_* settings; of the caller's environment everything else is kept
    and its own HUMMER_* variables are dropped. `args` go to gunicorn as well.

    Kept-alive connections stay open for 60 s, not gunicorn's 2: past those seconds gunicorn
    closes an idle one, and a `requests` client whose next request crosses that close (likely
    under load, as in the flood tests) gets a reset, which it does not retry (a browser does).
    In production nginx holds the client connections (the Salt `portal` formula)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2, threads: int = 4,
                 port: int | None = None, cwd: Path | None = None, timeout: int = 120, args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("HUMMER_")}
        full.update(env)
        if cwd:  # the process's working directory elsewhere: the code still comes from REPO
            full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full.get("PYTHONPATH")]))
        self.log_path = Path(log_path)
        self.daemon = Daemon("gunicorn", [
            sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
            "--timeout", str(timeout), "--backlog", "256", "--keep-alive", "60", *args, "wsgi:app"],
            self.log_path, env=full, cwd=cwd or REPO)
        self.proc = self.daemon.proc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 60, path: str = "/healthz") -> LivePortal:
        """Until GET `path` answers 200; fails at once, with the log, if gunicorn exits."""
        def answers() -> bool:
            assert self.proc.poll() is None, f"gunicorn exited:\n{self.log()}"
            try:
                return requests.get(self.base + path, timeout=10).status_code == 200
            except requests.RequestException:  # not listening yet, or a worker still booting
                return False
        wait_for(answers, timeout=timeout, interval=0.2, what=f"gunicorn to answer {path}")
        return self

    def worker_pids(self) -> list[int]:
        """The pids of gunicorn's workers (the master's children)."""
        import psutil
        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def client(self) -> Client:
        return Client(self.base)

    def kill(self) -> None:
        """What an OOM kill or a crash does: SIGKILL to every process of the portal, no goodbye."""
        self.daemon.kill()
        self.proc.wait(10)
        self.daemon.close()

    def stop(self, grace: float = 20) -> None:
        """SIGTERM the process group, wait up to `grace` seconds, SIGKILL what is left."""
        self.daemon.stop(grace)


@contextmanager
def serve(env: dict[str, str], log_path: Path, workers: int = 2, threads: int = 4, port: int | None = None,
          cwd: Path | None = None, ready_path: str = "/healthz", args: tuple[str, ...] = ()):
    """A LivePortal with exactly these HUMMER_* settings (`env`), ready; stopped afterwards.
    For the benches and for tests that build their settings themselves."""
    portal = LivePortal(env, log_path, workers, threads, port, cwd, args=args)
    try:
        portal.wait_ready(path=ready_path)
        yield portal
    finally:
        portal.stop()


def portal_env(database_url: str, instance_path: Path, **settings) -> dict[str, str]:
    """The HUMMER_* settings of a test portal on `database_url`; more given as NAME="value"."""
    env = {"HUMMER_DATABASE_URL": database_url, "HUMMER_INSTANCE_PATH": str(instance_path),
           "HUMMER_SECRET_KEY": "live-portal-test-" + "k" * 32}
    env.update({f"HUMMER_{k}": str(v) for k, v in settings.items()})
    return env


@contextmanager
def live_portal(database_url: str, tmp_path: Path, workers: int = 2, threads: int = 4,
                port: int | None = None, cwd: Path | None = None, **settings: str):
    """gunicorn on the database (on `port`, or a free one; in `cwd`, or the repository),
    with HUMMER_<NAME> settings given as NAME="value"."""
    port = port or free_port()
    with serve(portal_env(database_url, tmp_path / f"instance-{port}", **settings),
               tmp_path / f"gunicorn-{port}.log", workers, threads, port, cwd) as portal:
        yield portal
