"""Tasks with data, annotations, predictions and imports

Self-contained: the columns are declared here, never taken from today's models.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("inner_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("allow_skip", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("result", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "model_version",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("cluster", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("neighbors", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("mislabeling", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_prediction_project_id", "project", ["project_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_prediction_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_task_id"), ["task_id"], unique=False)

    op.create_table(
        "annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("ground_truth", sa.Boolean(), nullable=False),
        sa.Column("was_cancelled", sa.Boolean(), nullable=False),
        sa.Column("completed_by_id", sa.Integer(), nullable=True),
        sa.Column("lead_time", sa.Float(), nullable=True),
        sa.Column("import_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["completed_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotation_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_annotation_task_id"), ["task_id"], unique=False)

    op.create_table(
        "project_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("commit_to_project", sa.Boolean(), nullable=False),
        sa.Column("return_task_ids", sa.Boolean(), nullable=False),
        sa.Column("preannotated_from_fields", sa.JSON(), nullable=True),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("annotation_count", sa.Integer(), nullable=False),
        sa.Column("prediction_count", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project_import", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_import_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("project_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_import_project_id"))
    op.drop_table("project_import")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_task_id"))
        batch_op.drop_index(batch_op.f("ix_annotation_project_id"))
    op.drop_table("annotation")
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_task_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_project_id"))
        batch_op.drop_constraint("fk_prediction_project_id", type_="foreignkey")
        for column in ("updated_at", "mislabeling", "neighbors", "cluster", "model_version",
                       "score", "result", "project_id"):  # fmt: skip
            batch_op.drop_column(column)
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("run_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("task", schema=None) as batch_op:
        for column in ("updated_at", "created_at", "allow_skip", "inner_id", "meta", "data"):
            batch_op.drop_column(column)
