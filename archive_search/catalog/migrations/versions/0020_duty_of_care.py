"""Duty of care: withdrawn and purged documents, legal holds, document-level restrictions,
per-collection retention review

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable columns (or constant server defaults): no table rewrite on SQLite or PostgreSQL
    op.add_column("documents", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("documents", sa.Column("withdrawn_by", sa.String(length=150), nullable=True))
    op.add_column("documents", sa.Column("withdrawn_reason", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "documents", sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "documents", sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index("ix_documents_withdrawn_at", "documents", ["withdrawn_at"])
    op.create_index("ix_documents_restricted", "documents", ["restricted"])
    op.add_column(
        "collections", sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("collections", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_table(
        "document_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("added_by", sa.String(length=150), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("document_id", "user_id", "group_id", name="uq_document_access_target"),
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_document_access_one_grantee"),
    )
    op.create_index("ix_document_access_document_id", "document_access", ["document_id"])
    op.create_index("ix_document_access_user_id", "document_access", ["user_id"])
    op.create_index("ix_document_access_group_id", "document_access", ["group_id"])


def downgrade() -> None:
    op.drop_table("document_access")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
        batch_op.drop_column("legal_hold")
    op.drop_index("ix_documents_restricted", table_name="documents")
    op.drop_index("ix_documents_withdrawn_at", table_name="documents")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        for col in ("restricted", "legal_hold", "purged_at", "withdrawn_reason", "withdrawn_by"):
            batch_op.drop_column(col)
        for col in ("withdrawn_at",):
            batch_op.drop_column(col)
