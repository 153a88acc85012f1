"""What predictions cost, and who makes a run's predictions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USAGE = ("prompt_tokens", "completion_tokens", "total_cost_usd")


def upgrade() -> None:
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prompt_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("completion_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("total_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("inference_time", sa.Float(), nullable=True))
    with op.batch_alter_table("failed_prediction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("total_cost_usd", sa.Float(), nullable=True))
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("inference_mode", sa.String(), nullable=False, server_default="simulated")
        )


def downgrade() -> None:
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.drop_column("inference_mode")
    with op.batch_alter_table("failed_prediction", schema=None) as batch_op:
        for name in USAGE:
            batch_op.drop_column(name)
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        for name in (*USAGE, "prompt_cost_usd", "completion_cost_usd", "inference_time"):
            batch_op.drop_column(name)
