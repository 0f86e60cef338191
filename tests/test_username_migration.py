"""The migration that makes usernames case-insensitive, on SQLite and MariaDB: clean data
is lower-cased; names that differ only in case stop it, named, with nothing changed."""
from __future__ import annotations

import contextlib
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from tests.support import databases

REVISION = "5e1c0a7d2b94"
users = sa.table("user", sa.column("id", sa.Integer), sa.column("username", sa.String),
                 sa.column("email", sa.String), sa.column("password_hash", sa.String),
                 sa.column("is_admin", sa.Boolean), sa.column("disabled", sa.Boolean),
                 sa.column("failed_logins", sa.Integer), sa.column("created_at", sa.DateTime))


@pytest.fixture(params=databases.backends())
def before(request, tmp_path):
    """An app on a fresh database migrated to just before REVISION. On MariaDB the
    username column gets a case-sensitive collation, as on an install whose database
    was created with one: only then can old rows differ only in case there."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'hummer.db'}"
        else:
            url = stack.enter_context(databases.mariadb_database())
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test",
                          "INSTANCE_PATH": str(tmp_path / "instance")})
        with app.app_context():
            config = app.extensions["migrate"].migrate.get_config()
            previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
            upgrade(revision=previous)
            if request.param == "mariadb":
                db.session.execute(sa.text(
                    "ALTER TABLE user MODIFY username VARCHAR(64) COLLATE utf8mb4_bin NOT NULL"))
            db.session.commit()
            yield app, previous
            db.session.remove()
            db.engine.dispose()


def add(*names: str) -> None:
    db.session.execute(users.insert(), [
        {"username": n, "email": "", "password_hash": "x", "is_admin": False, "disabled": False,
         "failed_logins": 0, "created_at": datetime(2026, 1, 1)} for n in names])
    db.session.commit()


def names() -> list[str]:
    return sorted(db.session.scalars(sa.select(users.c.username)))


def version() -> str:
    return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


def test_clean_usernames_are_lower_cased_and_kept_so(before):
    app, _ = before
    add("Alice", "bob", "CHARLIE")
    upgrade(revision=REVISION)
    db.session.rollback()
    assert names() == ["alice", "bob", "charlie"] and version() == REVISION
    with pytest.raises(sa.exc.DBAPIError):  # the storage refuses another case
        add("ALICE")
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        add("Dora")
    db.session.rollback()
    assert names() == ["alice", "bob", "charlie"]


def test_usernames_differing_only_in_case_stop_the_migration_by_name(before):
    app, previous = before
    add("alice", "Alice", "ALICE", "bob", "Bob", "carol")
    # alembic's own command, so the exception is seen; `flask db upgrade` prints a
    # RuntimeError's text as "Error: ..." and exits with 1
    with pytest.raises(RuntimeError) as raised:
        command.upgrade(app.extensions["migrate"].migrate.get_config(), REVISION)
    message = str(raised.value)
    assert "'alice', 'Alice', 'ALICE'" in message and "'bob', 'Bob'" in message
    assert "carol" not in message and "Rename all but one" in message
    db.session.rollback()
    assert names() == sorted(["alice", "Alice", "ALICE", "bob", "Bob", "carol"])
    assert version() == previous
