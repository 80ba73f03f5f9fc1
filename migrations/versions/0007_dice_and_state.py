"""Dice and tracked state: rolls kept with turns, state changes, roll and private turns.

Revision ID: 0007_dice_and_state
Revises: 0006_scene_summary
Create Date: 2026-12-04 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_dice_and_state"
down_revision: str | Sequence[str] | None = "0006_scene_summary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rebuilds the table in batch mode; reflection does not see AUTOINCREMENT.
_TABLE_KWARGS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade schema: existing turns are public posts; existing scenes keep mechanics off."""
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), server_default="post", nullable=False)
        )
        batch.add_column(
            sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("scenes", table_kwargs=_TABLE_KWARGS) as batch:
        batch.add_column(
            sa.Column("mechanics", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("player_stats", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "turn_rolls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("swipe_index", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("expr", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name=op.f("fk_turn_rolls_turn_id_turns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turn_rolls")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_turn_rolls_turn_id"), "turn_rolls", ["turn_id"], unique=False)
    op.create_table(
        "state_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=True),
        sa.Column("swipe_index", sa.Integer(), server_default="0", nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_state_changes_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_state_changes_scene_id_scenes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["turns.id"],
            name=op.f("fk_state_changes_turn_id_turns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_state_changes_scene_id"), "state_changes", ["scene_id"], unique=False)
    op.create_index(op.f("ix_state_changes_turn_id"), "state_changes", ["turn_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema: rolls and tracked values go; roll turns stay as ordinary posts.

    A private turn is hidden first: without the column, NPC prompts would read it.
    """
    turns = sa.table("turns", sa.column("private", sa.Boolean), sa.column("deleted", sa.Boolean))
    op.execute(turns.update().where(turns.c.private.is_(True)).values(deleted=True))
    op.drop_index(op.f("ix_state_changes_turn_id"), table_name="state_changes")
    op.drop_index(op.f("ix_state_changes_scene_id"), table_name="state_changes")
    op.drop_table("state_changes")
    op.drop_index(op.f("ix_turn_rolls_turn_id"), table_name="turn_rolls")
    op.drop_table("turn_rolls")
    with op.batch_alter_table("scenes", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("player_stats")
        batch.drop_column("mechanics")
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("private")
        batch.drop_column("kind")
