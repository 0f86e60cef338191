"""user locale: the language chosen on the profile page (NULL: the browser's)

Revision ID: e2b8c4f1a6d3
Revises: d7a3f1c9e2b5
Create Date: 2026-12-03 08:15:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e2b8c4f1a6d3'
down_revision = 'd7a3f1c9e2b5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locale')
