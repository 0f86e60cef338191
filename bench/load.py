"""Load: logged-in sessions browsing the main pages through gunicorn, on SQLite and MariaDB.

    python bench/load.py [--seconds 60] [--sessions 50] [--workers 2] [--threads 4]
                         [--backends sqlite,mariadb] [--members 56]

For each backend it makes a migrated database (SQLite: a file in a temporary folder;
MariaDB: a database of its own on the server the tests use, 127.0.0.1:3306, dropped
afterwards) holding one user per session, each the owner of a project of their own and a
member of a shared project "team" with --members members and a few hundred audit events.
It serves the portal with gunicorn on a free loopback port (./hummer run's layout:
--workers x --threads), logs every session in, then for --seconds lets each session loop
over the dashboard, the projects list, the team's detail, members and audit pages and its
own project's page. It prints requests per second, p50 and p99 and the errors (non-200
answers and failed requests), beside the baseline: the same sessions fetching a static
file through the same gunicorn for a quarter of the time (what serving costs with no page
and no database behind it).

Loopback only; every loop ends at its deadline, or after --max-requests per session.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench._portal import pct, portal  # noqa: E402
from tests.support.web import TOKEN  # noqa: E402

PASSWORD = "bench-password-1"


def setup_database(url: str, instance: Path, sessions: int, members: int) -> None:
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from portal import create_app
    from portal.extensions import db
    from portal.models import AuditEvent, Membership, Project, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                      "SECRET_KEY": "bench-" + "k" * 32})
    with app.app_context():
        upgrade()
        hashed = generate_password_hash(PASSWORD)  # one hash for all: setup, not the bench
        team = Project(name="team", display_name="Team")
        db.session.add(team)
        for i in range(max(sessions, members)):
            user = User(username=f"user{i:03d}", password_hash=hashed)
            db.session.add(user)
            if i < sessions:
                own = Project(name=f"own{i:03d}", display_name=f"Own {i}")
                own.memberships.append(Membership(user=user, role="owner"))
                db.session.add(own)
            if i < members:
                team.memberships.append(Membership(user=user, role="owner" if i == 0 else "developer"))
        db.session.flush()
        for i in range(300):
            db.session.add(AuditEvent(actor_name=f"user{i % members:03d}", action="app.deploy",
                                      object_type="app", object_name=f"app-{i}", project_name="team",
                                      project_id=team.id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    match = TOKEN.search(s.get(base + "/login", timeout=30).text)
    token = match.group(1) or match.group(2)
    r = s.post(base + "/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               allow_redirects=False, timeout=30)
    if r.status_code != 302:
        raise SystemExit(f"login of {username} failed: {r.status_code} {r.text[:300]}")
    return s


def browse(sessions: list[requests.Session], urls_of, seconds: float, max_requests: int):
    """Each session in its own thread, GETting its URLs in turn until the deadline.
    Returns (latencies in ms, Counter of errors, wall seconds)."""
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def run(i: int):
        urls, n, mine, bad = urls_of(i), 0, [], Counter()
        while time.monotonic() < deadline and n < max_requests:
            url = urls[n % len(urls)]
            n += 1
            t0 = time.perf_counter()
            try:
                r = sessions[i].get(url, timeout=30, allow_redirects=False)
                if r.status_code != 200:
                    bad[f"HTTP {r.status_code}"] += 1
            except requests.RequestException as error:
                bad[type(error).__name__] += 1
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)
            errors.update(bad)

    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(run, range(len(sessions))))
    return latencies, errors, time.monotonic() - start


def run_backend(name: str, args) -> list[tuple]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hummer-load-")))
        if name == "sqlite":
            url = f"sqlite:///{tmp / 'hummer.db'}"
        else:
            from tests.support import databases
            url = stack.enter_context(databases.mariadb_database())
        t0 = time.monotonic()
        setup_database(url, tmp, args.sessions, args.members)
        # every session logs in from 127.0.0.1: the per-address limits would stop the
        # 50 logins; the logged-in browsing measured here is not rate-limited anyway
        base = stack.enter_context(portal(url, tmp, args.workers, args.threads,
                                          LOGIN_RATE_LIMIT="10000 per minute",
                                          ANONYMOUS_RATE_LIMIT="10000 per minute")).base
        sessions = [login(base, f"user{i:03d}") for i in range(args.sessions)]
        print(f"{name}: data and {args.sessions} logins ready in {time.monotonic() - t0:.1f} s; "
              f"browsing for {args.seconds} s ...", flush=True)
        pages = ["/", "/projects", "/projects/team", "/projects/team/members", "/projects/team/audit"]

        def page_urls(i):
            return [base + p for p in pages] + [f"{base}/projects/own{i:03d}"]

        rows = [(name, "pages, logged in", *browse(sessions, page_urls, args.seconds, args.max_requests))]
        baseline_s = max(3.0, args.seconds / 4)
        rows.append((name, "static file (baseline)", *browse(
            sessions, lambda i: [base + "/static/hummer.css"], baseline_s, args.max_requests)))
        return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--members", type=int, default=56, help="members of the shared project")
    ap.add_argument("--backends", default="sqlite,mariadb")
    ap.add_argument("--max-requests", type=int, default=100_000, help="per session, a bound")
    args = ap.parse_args()
    if not (1 <= args.sessions <= 200 and 1 <= args.seconds <= 600):
        raise SystemExit("--sessions 1..200 and --seconds 1..600")
    rows = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        rows.extend(run_backend(name, args))
    print()
    print(f"{args.sessions} sessions, {args.seconds:g} s, gunicorn {args.workers} workers x "
          f"{args.threads} threads, a project of {args.members} members")
    print(f"{'backend':9}{'what':24}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for backend, what, latencies, errors, wall in rows:
        errs = ", ".join(f"{k}: {v}" for k, v in errors.most_common()) or "none"
        if latencies:
            print(f"{backend:9}{what:24}{len(latencies):>10}{len(latencies) / wall:>9.1f}"
                  f"{pct(latencies, 50):>9.1f}{pct(latencies, 99):>9.1f}  {errs}")
        else:
            print(f"{backend:9}{what:24}{0:>10}  no requests  {errs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
