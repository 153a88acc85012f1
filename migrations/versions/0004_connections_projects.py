"""Model provider connections and projects with their label configs

Self-contained: the columns are declared here, never taken from today's models.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "model_provider_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("api_key", text(), nullable=True),
        sa.Column("auth_token", text(), nullable=True),
        sa.Column("google_application_credentials", text(), nullable=True),
        sa.Column("deployment_name", text(), nullable=True),
        sa.Column("endpoint", text(), nullable=True),
        sa.Column("google_project_id", text(), nullable=True),
        sa.Column("google_location", text(), nullable=True),
        sa.Column("cached_available_models", text(), nullable=True),
        sa.Column("is_internal", sa.Boolean(), nullable=True),
        sa.Column("budget_alert_threshold", sa.Float(), nullable=True),
        sa.Column("budget_limit", sa.Float(), nullable=True),
        sa.Column("budget_reset_period", sa.String(), nullable=True),
        sa.Column("budget_total_spent", sa.Float(), nullable=True),
        sa.Column("budget_last_reset_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_provider_connection", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_provider_connection_organization_id"),
            ["organization_id"],
            unique=False,
        )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.alter_column("title", existing_type=text(), nullable=True)
        batch_op.add_column(sa.Column("description", text(), nullable=True))
        batch_op.add_column(sa.Column("label_config", text(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("source_interface_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            "fk_project_created_by_id_user", "user", ["created_by_id"], ["id"]
        )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blacklisted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_column("blacklisted_at")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_constraint("fk_project_created_by_id_user", type_="foreignkey")
        for column in ("settings", "source_interface_id", "pinned_at", "created_at",
                       "created_by_id", "label_config", "description"):  # fmt: skip
            batch_op.drop_column(column)
        batch_op.alter_column("title", existing_type=sqlmodel.sql.sqltypes.AutoString(),
                              nullable=False)  # fmt: skip
    with op.batch_alter_table("model_provider_connection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_provider_connection_organization_id"))
    op.drop_table("model_provider_connection")
