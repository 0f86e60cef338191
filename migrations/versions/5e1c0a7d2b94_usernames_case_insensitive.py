"""usernames are case-insensitive: stored in lower case, unique as such

Refuses to run, naming them, when existing usernames differ only in case (possible
on SQLite, or on MariaDB with a case-sensitive collation): rename all but one of each
group first. Otherwise every username is lower-cased; the existing unique constraint
on `user.username` then makes them unique whatever their case, and a CHECK constraint
keeps them lower case.

Revision ID: 5e1c0a7d2b94
Revises: 3c41d7e0a9b2
Create Date: 2026-12-01 22:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5e1c0a7d2b94'
down_revision = '3c41d7e0a9b2'
branch_labels = None
depends_on = None

user = sa.table('user', sa.column('id', sa.Integer), sa.column('username', sa.String(64)))


class UsernameClash(RuntimeError):
    """Usernames that differ only in case: the migration cannot pick one for you."""


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(user.c.id, user.c.username).order_by(user.c.id)).all()
    groups: dict[str, list[str]] = {}
    for _, name in rows:
        groups.setdefault(name.lower(), []).append(name)
    clashes = [names for names in groups.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(", ".join(repr(n) for n in names) for names in clashes)
        raise UsernameClash(
            f"Usernames are becoming case-insensitive, but these differ only in case: {listed}. "
            "Rename all but one in each group (UPDATE user SET username = ... WHERE id = ...), "
            "then run the upgrade again. Nothing was changed.")
    for user_id, name in rows:
        if name != name.lower():
            conn.execute(user.update().where(user.c.id == user_id).values(username=name.lower()))
    # The storage itself keeps them lower case, so the unique constraint is case-insensitive
    # (on MariaDB's default *_ci collations the comparison ignores case already).
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_user_username_lower'), 'username = lower(username)')


def downgrade():
    # The original capitalisation is gone; lower-case usernames work before this revision too.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_username_lower'), type_='check')
