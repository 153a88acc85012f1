"""Prompts, versions and few-shot examples of the Prompts workspace

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = sa.text("'1970-01-01 00:00:00+00:00'")
STAMPS = ("created_at", "updated_at")


def _stamps(batch_op) -> None:
    for name in STAMPS:
        batch_op.add_column(
            sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=EPOCH)
        )


def upgrade() -> None:
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "skill_name", sa.String(), nullable=False, server_default="TextClassification"
            )
        )
        for name in ("input_fields", "output_classes"):
            batch_op.add_column(
                sa.Column(name, sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
            )
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        _stamps(batch_op)
    with op.batch_alter_table("prompt_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_few_shot_examples", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("model_provider_connection_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("organization_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        _stamps(batch_op)
    # Rows that existed before: created at the upgrade...
    for table in ("prompt", "prompt_version"):
        op.execute(
            f"UPDATE {table} SET created_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP"
        )
    # ... by their organization's first user, in their prompt's organization.
    op.execute(
        'UPDATE prompt SET created_by_id = (SELECT MIN("user".id) FROM "user" '
        'WHERE "user".organization_id = prompt.organization_id)'
    )
    op.execute(
        "UPDATE prompt_version SET organization_id = (SELECT prompt.organization_id FROM prompt "
        "WHERE prompt.id = prompt_version.prompt_id), created_by_id = (SELECT "
        "prompt.created_by_id FROM prompt WHERE prompt.id = prompt_version.prompt_id)"
    )
    op.create_table(
        "few_shot_example",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["prompt_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("few_shot_example", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_few_shot_example_task_id"), ["task_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_few_shot_example_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("few_shot_example", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_few_shot_example_version_id"))
        batch_op.drop_index(batch_op.f("ix_few_shot_example_task_id"))
    op.drop_table("few_shot_example")
    with op.batch_alter_table("prompt_version", schema=None) as batch_op:
        for name in (
            "updated_at", "created_at", "created_by_id", "organization_id",
            "model_provider_connection_id", "max_few_shot_examples",
        ):  # fmt: skip
            batch_op.drop_column(name)
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        for name in (
            "updated_at", "created_at", "created_by_id", "output_classes", "input_fields",
            "skill_name", "description",
        ):  # fmt: skip
            batch_op.drop_column(name)
