"""What the benches share: a portal served by gunicorn, set up and driven only from outside.

The database is made with the portal's own commands (`flask --app wsgi db upgrade` and
`create-admin`), gunicorn is the tests' launcher (tests/support/live_portal.py), and
everything after that (plans, projects, deploys, cluster settings, runs) goes through
HTTP, as a user would do it. So a bench measures what a user gets and survives changes
to the portal's inside.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.kube_fixtures import wait_for  # noqa: E402,F401 (re-exported for the benches)
from tests.support.live_portal import Client, live_portal  # noqa: E402
from tests.support.web import TOKEN  # noqa: E402 (the tests' reader of the CSRF token)

ADMIN = "bench"
PASSWORD = "bench-password-1"
SECRET_KEY = "bench-secret-key-of-32-bytes-at-least"
# gunicorn's access log, one line per request: worker pid, request line, status, microseconds.
ACCESS_FORMAT = '%(p)s %(s)s %(D)s "%(r)s"'  # %(p)s is written <pid>
ACCESS_LINE = re.compile(r"^<(\d+)> (\d{3}) (\d+) \"(\S+) (\S+) ")


def prepare_database(url: str, instance: Path) -> None:
    """A migrated database with the administrator ADMIN, by the portal's own commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUMMER_")}
    env.update(HUMMER_DATABASE_URL=url, HUMMER_INSTANCE_PATH=str(instance), HUMMER_SECRET_KEY=SECRET_KEY,
               HUMMER_ADMIN_PASSWORD=PASSWORD)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for args in (["db", "upgrade"], ["create-admin", "--username", ADMIN]):
        r = subprocess.run(flask + args, cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


@contextmanager
def portal(url: str, tmp: Path, workers: int = 2, threads: int = 4, access_log: bool = False, **settings):
    """gunicorn serving the portal on `url` (tests/support/live_portal.py), HUMMER_<NAME> settings
    as NAME="value". access_log: gunicorn logs each request with its worker's pid (ACCESS_LINE)
    to portal.log_path, through GUNICORN_CMD_ARGS, which gunicorn reads besides its command line."""
    saved = os.environ.get("GUNICORN_CMD_ARGS")
    if access_log:
        os.environ["GUNICORN_CMD_ARGS"] = f"--access-logfile=- --access-logformat={shlex.quote(ACCESS_FORMAT)}"
    try:
        with live_portal(url, tmp, workers=workers, threads=threads, **settings) as p:
            yield p
    finally:
        if saved is None:
            os.environ.pop("GUNICORN_CMD_ARGS", None)
        else:
            os.environ["GUNICORN_CMD_ARGS"] = saved


def token_of(client: Client, path: str) -> str:
    match = TOKEN.search(client.get(path).text)
    if not match:
        raise SystemExit(f"no CSRF token on {path}")
    return match.group(1) or match.group(2)


def login(base: str) -> Client:
    client = Client(base)
    r = client.login(ADMIN, PASSWORD)
    if r.status_code != 302:
        raise SystemExit(f"login failed: {r.status_code} {r.text[:300]}")
    return client


def post_form(client: Client, path: str, data: dict, token_path: str | None = None, want: int = 302):
    r = client.post(path, {**data, "csrf_token": token_of(client, token_path or path)})
    if r.status_code != want:
        raise SystemExit(f"POST {path}: {r.status_code}, wanted {want}: {r.text[:1500]}")
    return r


def create_plan(client: Client, name: str = "tiny", default: bool = True) -> None:
    """A resource plan, as an administrator makes it on /admin/plans/new."""
    data = {"name": name, "cpu_request": "1m", "memory_request": "1Mi", "cpu_limit": "100m",
            "memory_limit": "64Mi"}
    if default:
        data["is_default"] = "y"
    post_form(client, "/admin/plans/new", data)


def create_project(client: Client, name: str) -> None:
    """A project, as its owner makes it on /projects/new: the portal creates its namespace,
    ResourceQuota and LimitRange."""
    post_form(client, "/projects/new", {"name": name, "display_name": name.capitalize(), "description": ""})


def admin_with_project(base: str, cluster, namespace: str) -> Client:
    """The admin logged in, with the default plan made and a project whose namespace is ready
    for pods (its ServiceAccount exists)."""
    admin = login(base)
    create_plan(admin)
    create_project(admin, namespace)
    wait_for(lambda: cluster.service_account_ready(namespace), 60, what=f"{namespace}'s ServiceAccount")
    return admin


def new_connection_session(client: Client) -> requests.Session:
    """A session with the client's cookies that opens a new TCP connection for every request
    (Connection: close), so that the kernel hands each request to any gunicorn worker
    instead of the one a kept-alive connection sticks to."""
    s = requests.Session()
    s.cookies.update(client.session.cookies)
    s.headers["Connection"] = "close"
    return s


def access_log(path: Path) -> list[tuple[int, int, float, str, str]]:
    """(worker pid, status, ms, method, path) of every request gunicorn logged so far."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = ACCESS_LINE.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), int(m.group(3)) / 1000, m.group(4), m.group(5)))
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by the processes under roots (user + system, reaped children
    included): each live process's own time plus what its exited children left it."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    ticks, seen, todo = 0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        ticks += sum(int(x) for x in stats[pid][11:15])  # utime stime cutime cstime
        todo.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def timed_get(session: requests.Session, url: str, headers: dict | None = None, timeout: float = 120):
    t0 = time.perf_counter()
    r = session.get(url, headers=headers, timeout=timeout, allow_redirects=False)
    return (time.perf_counter() - t0) * 1000, r
