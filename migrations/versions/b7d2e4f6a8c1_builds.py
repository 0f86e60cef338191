"""builds: image builds and their logs

Revision ID: b7d2e4f6a8c1
Revises: a5c3e7f9b1d2
Create Date: 2026-12-07 14:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d2e4f6a8c1'
down_revision = 'a5c3e7f9b1d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'build',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('repository', sa.String(length=255), nullable=False),
        sa.Column('tag', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('source_name', sa.String(length=255), nullable=False),
        sa.Column('git_url', sa.String(length=1024), nullable=False),
        sa.Column('git_ref', sa.String(length=255), nullable=False),
        sa.Column('git_path', sa.String(length=255), nullable=False),
        sa.Column('commit', sa.String(length=64), nullable=False),
        sa.Column('dockerfile', sa.String(length=255), nullable=False),
        sa.Column('build_args', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('digest', sa.String(length=71), nullable=False),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('worker', sa.String(length=255), nullable=False),
        sa.Column('started_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_build_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_build')),
    )
    op.create_table(
        'build_log_chunk',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('build_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['build_id'], ['build.id'], name=op.f('fk_build_log_chunk_build_id_build'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_build_log_chunk')),
    )
    with op.batch_alter_table('build_log_chunk', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_build_log_chunk_build_id'), ['build_id'], unique=False)


def downgrade():
    op.drop_table('build_log_chunk')  # with its index (MariaDB keeps it while the foreign key needs it)
    op.drop_table('build')
