"""A version's runs indexed in the order its score is read

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:40:00

A version's score is the share of correct predictions of its latest Completed run on the HasGT
subset. The prompts list and the versions list read it for every version they show, a
correlated subquery each: with the runs indexed by version alone, SQLite searched each
version's runs, read every one of them from the table and sorted them (500 searches and sorts
for a page of 50 prompts, 0.78 ms of its 2.1-2.4). Indexed by version, status, subset,
completion time and id, the latest scored run is the last entry of one range, read from the
index alone on both backends. The index replaces the one by version alone, whose every reader
it serves (its first column is the version), so a run still writes as many index entries.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_model_run_scored",
        "model_run",
        ["version_id", "status", "project_subset", "completed_at", "id"],
    )
    op.drop_index("ix_model_run_version_id", table_name="model_run")


def downgrade() -> None:
    op.create_index("ix_model_run_version_id", "model_run", ["version_id"])
    op.drop_index("ix_model_run_scored", table_name="model_run")
