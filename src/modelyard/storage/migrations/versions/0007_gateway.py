"""Create the tables of the gateway area: REST APIs, their deployments and stages, API keys,
usage plans and the keys in them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rest_apis",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rest_apis"),
    )
    op.create_table(
        "api_deployments",
        sa.Column("api_id", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("api_id", "id", name="pk_api_deployments"),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["rest_apis.id"],
            name="fk_api_deployments_api_id_rest_apis",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "api_stages",
        sa.Column("api_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("deployment_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("api_id", "name", name="pk_api_stages"),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["rest_apis.id"],
            name="fk_api_stages_api_id_rest_apis",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_id", "deployment_id"],
            ["api_deployments.api_id", "api_deployments.id"],
            name="fk_api_stages_api_id_api_deployments",
        ),
    )
    op.create_index("ix_api_stages_api_id_deployment_id", "api_stages", ["api_id", "deployment_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("value_hash", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("value_hash", name="uq_api_keys_value_hash"),
    )
    op.create_table(
        "usage_plans",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_plans"),
    )
    op.create_table(
        "usage_plan_keys",
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "key_id", name="pk_usage_plan_keys"),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["usage_plans.id"],
            name="fk_usage_plan_keys_plan_id_usage_plans",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name="fk_usage_plan_keys_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_usage_plan_keys_key_id", "usage_plan_keys", ["key_id"])


def downgrade() -> None:
    # Tables that refer to others go before those they refer to.
    op.drop_index("ix_usage_plan_keys_key_id", table_name="usage_plan_keys")
    op.drop_table("usage_plan_keys")
    op.drop_table("usage_plans")
    op.drop_table("api_keys")
    op.drop_index("ix_api_stages_api_id_deployment_id", table_name="api_stages")
    op.drop_table("api_stages")
    op.drop_table("api_deployments")
    op.drop_table("rest_apis")
