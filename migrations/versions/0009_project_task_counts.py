"""Each project's task and ground-truth counts, kept by triggers on task (SQLite)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 16:30:00

Counting a project's tasks reads one index entry per task (a million-task project's subsets
took 70 ms of CPU); row triggers keep the counts as every path that writes tasks (the API, the
seed, imports, deletions) changes them, in the same transaction. A later revision that
rebuilds the task table on SQLite (Alembic's batch mode copies it) must create them again.

On PostgreSQL the table stays empty and the tasks are counted: there, a row trigger updating
one row per project makes a new version of that row per task, and a transaction that inserts
many tasks walks ever longer chains of them (100,000 seeded tasks took 142 s instead of 7 s).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A task that comes counts in its project (creating the project's row); one that goes is taken
# out of it (a row emptied with the tables is not brought back with negative counts).
ADD = (
    "INSERT INTO project_task_count (project_id, tasks, ground_truth) "
    "VALUES (NEW.project_id, 1, {gt}) ON CONFLICT (project_id) DO UPDATE SET "
    "tasks = project_task_count.tasks + 1, "
    "ground_truth = project_task_count.ground_truth + excluded.ground_truth"
)
TAKE = (
    "UPDATE project_task_count SET tasks = tasks - 1, ground_truth = ground_truth - {gt} "
    "WHERE project_id = OLD.project_id"
)
SQLITE_TRIGGERS = {
    "task_count_insert": f"AFTER INSERT ON task BEGIN {ADD.format(gt='NEW.has_ground_truth')}; END",
    "task_count_delete": f"AFTER DELETE ON task BEGIN {TAKE.format(gt='OLD.has_ground_truth')}; END",
    "task_count_update": "AFTER UPDATE OF project_id, has_ground_truth ON task BEGIN "
    f"{TAKE.format(gt='OLD.has_ground_truth')}; {ADD.format(gt='NEW.has_ground_truth')}; END",
}


def upgrade() -> None:
    op.create_table(
        "project_task_count",
        sa.Column("project_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("ground_truth", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "INSERT INTO project_task_count (project_id, tasks, ground_truth) "
        "SELECT project_id, count(*), sum(CASE WHEN has_ground_truth THEN 1 ELSE 0 END) "
        "FROM task GROUP BY project_id"
    )
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("project_task_count")
