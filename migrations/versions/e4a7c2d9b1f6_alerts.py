"""alerts: rules, their evaluated state, the history of firings, the evaluator's lease

Revision ID: e4a7c2d9b1f6
Revises: c4e6a8b0d2f3
Create Date: 2026-12-07 19:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e4a7c2d9b1f6'
down_revision = 'c4e6a8b0d2f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'alert_rule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=True),
        sa.Column('app', sa.String(length=63), nullable=False),
        sa.Column('node', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('metric', sa.String(length=16), nullable=False),
        sa.Column('comparison', sa.String(length=2), nullable=False),
        sa.Column('threshold', sa.Double(), nullable=False),
        sa.Column('threshold_text', sa.String(length=32), nullable=False),
        sa.Column('for_seconds', sa.Integer(), nullable=False),
        sa.Column('webhook_url', sa.String(length=2000), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_alert_rule_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rule')),
    )
    op.create_index(op.f('ix_alert_rule_project_id'), 'alert_rule', ['project_id'], unique=False)
    op.create_table(
        'alert_state',
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=True),
        sa.Column('value', sa.Double(), nullable=True),
        sa.Column('evaluated_at', sa.DateTime(), nullable=True),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rule.id'], name=op.f('fk_alert_state_rule_id_alert_rule'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_alert_state')),
    )
    op.create_table(
        'alert_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('project_id', sa.Integer(), nullable=True),
        sa.Column('app', sa.String(length=63), nullable=False),
        sa.Column('node', sa.String(length=255), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('metric', sa.String(length=16), nullable=False),
        sa.Column('comparison', sa.String(length=2), nullable=False),
        sa.Column('threshold', sa.Double(), nullable=False),
        sa.Column('value', sa.Double(), nullable=True),
        sa.Column('resolved_value', sa.Double(), nullable=True),
        sa.Column('pending_since', sa.DateTime(), nullable=False),
        sa.Column('firing_since', sa.DateTime(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.Column('note', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_alert_event_project_id_project'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rule.id'], name=op.f('fk_alert_event_rule_id_alert_rule'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_event')),
    )
    op.create_index(op.f('ix_alert_event_rule_id'), 'alert_event', ['rule_id'], unique=False)
    op.create_index(op.f('ix_alert_event_project_id'), 'alert_event', ['project_id'], unique=False)
    op.create_index(op.f('ix_alert_event_firing_since'), 'alert_event', ['firing_since'], unique=False)
    op.create_index(op.f('ix_alert_event_resolved_at'), 'alert_event', ['resolved_at'], unique=False)
    op.create_table(
        'alert_lease',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.Column('taken_at', sa.DateTime(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('evaluated_at', sa.DateTime(), nullable=True),
        sa.Column('problem', sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_lease')),
    )


def downgrade():
    # a table's indexes go with it (MariaDB refuses to drop one a foreign key needs first)
    op.drop_table('alert_lease')
    op.drop_table('alert_event')
    op.drop_table('alert_state')
    op.drop_table('alert_rule')
