"""provisioning runs: error becomes message (it holds success notes too), run_step.run_pk becomes run_id

The status strings are unchanged (portal.models.RunStatus names them).

Revision ID: d7a3f1c9e2b5
Revises: c4e1a9d2b7f0
Create Date: 2026-12-02 15:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd7a3f1c9e2b5'
down_revision = 'c4e1a9d2b7f0'
branch_labels = None
depends_on = None


def _rename_step_column(old: str, new: str) -> None:
    # The foreign key is named after its column (fk_run_step_<column>_provisioning_run): drop
    # it, rename the column, and create it again under the new name. On SQLite the batch
    # rebuilds the table; on MariaDB these are ALTER TABLEs. MariaDB keeps the index it made
    # for the old key, under the old key's name: it goes too, and the new key gets its own.
    bind = op.get_bind()
    with op.batch_alter_table('run_step', schema=None) as batch_op:
        batch_op.drop_constraint(f'fk_run_step_{old}_provisioning_run', type_='foreignkey')
    if bind.dialect.name == 'mysql':
        op.drop_index(f'fk_run_step_{old}_provisioning_run', table_name='run_step')
    with op.batch_alter_table('run_step', schema=None) as batch_op:
        batch_op.alter_column(old, new_column_name=new, existing_type=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table('run_step', schema=None) as batch_op:
        batch_op.create_foreign_key(f'fk_run_step_{new}_provisioning_run', 'provisioning_run', [new], ['id'],
                                    ondelete='CASCADE')


def upgrade():
    with op.batch_alter_table('provisioning_run', schema=None) as batch_op:
        batch_op.alter_column('error', new_column_name='message', existing_type=sa.Text(), existing_nullable=False)
    _rename_step_column('run_pk', 'run_id')


def downgrade():
    _rename_step_column('run_id', 'run_pk')
    with op.batch_alter_table('provisioning_run', schema=None) as batch_op:
        batch_op.alter_column('message', new_column_name='error', existing_type=sa.Text(), existing_nullable=False)
