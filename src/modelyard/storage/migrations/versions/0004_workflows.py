"""Create the tables of the workflows area: state machines, their revisions, executions and
their history events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-16
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "state_machines",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("logging_configuration", sa.Text(), nullable=True),
        sa.Column("tracing_configuration", sa.Text(), nullable=True),
        sa.Column("encryption_configuration", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_state_machines"),
    )
    op.create_table(
        "state_machine_revisions",
        sa.Column("revision_id", sa.Text(), nullable=False),
        sa.Column("state_machine", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("role_arn", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("revision_id", name="pk_state_machine_revisions"),
    )
    op.create_index(
        "ix_state_machine_revisions_state_machine", "state_machine_revisions", ["state_machine"]
    )
    op.create_table(
        "executions",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state_machine", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("trace_header", sa.Text(), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redrive_count", sa.Integer(), nullable=False),
        sa.Column("redrive_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expires", sa.Float(), nullable=True),
        sa.Column("map_run", sa.Text(), nullable=True),
        sa.Column("parent_key", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_executions"),
    )
    op.create_index(
        "ix_executions_state_machine_start_date", "executions", ["state_machine", "start_date"]
    )
    op.create_index("ix_executions_status_lease_expires", "executions", ["status", "lease_expires"])
    op.create_table(
        "execution_events",
        sa.Column("execution_key", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("redrive", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=False),
        sa.Column("details_name", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("replayable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("execution_key", "id", name="pk_execution_events"),
        sa.UniqueConstraint(
            "execution_key", "redrive", "key", name="uq_execution_events_execution_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("execution_events")
    op.drop_index("ix_executions_status_lease_expires", table_name="executions")
    op.drop_index("ix_executions_state_machine_start_date", table_name="executions")
    op.drop_table("executions")
    op.drop_index("ix_state_machine_revisions_state_machine", table_name="state_machine_revisions")
    op.drop_table("state_machine_revisions")
    op.drop_table("state_machines")
