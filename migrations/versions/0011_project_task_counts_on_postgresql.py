"""Each project's task and ground-truth counts kept on PostgreSQL too, by statement triggers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:45:00

On PostgreSQL the counts of revision 0009 stayed empty and /subsets counted a million-task
project's tasks (240 ms at p99). Row triggers, as on SQLite, made a new version of the project's
row per task (see 0009); these triggers run once per statement and read the statement's rows
from its transition tables, so an INSERT of many tasks updates each project's row once.
PostgreSQL allows one event per trigger with transition tables, and no column list: hence
three triggers, the update one firing on every UPDATE of tasks and changing only the projects
whose counts moved.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each project's tasks in a transition table, as count rows.
_COUNTED = (
    "SELECT project_id, count(*) AS tasks, count(*) FILTER (WHERE has_ground_truth) "
    "AS ground_truth FROM {rows} GROUP BY project_id"
)
_UPSERT = (
    "INSERT INTO project_task_count (project_id, tasks, ground_truth) {counts} "
    "ON CONFLICT (project_id) DO UPDATE SET "
    "tasks = project_task_count.tasks + excluded.tasks, "
    "ground_truth = project_task_count.ground_truth + excluded.ground_truth"
)
# The moves of an UPDATE: +1 for each row as it is, -1 for each as it was, per project.
_MOVED = (
    "SELECT project_id, sum(tasks), sum(ground_truth) FROM ("
    "SELECT project_id, 1 AS tasks, has_ground_truth::int AS ground_truth FROM new_tasks "
    "UNION ALL SELECT project_id, -1, -(has_ground_truth::int) FROM old_tasks) AS moved "
    "GROUP BY project_id HAVING sum(tasks) <> 0 OR sum(ground_truth) <> 0"
)
# Tasks that go are taken out of their project's row (a row emptied with the tables is not
# brought back with negative counts).
_TAKE = (
    "UPDATE project_task_count SET tasks = project_task_count.tasks - gone.tasks, "
    "ground_truth = project_task_count.ground_truth - gone.ground_truth "
    f"FROM ({_COUNTED.format(rows='old_tasks')}) AS gone "
    "WHERE project_task_count.project_id = gone.project_id"
)
POSTGRESQL_TRIGGERS = {
    "task_count_insert": (
        "INSERT ON task REFERENCING NEW TABLE AS new_tasks",
        _UPSERT.format(counts=_COUNTED.format(rows="new_tasks")),
    ),
    "task_count_delete": ("DELETE ON task REFERENCING OLD TABLE AS old_tasks", _TAKE),
    "task_count_update": (
        "UPDATE ON task REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks",
        _UPSERT.format(counts=_MOVED),
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DELETE FROM project_task_count")
    op.execute(
        "INSERT INTO project_task_count (project_id, tasks, ground_truth) "
        + _COUNTED.format(rows="task")
    )
    for name, (event, body) in POSTGRESQL_TRIGGERS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {body}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in POSTGRESQL_TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON task")
        op.execute(f"DROP FUNCTION {name}()")
    op.execute("DELETE FROM project_task_count")
