"""Create the table of the training area: training jobs (CreateTrainingJob).

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("secondary_status", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.Text(), nullable=False),
        sa.Column("hyperparameters", sa.Text(), nullable=False),
        sa.Column("input_data_config", sa.Text(), nullable=False),
        sa.Column("output_data_config", sa.Text(), nullable=False),
        sa.Column("resource_config", sa.Text(), nullable=False),
        sa.Column("stopping_condition", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("role_arn", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("training_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("training_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("model_artifacts", sa.Text(), nullable=True),
        sa.Column("final_metrics", sa.Text(), nullable=False),
        sa.Column("transitions", sa.Text(), nullable=False),
        sa.Column("runner", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_training_jobs"),
    )
    op.create_index("ix_training_jobs_created_at_key", "training_jobs", ["created_at", "key"])
    op.create_index("ix_training_jobs_name_key", "training_jobs", ["name", "key"])
    op.create_index("ix_training_jobs_status_key", "training_jobs", ["status", "key"])


def downgrade() -> None:
    op.drop_index("ix_training_jobs_status_key", table_name="training_jobs")
    op.drop_index("ix_training_jobs_name_key", table_name="training_jobs")
    op.drop_index("ix_training_jobs_created_at_key", table_name="training_jobs")
    op.drop_table("training_jobs")
