"""api tokens: personal access tokens, their projects, and the audit's "via token"

Revision ID: a9f3c1e5d7b2
Revises: c4e6a8b0d2f3
Create Date: 2026-12-07 19:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a9f3c1e5d7b2'
down_revision = 'e4a7c2d9b1f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('ceiling', sa.String(length=16), nullable=False),
        sa.Column('all_projects', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name='fk_api_token_user_id_user', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_api_token'),
        sa.UniqueConstraint('user_id', 'name', name='uq_api_token_user_id'),
        sa.UniqueConstraint('secret_hash', name='uq_api_token_secret_hash'),
    )
    with op.batch_alter_table('api_token') as batch:
        batch.create_index('ix_api_token_user_id', ['user_id'], unique=False)
    op.create_table(
        'api_token_project',
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], name='fk_api_token_project_token_id_api_token',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name='fk_api_token_project_project_id_project',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_id', 'project_id', name='pk_api_token_project'),
    )
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('via_token', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_column('via_token')
    op.drop_table('api_token_project')
    op.drop_table('api_token')
