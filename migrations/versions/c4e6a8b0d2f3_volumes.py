"""volumes: NFS volumes, their trash, and the projects' storage quota

Revision ID: c4e6a8b0d2f3
Revises: b7d2e4f6a8c1
Create Date: 2026-12-07 16:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4e6a8b0d2f3'
down_revision = 'b7d2e4f6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('project') as batch:
        batch.add_column(sa.Column('quota_storage', sa.String(length=32), server_default='', nullable=False))
        batch.add_column(sa.Column('quota_claims', sa.String(length=16), server_default='', nullable=False))
    op.create_table(
        'volume',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('capacity', sa.String(length=32), nullable=False),
        sa.Column('capacity_bytes', sa.BigInteger(), nullable=False),
        sa.Column('access_mode', sa.String(length=16), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('directory', sa.String(length=255), nullable=False),
        sa.Column('server', sa.String(length=255), nullable=False),
        sa.Column('path', sa.String(length=255), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('usage_bytes', sa.BigInteger(), nullable=True),
        sa.Column('usage_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project_id', 'name'),
        sa.UniqueConstraint('directory'),
    )
    op.create_table(
        'trashed_volume',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_name', sa.String(length=63), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('capacity', sa.String(length=32), nullable=False),
        sa.Column('capacity_bytes', sa.BigInteger(), nullable=False),
        sa.Column('access_mode', sa.String(length=16), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('trash_name', sa.String(length=255), nullable=False),
        sa.Column('deleted_by', sa.String(length=64), nullable=False),
        sa.Column('deleted_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('trash_name'),
    )


def downgrade():
    op.drop_table('trashed_volume')
    op.drop_table('volume')
    with op.batch_alter_table('project') as batch:
        batch.drop_column('quota_claims')
        batch.drop_column('quota_storage')
