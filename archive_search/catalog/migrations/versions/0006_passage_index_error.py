"""passages.index_error: why the search backend did not take a passage (code), cleared once it does

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column without a default: no table rewrite on SQLite or PostgreSQL
    op.add_column("passages", sa.Column("index_error", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.drop_column("index_error")
