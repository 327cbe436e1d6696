"""Create the tables of the endpoints area: SageMaker models, endpoint configs, endpoints, tags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sagemaker_models",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution_role_arn", sa.Text(), nullable=True),
        sa.Column("primary_container", sa.Text(), nullable=True),
        sa.Column("containers", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_sagemaker_models"),
    )
    op.create_table(
        "endpoint_configs",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("production_variants", sa.Text(), nullable=False),
        sa.Column("data_capture_config", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_endpoint_configs"),
    )
    op.create_table(
        "endpoints",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("config_name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("data_capture_config", sa.Text(), nullable=True),
        sa.Column("pending_config_name", sa.Text(), nullable=True),
        sa.Column("pending_variants", sa.Text(), nullable=True),
        sa.Column("pending_data_capture_config", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_endpoints"),
    )
    op.create_table(
        "tags",
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_key", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_key", "key", name="pk_tags"),
    )
    op.create_index("ix_tags_resource_type_key", "tags", ["resource_type", "key"])


def downgrade() -> None:
    op.drop_index("ix_tags_resource_type_key", table_name="tags")
    op.drop_table("tags")
    op.drop_table("endpoints")
    op.drop_table("endpoint_configs")
    op.drop_table("sagemaker_models")
