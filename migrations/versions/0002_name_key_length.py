"""Widen characters.name_key to hold any casefolded name.

str.casefold() can make a name up to three times longer ("ß" becomes "ss"), and PostgreSQL,
unlike SQLite, enforces VARCHAR lengths: an 80-character name could not be stored there.

Revision ID: 0002_name_key_length
Revises: 0001_initial
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_name_key_length"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def _resize(old: int, new: int) -> None:
    with op.batch_alter_table("characters", table_kwargs=_TABLE_KWARGS) as batch:
        batch.alter_column(
            "name_key", existing_type=sa.String(old), type_=sa.String(new), existing_nullable=False
        )


def upgrade() -> None:
    """Upgrade schema."""
    _resize(80, 240)


def downgrade() -> None:
    """Downgrade schema (fails on PostgreSQL while a key longer than 80 characters exists)."""
    _resize(240, 80)
