"""seed changed flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 01:33:25.641855
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emulator_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seed_changed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("emulator_state", schema=None) as batch_op:
        batch_op.drop_column("seed_changed")
