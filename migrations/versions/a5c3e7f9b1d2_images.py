"""images: push records, public images, registry garbage collections, project retention

Revision ID: a5c3e7f9b1d2
Revises: e2b8c4f1a6d3
Create Date: 2026-12-07 07:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a5c3e7f9b1d2'
down_revision = 'e2b8c4f1a6d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'image_push',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('repository', sa.String(length=255), nullable=False),
        sa.Column('tag', sa.String(length=128), nullable=False),
        sa.Column('digest', sa.String(length=71), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('pushed_by', sa.String(length=64), nullable=False),
        sa.Column('pushed_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_image_push_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_push')),
        sa.UniqueConstraint('repository', 'tag', name=op.f('uq_image_push_repository')),
    )
    op.create_table(
        'public_image',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository', sa.String(length=255), nullable=False),
        sa.Column('marked_by', sa.String(length=64), nullable=False),
        sa.Column('marked_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_public_image')),
        sa.UniqueConstraint('repository', name=op.f('uq_public_image_repository')),
    )
    op.create_table(
        'registry_gc_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('blobs', sa.Integer(), nullable=False),
        sa.Column('bytes_freed', sa.BigInteger(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('started_by', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_gc_run')),
    )
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keep_tags', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('keep_tags')
    op.drop_table('registry_gc_run')
    op.drop_table('public_image')
    op.drop_table('image_push')
