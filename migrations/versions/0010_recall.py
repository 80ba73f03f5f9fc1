"""Campaign recall: chapters, and full-text indexes over turns and chapters.

Revision ID: 0010_recall
Revises: 0009_presence
Create Date: 2026-12-13 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.search import create_search, drop_search

revision: str = "0010_recall"
down_revision: str | Sequence[str] | None = "0009_presence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: add scene_chapters and index every turn's text for search."""
    op.create_table(
        "scene_chapters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(32), server_default="", nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("edited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name="fk_scene_chapters_scene_id_scenes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scene_chapters"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_scene_chapters_scene_id_view_first_seq",
        "scene_chapters",
        ["scene_id", "view", "first_seq"],
    )
    create_search(op.get_bind())


def downgrade() -> None:
    """Downgrade schema: drop the search indexes and the chapters (the turns all stay)."""
    drop_search(op.get_bind())
    op.drop_index("ix_scene_chapters_scene_id_view_first_seq", table_name="scene_chapters")
    op.drop_table("scene_chapters")
