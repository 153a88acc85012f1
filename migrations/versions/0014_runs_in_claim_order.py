"""Runs with a due step indexed in the order the worker claims them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00

The worker claims the first due run, by due instant then id, among the Pending and InProgress
runs. Indexed by status then due instant, those runs were two ranges, which each claim read
whole and sorted: with a thousand runs waiting, a claim (two a run) took longer than the run's
other statements together. Indexed by due instant and id, among the runs with a due step
(a partial index: the ended runs and the external ones have none), the first due run is the
first entry on both backends, which a claim's condition on the due instant lets it use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = sa.text("next_due_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_model_run_due_order",
        "model_run",
        ["next_due_at", "id"],
        sqlite_where=DUE,
        postgresql_where=DUE,
    )


def downgrade() -> None:
    op.drop_index("ix_model_run_due_order", table_name="model_run")
