"""`flask --app wsgi create-admin` and `db upgrade`, as an operator runs them."""
import os
import subprocess
import sys
from pathlib import Path

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
    made = subprocess.run(flask + ["create-admin", "--if-none"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0 and "Administrator 'admin' created." in made.stdout
    assert "generated password" not in made.stdout
