"""Where a run's consumption of its frozen subset has reached

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00

A step read a run's next tasks, and deleted those it had predicted, from the start of the run's
range of ``run_task``. PostgreSQL keeps the index entries of deleted rows until a vacuum, so
each step walked through every task the run had already consumed: over a million tasks a step
read thousands of index pages twice. The run now records the last task a step consumed, and
the next step starts after it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tasks_done_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.drop_column("tasks_done_through")
