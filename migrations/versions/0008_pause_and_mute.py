"""GM control: a scene's NPCs paused, a cast member muted.

Revision ID: 0008_pause_and_mute
Revises: 0007_dice_and_state
Create Date: 2026-12-11 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_pause_and_mute"
down_revision: str | Sequence[str] | None = "0007_dice_and_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade schema: existing scenes run, existing cast members may be chosen."""
    # A plain ADD COLUMN (SQLite takes one with a constant default): rebuilding the tables in
    # batch mode would leave their old pages free in the file for nothing.
    op.add_column(
        "scenes", sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "cast_members",
        sa.Column("muted", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    """Downgrade schema: paused scenes run again and muted NPCs may be chosen again."""
    with op.batch_alter_table("cast_members") as batch:
        batch.drop_column("muted")
    with op.batch_alter_table("scenes", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("paused")
