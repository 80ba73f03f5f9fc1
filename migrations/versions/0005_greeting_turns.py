"""Greeting turns: their swipes are the card's greetings, cycled rather than generated.

Revision ID: 0005_greeting_turns
Revises: 0004_lorebooks
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_greeting_turns"
down_revision: str | Sequence[str] | None = "0004_lorebooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade schema: no existing turn is a greeting with alternatives."""
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.add_column(
            sa.Column("greeting", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema: greetings become ordinary turns (their versions stay as swipes)."""
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("greeting")
