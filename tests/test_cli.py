"""`flask --app wsgi create-admin` and `db upgrade`, and ./hummer's help, as an operator runs them."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from portal.models import User

ROOT = Path(__file__).resolve().parent.parent


def test_create_admin_prompts_like_createsuperuser(runner):
    result = runner.invoke(args=["create-admin"], input="boss\nsupersecret\nsupersecret\n")
    assert result.exit_code == 0, result.output
    boss = db.session.scalar(db.select(User).filter_by(username="boss"))
    assert boss.is_admin and boss.check_password("supersecret")


def test_create_admin_rejects_short_password(runner):
    result = runner.invoke(args=["create-admin", "--username", "boss"], input="short\nshort\n")
    assert result.exit_code != 0
    assert "password: Password must be at least 8 characters." in result.output
    assert db.session.scalar(db.select(User)) is None


def test_create_admin_if_none_generates_once(runner):
    result = runner.invoke(args=["create-admin", "--if-none"])
    assert result.exit_code == 0
    line = next(l for l in result.output.splitlines() if "generated password" in l)
    password = line.rsplit(" ", 1)[1]
    admin = db.session.scalar(db.select(User).filter_by(username="admin"))
    assert admin.check_password(password)
    again = runner.invoke(args=["create-admin", "--if-none"])
    assert "nothing to do" in again.output and "password" not in again.output


def test_db_upgrade_and_create_admin_from_the_shell(tmp_path):
    env = dict(os.environ, HUMMER_INSTANCE_PATH=str(tmp_path), HUMMER_ADMIN_PASSWORD="from-the-env-1")
    env.pop("HUMMER_DATABASE_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    up = subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    assert (tmp_path / "hummer.db").exists() and (tmp_path / "secret_key").exists()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "hummer.db").stat().st_mode & 0o777) == "0o600"
    made = subprocess.run(flask + ["create-admin", "--if-none"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0 and "Administrator 'admin' created." in made.stdout
    assert "generated password" not in made.stdout


@pytest.fixture
def umask_022():
    """The usual umask, under which files are made world-readable unless asked otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_instance_folder_and_sqlite_files_are_private(tmp_path, monkeypatch, umask_022):
    instance = tmp_path / "instance"
    monkeypatch.setenv("HUMMER_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("HUMMER_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUMMER_SECRET_KEY", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'hummer.db'}"
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:  # open: SQLite keeps its -wal and -shm files
            conn.execute(User.__table__.insert().values(username="eve", password_hash="x"))
            conn.commit()
            modes = {p.name: oct(p.stat().st_mode & 0o777) for p in instance.iterdir()}
        db.engine.dispose()
    assert oct(instance.stat().st_mode & 0o777) == "0o700"
    assert modes == {"hummer.db": "0o600", "hummer.db-wal": "0o600", "hummer.db-shm": "0o600",
                     "secret_key": "0o600"}


def test_short_secret_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMMER_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HUMMER_SECRET_KEY", "x" * 31)
    with pytest.raises(SystemExit) as refused:
        create_app()
    assert "HUMMER_SECRET_KEY is 31 bytes long; it must be at least 32" in str(refused.value)
    monkeypatch.setenv("HUMMER_SECRET_KEY", "é" * 16)  # 32 bytes in UTF-8
    assert create_app().config["SECRET_KEY"] == "é" * 16
    assert not (tmp_path / "secret_key").exists()


def test_short_secret_key_stops_the_shell_command_with_its_reason(tmp_path):
    env = dict(os.environ, HUMMER_INSTANCE_PATH=str(tmp_path), HUMMER_SECRET_KEY="changeme")
    env.pop("HUMMER_DATABASE_URL", None)
    up = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                        capture_output=True, text=True)
    assert up.returncode != 0
    assert "HUMMER_SECRET_KEY is 8 bytes long; it must be at least 32" in up.stderr
    assert "Traceback" not in up.stderr
    assert not (tmp_path / "hummer.db").exists() or (tmp_path / "hummer.db").stat().st_size == 0


# ./hummer's help: at once, without a venv, an install or the Kubernetes build.

def hummer(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """./hummer ARGS with the venv and the build cache pointing into tmp_path (both unmade)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUMMER_")}
    env.update(HUMMER_VENV=str(tmp_path / "venv"), HUMMER_CACHE=str(tmp_path / "cache"),
               HUMMER_INSTANCE_PATH=str(tmp_path / "instance"))
    proc = subprocess.Popen([str(ROOT / "hummer"), *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # it went on to install or build: stop all of it
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"./hummer {' '.join(args)} did not answer in 30 s:\n{err[-2000:]}")
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "help made a venv, a cache or an instance"
    return done


BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))


def test_hummer_help_lists_every_command_and_bench(tmp_path):
    for args in (["help"], ["--help"], ["-h"]):
        done = hummer(*args, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
        for command in ("run", "test", "dev-cluster", "bench NAME", "help"):
            assert re.search(rf"^  {command}\b", done.stdout, re.M), (command, done.stdout)
        for name in BENCHES:
            assert re.search(rf"^  {name} +\S", done.stdout, re.M), (name, done.stdout)
    # the bench's one-line description comes from its docstring
    assert "Cold build time vs warm start-to-ready time" in done.stdout
    bare = hummer(tmp_path=tmp_path)
    assert bare.returncode == 2 and "dev-cluster" in bare.stderr and "orchestrate" in bare.stderr


@pytest.mark.parametrize("command, says", [
    ("run", "Serves the portal for one machine on a trusted network"),
    ("test", "Every argument goes to pytest"),
    ("dev-cluster", "--nodes N"),
    ("bench", "Runs bench/NAME.py in the test venv"),
])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_answers_help_at_once(tmp_path, command, says, flag):
    done = hummer(command, flag, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: ./hummer {command}") and says in done.stdout
    assert "installing" not in done.stderr and "build-kube" not in done.stderr
    assert hummer("help", command, tmp_path=tmp_path).stdout == done.stdout


def test_dev_cluster_help_after_other_options_too(tmp_path):
    done = hummer("dev-cluster", "--nodes", "2", "--help", tmp_path=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: ./hummer dev-cluster")


def test_bench_without_a_name_lists_the_benches(tmp_path):
    done = hummer("bench", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "bench needs the NAME of one of the benches" in done.stderr
    for name in BENCHES:
        assert re.search(rf"^  {name} +\S", done.stderr, re.M), (name, done.stderr)
    assert "parameter null or not set" not in done.stderr  # bash's own words


@pytest.mark.parametrize("name", ["nosuch", "../hummer", "app_list.py"])
def test_bench_with_an_unknown_name_says_so(tmp_path, name):
    done = hummer("bench", name, tmp_path=tmp_path)
    assert done.returncode == 2
    assert f"no bench named '{name}'" in done.stderr and "orchestrate" in done.stderr


@pytest.mark.parametrize("args, says", [
    (["serve"], "no command named 'serve'"),
    (["help", "serve"], "no command named 'serve'"),
    (["run", "--port", "9000"], "run takes no arguments, got '--port'"),
])
def test_unknown_command_or_argument_is_refused_clearly(tmp_path, args, says):
    done = hummer(*args, tmp_path=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr and "./hummer help lists the commands" in done.stderr
