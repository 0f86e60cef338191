"""The migrations: utf8mb4 tables on a database whose default is latin1, and the backfill
of audit_event.project_id."""
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from tests.support import databases

BEFORE_AUDIT_ID = "198aa2ab4ddf"
TEXT = "项目 Ünïcode 🚀 проект"


def make_app(url, tmp_path):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test",
                       "INSTANCE_PATH": str(tmp_path / "instance")})


@pytest.mark.skipif("mariadb" not in databases.backends(), reason="MariaDB not in HUMMER_TEST_DATABASES")
def test_migrations_make_utf8mb4_tables_on_a_latin1_database(tmp_path):
    with databases.mariadb_database(charset="latin1") as url:
        app = make_app(url, tmp_path)
        with app.app_context():
            upgrade()
            rows = db.session.execute(sa.text(
                "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE()")).all()
            assert {"user", "project", "audit_event", "alembic_version"} <= {r[0] for r in rows}
            not_utf8mb4 = [r for r in rows if not r[1].startswith("utf8mb4")]
            assert not not_utf8mb4, f"tables not utf8mb4: {not_utf8mb4}"
            columns = db.session.execute(sa.text(
                "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL "
                "AND CHARACTER_SET_NAME <> 'utf8mb4'")).all()
            assert not columns, f"text columns not utf8mb4: {columns}"

            from portal.models import Project
            db.session.add(Project(name="uni", display_name=TEXT[:100], description=TEXT * 3))
            db.session.commit()
            db.session.expunge_all()
            stored = db.session.scalar(sa.select(Project).filter_by(name="uni"))
            assert stored.display_name == TEXT and stored.description == TEXT * 3
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(params=databases.backends())
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
    else:
        with databases.mariadb_database() as url:
            yield url


def test_backfill_gives_events_the_id_of_their_live_project_only_since_its_creation(empty_url, tmp_path):
    app = make_app(empty_url, tmp_path)
    with app.app_context():
        upgrade(revision=BEFORE_AUDIT_ID)
        created = datetime(2026, 6, 1, 12, 0, 0)
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO project (id, name, display_name, description, quota_cpu, quota_memory, "
                "quota_pods, created_at) VALUES (7, 'shop', 'Shop', '', '', '', '', :at)"), {"at": created})
            for action, at, project in [("project.create", created - timedelta(days=30), "shop"),  # the old shop
                                        ("project.delete", created - timedelta(days=2), "shop"),
                                        ("project.create", created, "shop"),          # the live one
                                        ("member.add", created + timedelta(hours=1), "shop"),
                                        ("project.create", created, "gone"),          # no live project
                                        ("user.create", created, None)]:
                conn.execute(sa.text(
                    "INSERT INTO audit_event (at, actor_name, action, object_type, object_name, "
                    "project_name, detail, remote_addr) VALUES (:at, 'ann', :action, 'project', "
                    "'x', :project, '', '')"), {"at": at, "action": action, "project": project})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT action, at, project_name, project_id FROM audit_event ORDER BY id")).all()
        assert [(r[0], r[2], r[3]) for r in rows] == [
            ("project.create", "shop", None), ("project.delete", "shop", None),
            ("project.create", "shop", 7), ("member.add", "shop", 7),
            ("project.create", "gone", None), ("user.create", None, None)]
        db.session.remove()
        db.engine.dispose()


BEFORE_RUN_RENAMES = "c4e1a9d2b7f0"


def test_run_renames_keep_the_rows_and_go_back(empty_url, tmp_path):
    """provisioning_run.error -> message and run_step.run_pk -> run_id, and back, data kept."""
    from flask_migrate import downgrade
    app = make_app(empty_url, tmp_path)
    with app.app_context():
        upgrade(revision=BEFORE_RUN_RENAMES)
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO provisioning_run (id, run_id, kind, orchestration, target, test, jid, status, "
                "units_total, error, started_by, started_at) VALUES (3, 'hummer-x', 'apply', 'orch.cluster', "
                "'', 0, '1', 'succeeded', 1, 'Registered for app management: API server', 'root', :at)"),
                {"at": datetime(2026, 12, 1)})
            conn.execute(sa.text(
                "INSERT INTO run_step (id, run_pk, step, minion, jid, status, states_done, states_changed, "
                "current_state, failed_state, comment, output, changes, updated_at) VALUES (5, 3, 'master', "
                "'hm-master', '1', 'succeeded', 4, 1, '', '', '', '', '', :at)"), {"at": datetime(2026, 12, 1)})

        def shape():
            inspector = sa.inspect(db.engine)
            runs = {c["name"] for c in inspector.get_columns("provisioning_run")}
            steps = {c["name"] for c in inspector.get_columns("run_step")}
            keys = [(fk["name"], fk["constrained_columns"], fk["referred_table"], fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys("run_step")]
            return runs, steps, keys

        upgrade()
        runs, steps, keys = shape()
        assert "message" in runs and "error" not in runs and "run_id" in steps and "run_pk" not in steps
        assert [(n, c, t, (d or "").upper()) for n, c, t, d in keys] == [
            ("fk_run_step_run_id_provisioning_run", ["run_id"], "provisioning_run", "CASCADE")]
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT message FROM provisioning_run WHERE id = 3")).scalar() \
                == "Registered for app management: API server"
            assert conn.execute(sa.text("SELECT run_id FROM run_step WHERE id = 5")).scalar() == 3

        downgrade(revision=BEFORE_RUN_RENAMES)
        runs, steps, keys = shape()
        assert "error" in runs and "message" not in runs and "run_pk" in steps and "run_id" not in steps
        assert [(n, c) for n, c, _, _ in keys] == [("fk_run_step_run_pk_provisioning_run", ["run_pk"])]
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT error FROM provisioning_run WHERE id = 3")).scalar() \
                == "Registered for app management: API server"
            assert conn.execute(sa.text("SELECT run_pk FROM run_step WHERE id = 5")).scalar() == 3
        upgrade()
        db.session.remove()
        db.engine.dispose()
