"""Structured metadata: typed fields per collection and their values per document (issue 18)

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-03 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadata_fields",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("entity_type", sa.String(length=20), nullable=True),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection_id", "name", name="uq_metadata_fields_collection_name"),
    )
    op.create_index("ix_metadata_fields_collection_id", "metadata_fields", ["collection_id"])
    op.create_table(
        "document_metadata",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "field_id", sa.Integer(), sa.ForeignKey("metadata_fields.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("set_by", sa.String(length=150), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("document_id", "field_id", "value", name="uq_document_metadata_value"),
    )
    op.create_index("ix_document_metadata_document_id", "document_metadata", ["document_id"])
    op.create_index("ix_document_metadata_field_value", "document_metadata", ["field_id", "value"])


def downgrade() -> None:
    op.drop_table("document_metadata")
    op.drop_table("metadata_fields")
