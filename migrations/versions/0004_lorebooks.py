"""Server lorebooks, their entries, and which scenes they are attached to.

Revision ID: 0004_lorebooks
Revises: 0003_pending_turns
Create Date: 2026-12-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_lorebooks"
# Re-point to 0003 when the no-silent-loss migration lands first.
down_revision: str | Sequence[str] | None = "0003_pending_turns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "lorebooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_key", sa.String(length=240), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lorebooks")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_lorebooks_guild_id_name_key", "lorebooks", ["guild_id", "name_key"], unique=True
    )
    op.create_table(
        "lore_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"],
            ["lorebooks.id"],
            name=op.f("fk_lore_entries_book_id_lorebooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lore_entries")),
        sa.UniqueConstraint("book_id", "position", name=op.f("uq_lore_entries_book_id_position")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "scene_lorebooks",
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"],
            ["lorebooks.id"],
            name=op.f("fk_scene_lorebooks_book_id_lorebooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_scene_lorebooks_scene_id_scenes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scene_id", "book_id", name=op.f("pk_scene_lorebooks")),
    )
    op.create_index(
        op.f("ix_scene_lorebooks_book_id"), "scene_lorebooks", ["book_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_scene_lorebooks_book_id"), table_name="scene_lorebooks")
    op.drop_table("scene_lorebooks")
    op.drop_table("lore_entries")
    op.drop_index("uq_lorebooks_guild_id_name_key", table_name="lorebooks")
    op.drop_table("lorebooks")
