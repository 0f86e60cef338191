"""user session generation: part of every session and remember cookie

Revision ID: c4e1a9d2b7f0
Revises: 5e1c0a7d2b94
Create Date: 2026-12-01 22:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4e1a9d2b7f0'
down_revision = '5e1c0a7d2b94'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
