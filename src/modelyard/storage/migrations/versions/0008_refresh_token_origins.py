"""Record the origin_jti of each refresh token, so RevokeToken revokes the ID and access
tokens issued with it and from it.

Tokens issued before this revision have none (``NULL``) until they are next used.

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("identity_refresh_tokens", sa.Column("origin_jti", sa.Text(), nullable=True))
    op.create_index(
        "ix_identity_refresh_tokens_origin_jti", "identity_refresh_tokens", ["origin_jti"]
    )


def downgrade() -> None:
    # A batch, so that SQLite, which cannot drop every column in place, copies the table.
    with op.batch_alter_table("identity_refresh_tokens") as batch:
        batch.drop_index("ix_identity_refresh_tokens_origin_jti")
        batch.drop_column("origin_jti")
