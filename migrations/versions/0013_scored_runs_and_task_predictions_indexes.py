"""Runs and predictions indexed in the order the lists read them, with what they read

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:40:00

A version's score is the share of correct predictions of its latest Completed run on the HasGT
subset. The prompts list and the versions list read it for every version they show, a
correlated subquery each: with the runs indexed by version alone, SQLite searched each
version's runs, read every one from the table and sorted them (500 searches and sorts for a
page of 50 prompts). Indexed by version, status, subset, completion time and id, the latest
scored run is the last entry of one range, read from the index alone on both backends.

A page of tasks counts its tasks' predictions, their scores and versions: with the predictions
indexed by task alone, each of a page's thousands was read from the table. Indexed by task, id,
score and model version, they are read from the index alone, in the order the page wants.

Each index replaces the one by its first column alone, whose every reader it serves, so a run
and a prediction still write as many index entries as before.
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
    op.create_index("ix_prediction_task", "prediction", ["task_id", "id", "score", "model_version"])
    op.drop_index("ix_prediction_task_id", table_name="prediction")


def downgrade() -> None:
    op.create_index("ix_prediction_task_id", "prediction", ["task_id"])
    op.drop_index("ix_prediction_task", table_name="prediction")
    op.create_index("ix_model_run_version_id", "model_run", ["version_id"])
    op.drop_index("ix_model_run_scored", table_name="model_run")
