"""Pending model turns: stored, but not yet posted, so not yet part of the history.

Revision ID: 0003_pending_turns
Revises: 0002_name_key_length
Create Date: 2026-12-09 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_pending_turns"
down_revision: str | Sequence[str] | None = "0002_name_key_length"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade schema: every existing turn counts as posted."""
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.add_column(
            sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema: turns still pending are hidden first, as the next start would do."""
    turns = sa.table("turns", sa.column("pending", sa.Boolean), sa.column("deleted", sa.Boolean))
    op.execute(turns.update().where(turns.c.pending.is_(True)).values(deleted=True))
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("pending")
