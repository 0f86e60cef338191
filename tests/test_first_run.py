"""The README's first command, `./hummer run`, from a fresh clone, as a new user runs it.

One venv (HUMMER_VENV in a temp dir) serves both cases, so that the real install is paid
once: the first `./hummer run` creates it from requirements.txt; then the script's own
ensure_venv adds requirements-test.txt (what `./hummer test` does), and the next
`./hummer run` must take that venv as it is, without installing anything.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.daemons import stop_group
from tests.support.processes import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
INSTALLING = "installing Python packages"
INSTALL_TIMEOUT = 600  # a fresh install on 2 busy cores; pip's cache makes it a minute or two


def fresh_clone(tmp_path: Path) -> Path:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", head], cwd=clone, check=True)
    return clone


def environment(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUMMER_", "VIRTUAL_ENV"))}
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir(mode=0o700)
    env.update(HUMMER_VENV=str(tmp_path / "venv"), XDG_RUNTIME_DIR=str(runtime_dir), **extra)
    return env


class Run:
    """`./hummer run` in a process group of its own, its output in a file."""

    def __init__(self, clone: Path, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        env = dict(env, HUMMER_BIND=f"127.0.0.1:{self.port}", HUMMER_WORKERS="1")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(["./hummer", "run"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self) -> str:
        """The end of the output, without pip's notes about this machine's local indexes."""
        lines = [l for l in self.output().splitlines() if not l.startswith("WARNING: Location")]
        return "\n".join(lines)[-4000:]

    def login_page(self) -> requests.Response | None:
        code = self.proc.poll()
        assert code is None, f"./hummer run exited with {code}"
        try:
            response = requests.get(self.url + "/login", timeout=10)
        except requests.RequestException:  # not listening yet
            return None
        return response if response.status_code == 200 else None

    def wait_for_login_page(self, timeout: float) -> requests.Response:
        try:
            return wait_for(self.login_page, timeout, interval=0.5, what="GET /login to answer 200")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.tail()}") from None

    def stop(self) -> None:
        stop_group(self.proc, grace=30)


def serve_once(clone: Path, env: dict, log: Path, timeout: float) -> tuple[str, str]:
    run = Run(clone, env, log)
    try:
        page = run.wait_for_login_page(timeout).text
        # gunicorn 27 would open its control socket here (or in ~/.gunicorn) while it serves
        runtime_dir = Path(env["XDG_RUNTIME_DIR"])
        assert list(runtime_dir.iterdir()) == [], "gunicorn opened a control socket"
    finally:
        run.stop()
    return page, run.output()


def assert_login_form(page: str) -> None:
    assert re.search(r'<form[^>]*method="post"', page, re.I), page[:2000]
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="csrf_token"' in page


@pytest.mark.timeout(1500)  # two installs at most; about 3 minutes in all on 2 busy cores
def test_first_command_from_a_fresh_clone_then_with_a_test_venv(tmp_path):
    clone = fresh_clone(tmp_path)
    instance = tmp_path / "instance"
    env = environment(tmp_path, HUMMER_INSTANCE_PATH=str(instance))

    # 1. A fresh clone, nothing installed: install, migrate, an admin, the login page.
    page, output = serve_once(clone, env, tmp_path / "first.log", INSTALL_TIMEOUT)
    assert_login_form(page)
    assert INSTALLING in output
    # pip says what it installs, package by package, instead of minutes of silence
    assert re.search(r"^(Collecting|Requirement already satisfied:) flask\b", output, re.M | re.I), output[-4000:]
    assert "Administrator 'admin' created" in output and "generated password" in output
    assert "one machine on a trusted network" in output and "behind nginx" in output
    assert "Control socket" not in output
    # the instance folder and the SQLite database are the portal user's alone
    assert oct(instance.stat().st_mode & 0o777) == "0o700"
    assert oct((instance / "hummer.db").stat().st_mode & 0o777) == "0o600"

    # 2. The venv as `./hummer test` leaves it: the script's own ensure_venv for the tests.
    made = subprocess.run(["bash", "-c", "source ./hummer && ensure_venv requirements-test.txt"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert made.returncode == 0, made.stderr[-4000:]
    assert INSTALLING in made.stderr and "requirements-test.txt" in made.stderr
    venv_python = tmp_path / "venv" / "bin" / "python"
    assert subprocess.run([str(venv_python), "-c", "import pytest, selenium"]).returncode == 0

    # 3. `./hummer run` takes the test venv as it is and serves at once.
    page, output = serve_once(clone, env, tmp_path / "second.log", 120)
    assert_login_form(page)
    assert INSTALLING not in output, output[-4000:]
    assert "nothing to do" in output  # the admin from the first run is kept
