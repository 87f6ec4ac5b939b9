"""documents.extractor, documents.extractor_version: which extractor made a document's text

Revision ID: 0015
Revises: 0006
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable columns without defaults: no table rewrite; documents made before stay NULL (unknown)
    op.add_column("documents", sa.Column("extractor", sa.String(length=50), nullable=True))
    op.add_column("documents", sa.Column("extractor_version", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("extractor_version")
        batch_op.drop_column("extractor")
