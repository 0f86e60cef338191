"""audit_event.project_id (events keyed by project id, not name); tables as utf8mb4

Revision ID: 3c41d7e0a9b2
Revises: 198aa2ab4ddf
Create Date: 2026-12-01 22:00:00

Audit events were found by project name, so a new project named like a deleted one showed
the old project's history. They now carry the project's id (NULL once it is deleted). The
backfill gives existing events the id of the live project of their name, but only events
recorded since that project was created: older ones belonged to a deleted namesake.

On MySQL/MariaDB, tables that an earlier version created in a non-utf8mb4 database default
(latin1) are converted to utf8mb4.
"""
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = '3c41d7e0a9b2'
down_revision = '198aa2ab4ddf'
branch_labels = None
depends_on = None

# Project.created_at and the project.create event are stamped a moment apart (and MariaDB
# DATETIME keeps whole seconds): allow for that.
CLOCK_SLACK = timedelta(seconds=5)


def _utf8mb4_tables(bind):
    rows = bind.execute(sa.text(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'")).all()
    for table, collation in rows:
        if not (collation or "").startswith("utf8mb4"):
            op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_unicode_ci")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name in ("mysql", "mariadb"):
        _utf8mb4_tables(bind)
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_event_project_id'), ['project_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_event_project_id_project'), 'project',
                                    ['project_id'], ['id'], ondelete='SET NULL')
    project = sa.table('project', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('created_at', sa.DateTime))
    event = sa.table('audit_event', sa.column('project_id', sa.Integer),
                     sa.column('project_name', sa.String), sa.column('at', sa.DateTime))
    for pid, name, created in bind.execute(sa.select(project.c.id, project.c.name,
                                                     project.c.created_at)).all():
        bind.execute(event.update().where(event.c.project_name == name,
                                          event.c.at >= created - CLOCK_SLACK)
                     .values(project_id=pid))


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_event_project_id_project'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_event_project_id'))
        batch_op.drop_column('project_id')
