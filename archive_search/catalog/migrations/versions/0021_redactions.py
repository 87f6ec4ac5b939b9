"""Redactions: masked spans of stored text, with what they masked (for managers and lifting)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redactions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_redactions_document_id", "redactions", ["document_id"])
    op.create_table(
        "redaction_spans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "redaction_id", sa.Integer(), sa.ForeignKey("redactions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
    )
    op.create_index("ix_redaction_spans_redaction_id", "redaction_spans", ["redaction_id"])
    op.create_index("ix_redaction_spans_document_id", "redaction_spans", ["document_id"])


def downgrade() -> None:
    op.drop_table("redaction_spans")
    op.drop_table("redactions")
