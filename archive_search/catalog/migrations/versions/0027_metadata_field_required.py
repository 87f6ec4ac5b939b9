"""Metadata fields can be required (issue 18: editing a field's definition after creation)

Revision ID: 0027
Revises: 0023
Create Date: 2026-12-03 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metadata_fields") as batch:
        batch.add_column(sa.Column("required", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("metadata_fields") as batch:
        batch.drop_column("required")
