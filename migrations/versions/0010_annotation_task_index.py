"""A task's annotations indexed in id order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:10:00

A task's first ground-truth annotation (by id) is read for every prediction a run makes or an
external worker posts. With the annotations indexed by task alone, PostgreSQL, before it had
statistics of a newly loaded project, walked the whole table in id order for each task instead
(745 ms for a batch of 1,000 tasks among 6,000 annotations). Indexed by task and then id, the
first annotation of a task is the first entry of its range, whatever the statistics say.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_annotation_task", "annotation", ["task_id", "id"])
    op.drop_index("ix_annotation_task_id", table_name="annotation")


def downgrade() -> None:
    op.create_index("ix_annotation_task_id", "annotation", ["task_id"])
    op.drop_index("ix_annotation_task", table_name="annotation")
