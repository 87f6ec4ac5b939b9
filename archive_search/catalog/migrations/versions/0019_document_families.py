"""document families: fingerprints (MinHash, LSH bands, page hashes, document vectors) and links

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_fingerprints",
        sa.Column(
            "document_id",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("minhash", sa.LargeBinary(), nullable=True),
        sa.Column("text_chars", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("numbers", sa.Text(), nullable=False, server_default=""),
        sa.Column("names", sa.Text(), nullable=False, server_default=""),
        sa.Column("first_date", sa.Date(), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vector_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "family_lsh",
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column(
            "document_id",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.PrimaryKeyConstraint("band", "bucket", "document_id", name="pk_family_lsh"),
    )
    op.create_table(
        "page_hashes",
        sa.Column(
            "document_id",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("phash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "page", name="pk_page_hashes"),
    )
    op.create_table(
        "family_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "doc_a",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "doc_b",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False, server_default="auto"),
        sa.Column("details", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=150), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("doc_a", "doc_b", "kind", name="uq_family_links_pair_kind"),
        sa.CheckConstraint("doc_a < doc_b", name="ck_family_links_order"),
        sa.CheckConstraint(
            "kind IN ('copy', 'edited_copy', 'rescan', 'translation')", name="ck_family_links_kind"
        ),
        sa.CheckConstraint("status IN ('auto', 'confirmed', 'broken')", name="ck_family_links_status"),
    )


def downgrade() -> None:
    op.drop_table("family_links")
    op.drop_table("page_hashes")
    op.drop_table("family_lsh")
    op.drop_table("document_fingerprints")
