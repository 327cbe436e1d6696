"""Create the tables of the identity area: user pools, their clients, users, groups and
memberships, refresh tokens, access keys and token signing keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "user_pools",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_policy", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_pools"),
    )
    op.create_index("ix_user_pools_name_id", "user_pools", ["name", "id"])
    op.create_table(
        "user_pool_clients",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("explicit_auth_flows", sa.Text(), nullable=False),
        sa.Column("access_token_validity_s", sa.Integer(), nullable=False),
        sa.Column("id_token_validity_s", sa.Integer(), nullable=False),
        sa.Column("refresh_token_validity_s", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_user_pool_clients"),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["user_pools.id"],
            name="fk_user_pool_clients_pool_id_user_pools",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_user_pool_clients_pool_id_client_id", "user_pool_clients", ["pool_id", "client_id"]
    )
    op.create_table(
        "identity_users",
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("sub", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_out_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("pool_id", "username", name="pk_identity_users"),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["user_pools.id"],
            name="fk_identity_users_pool_id_user_pools",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_identity_users_sub", "identity_users", ["sub"], unique=True)
    op.create_table(
        "identity_groups",
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("precedence", sa.Integer(), nullable=True),
        sa.Column("role_arn", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "name", name="pk_identity_groups"),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["user_pools.id"],
            name="fk_identity_groups_pool_id_user_pools",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "identity_memberships",
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("group_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "pool_id", "username", "group_name", name="pk_identity_memberships"
        ),
        sa.ForeignKeyConstraint(
            ["pool_id", "username"],
            ["identity_users.pool_id", "identity_users.username"],
            name="fk_identity_memberships_pool_id_identity_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id", "group_name"],
            ["identity_groups.pool_id", "identity_groups.name"],
            name="fk_identity_memberships_pool_id_identity_groups",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_identity_memberships_pool_id_group_name",
        "identity_memberships",
        ["pool_id", "group_name", "username"],
    )
    op.create_table(
        "identity_refresh_tokens",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_identity_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["user_pool_clients.client_id"],
            name="fk_identity_refresh_tokens_client_id_user_pool_clients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id", "username"],
            ["identity_users.pool_id", "identity_users.username"],
            name="fk_identity_refresh_tokens_pool_id_identity_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_identity_refresh_tokens_pool_id_username",
        "identity_refresh_tokens",
        ["pool_id", "username"],
    )
    op.create_index(
        "ix_identity_refresh_tokens_client_id", "identity_refresh_tokens", ["client_id"]
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("pool_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_access_keys"),
        sa.ForeignKeyConstraint(
            ["pool_id", "username"],
            ["identity_users.pool_id", "identity_users.username"],
            name="fk_access_keys_pool_id_identity_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_access_keys_pool_id_username", "access_keys", ["pool_id", "username"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )


def downgrade() -> None:
    # Tables that refer to others go before those they refer to.
    op.drop_table("signing_keys")
    op.drop_index("ix_access_keys_pool_id_username", table_name="access_keys")
    op.drop_table("access_keys")
    op.drop_index("ix_identity_refresh_tokens_client_id", table_name="identity_refresh_tokens")
    op.drop_index(
        "ix_identity_refresh_tokens_pool_id_username", table_name="identity_refresh_tokens"
    )
    op.drop_table("identity_refresh_tokens")
    op.drop_index("ix_identity_memberships_pool_id_group_name", table_name="identity_memberships")
    op.drop_table("identity_memberships")
    op.drop_table("identity_groups")
    op.drop_index("ix_identity_users_sub", table_name="identity_users")
    op.drop_table("identity_users")
    op.drop_index("ix_user_pool_clients_pool_id_client_id", table_name="user_pool_clients")
    op.drop_table("user_pool_clients")
    op.drop_index("ix_user_pools_name_id", table_name="user_pools")
    op.drop_table("user_pools")
