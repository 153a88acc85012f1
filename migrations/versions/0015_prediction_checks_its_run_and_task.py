"""A prediction's version and project without foreign keys of their own

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:40:00

A prediction names its run's version and its task's project beside its run and its task. Each
of its four foreign keys was checked for every row written: on PostgreSQL a trigger a row and
key, about 4 ms for a batch of 1,000 each, half of what storing an external batch waited on.
The run's and the task's keys stay; the version and the project are those of the run and the
task that the row names (the emulator writes them so), and are deleted only after their runs
and tasks, with the predictions those made.

SQLite cannot drop a constraint in place: the table is made again with its rows, as Alembic's
batch mode does, its unnamed foreign keys named by a convention for the time of the change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign keys made without a name: batch mode names them by this convention.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
DROPPED = (("version_id", "prompt_version"), ("project_id", "project"))


def upgrade() -> None:
    bind = op.get_bind()
    # Found by their column: a database made at the newest revision has the names its
    # database gave them, one brought there by revision 0005 the name it gave the project's.
    names = {
        tuple(key["constrained_columns"]): key["name"]
        for key in sa.inspect(bind).get_foreign_keys("prediction")
    }
    found = [(column, referred, names[(column,)]) for column, referred in DROPPED
             if (column,) in names]  # fmt: skip
    if bind.dialect.name == "postgresql":
        for _, _, name in found:
            op.drop_constraint(name, "prediction", type_="foreignkey")
        return
    with op.batch_alter_table("prediction", naming_convention=NAMING) as batch_op:
        for column, referred, name in found:
            batch_op.drop_constraint(
                name or f"fk_prediction_{column}_{referred}", type_="foreignkey"
            )


def downgrade() -> None:
    # The names the revisions before gave them (0003 PostgreSQL's own, 0005 its own).
    with op.batch_alter_table("prediction") as batch_op:
        batch_op.create_foreign_key(
            "prediction_version_id_fkey", "prompt_version", ["version_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_prediction_project_id", "project", ["project_id"], ["id"])
