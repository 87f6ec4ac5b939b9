"""OCR word boxes of scanned pages and page regions of redactions (issue 20: redaction on scans)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one compact JSON value per OCR'd page: offsets in the page text and pixel boxes, no words
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("word_boxes", sa.Text(), nullable=True))
    op.create_table(
        "redaction_regions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "redaction_id", sa.Integer(), sa.ForeignKey("redactions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
    )
    op.create_index("ix_redaction_regions_document_id", "redaction_regions", ["document_id"])
    op.create_index("ix_redaction_regions_redaction_id", "redaction_regions", ["redaction_id"])


def downgrade() -> None:
    op.drop_table("redaction_regions")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("word_boxes")
