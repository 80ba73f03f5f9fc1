"""The table's rhythm: a scene's round timeout, and each character's own voice.

Revision ID: 0011_table_and_voices
Revises: 0010_recall
Create Date: 2026-12-14 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_table_and_voices"
down_revision: str | Sequence[str] | None = "0010_recall"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade schema: no timeout set (the default applies), no character has its own voice."""
    # Plain nullable ADD COLUMNs: SQLite takes them without rebuilding the tables.
    op.add_column("scenes", sa.Column("round_timeout", sa.Integer(), nullable=True))
    op.add_column("characters", sa.Column("voice", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema: every NPC speaks with the scene's sampler again."""
    with op.batch_alter_table("characters", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("voice")
    with op.batch_alter_table("scenes", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("round_timeout")
