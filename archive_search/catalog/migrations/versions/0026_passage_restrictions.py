"""Passage-level confidentiality (a passage restricted to named users and groups) and case
redaction rules for bundles

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-03 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # two new tables: nothing rewritten in ``passages``
    op.create_table(
        "passage_restrictions",
        sa.Column(
            "passage_id", sa.Integer(), sa.ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("added_by", sa.String(length=150), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_passage_restrictions_document_id", "passage_restrictions", ["document_id"])
    op.create_table(
        "passage_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "passage_id",
            sa.Integer(),
            sa.ForeignKey("passage_restrictions.passage_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("added_by", sa.String(length=150), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("passage_id", "user_id", "group_id", name="uq_passage_access_target"),
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_passage_access_one_grantee"),
    )
    op.create_index("ix_passage_access_passage_id", "passage_access", ["passage_id"])
    op.create_index("ix_passage_access_user_id", "passage_access", ["user_id"])
    op.create_index("ix_passage_access_group_id", "passage_access", ["group_id"])
    op.create_table(
        "case_redaction_rules",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("entity_types", sa.Text(), nullable=False),
        sa.Column("keep_entities", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_redaction_rules")
    op.drop_table("passage_access")
    op.drop_table("passage_restrictions")
