"""Prompt refinement jobs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refine_job",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("teacher_model_name", sa.String(), nullable=False),
        sa.Column("teacher_connection_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refined_version_id", sa.Integer(), nullable=True),
        sa.Column("reasoning", sa.String(), nullable=True),
        sa.Column("total_cost_usd", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refine_job", schema=None) as batch_op:
        batch_op.create_index("ix_refine_job_organization_id", ["organization_id"], unique=False)
        batch_op.create_index("ix_refine_job_version_id", ["version_id"], unique=False)
        batch_op.create_index("ix_refine_job_next_due_at", ["next_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refine_job", schema=None) as batch_op:
        batch_op.drop_index("ix_refine_job_next_due_at")
        batch_op.drop_index("ix_refine_job_version_id")
        batch_op.drop_index("ix_refine_job_organization_id")
    op.drop_table("refine_job")
