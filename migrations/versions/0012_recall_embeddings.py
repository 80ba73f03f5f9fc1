"""Optional embeddings for recall: a vector beside the text of turns and chapters.

Revision ID: 0012_recall_embeddings
Revises: 0011_table_and_voices
Create Date: 2026-12-15 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_recall_embeddings"
down_revision: str | Sequence[str] | None = "0011_table_and_voices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: an empty table; turns are embedded after rounds once a model is set."""
    op.create_table(
        "recall_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=True),
        sa.Column("chapter_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(turn_id IS NULL) <> (chapter_id IS NULL)",
            name="ck_recall_embeddings_one_source",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name="fk_recall_embeddings_scene_id_scenes",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["turns.id"],
            name="fk_recall_embeddings_turn_id_turns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chapter_id"],
            ["scene_chapters.id"],
            name="fk_recall_embeddings_chapter_id_scene_chapters",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recall_embeddings"),
        sa.UniqueConstraint("turn_id", name="uq_recall_embeddings_turn_id"),
        sa.UniqueConstraint("chapter_id", name="uq_recall_embeddings_chapter_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_recall_embeddings_scene_id", "recall_embeddings", ["scene_id"])


def downgrade() -> None:
    """Downgrade schema: the vectors go; recall searches by words alone."""
    op.drop_index("ix_recall_embeddings_scene_id", table_name="recall_embeddings")
    op.drop_table("recall_embeddings")
