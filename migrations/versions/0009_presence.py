"""Who saw what: the witnesses of each turn, players present, a story so far per view.

Revision ID: 0009_presence
Revises: 0008_pause_and_mute
Create Date: 2026-12-12 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_presence"
down_revision: str | Sequence[str] | None = "0008_pause_and_mute"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE_KWARGS = {"sqlite_autoincrement": True}


_SUMMARY_COLUMNS = ("scene_id", "text", "summary_through", "updated_at")


def _create_summaries(with_view: bool) -> None:
    """Create scene_summaries keyed by scene (before) or by scene and view (after)."""
    view = [sa.Column("view", sa.String(32), server_default="", nullable=False)]
    op.create_table(
        "scene_summaries",
        sa.Column("scene_id", sa.Integer(), nullable=False),
        *(view if with_view else []),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("summary_through", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name="fk_scene_summaries_scene_id_scenes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            *(["scene_id", "view"] if with_view else ["scene_id"]), name="pk_scene_summaries"
        ),
    )


def _rebuild_summaries(with_view: bool) -> None:
    """Recreate scene_summaries with its new key, keeping every summary.

    The table holds a row per scene and view at most, so copying it through Python is cheap,
    and it avoids changing a primary key in place, which SQLite cannot do without a rebuild.
    """
    columns = [*_SUMMARY_COLUMNS, *([] if with_view else ["view"])]
    old = sa.table("scene_summaries", *(sa.column(name) for name in columns))
    query = sa.select(old)
    if not with_view:  # downgrading: only the story everyone shares survives
        query = query.where(old.c.view == "")
    rows = [
        {name: row._mapping[name] for name in _SUMMARY_COLUMNS}
        for row in op.get_bind().execute(query)
    ]
    op.drop_table("scene_summaries")
    _create_summaries(with_view)
    if rows:
        # Untyped columns: each value goes back exactly as the database gave it.
        new = sa.table("scene_summaries", *(sa.column(name) for name in _SUMMARY_COLUMNS))
        op.get_bind().execute(sa.insert(new), rows)


def upgrade() -> None:
    """Upgrade schema: every existing turn counts as witnessed by everyone."""
    op.create_table(
        "turn_witnesses",
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name="fk_turn_witnesses_turn_id_turns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name="fk_turn_witnesses_character_id_characters",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("turn_id", "character_id", name="pk_turn_witnesses"),
    )
    op.create_index("ix_turn_witnesses_character_id", "turn_witnesses", ["character_id"])
    # A plain ADD COLUMN and one UPDATE: no rebuild of the (large) turns table.
    op.add_column(
        "turns",
        sa.Column("all_witnessed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(sa.text("UPDATE turns SET all_witnessed = :yes").bindparams(yes=True))
    op.add_column(
        "player_bindings",
        sa.Column("present", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    _rebuild_summaries(with_view=True)


def downgrade() -> None:
    """Downgrade schema: one shared history again (whispers and tells become plain turns)."""
    _rebuild_summaries(with_view=False)
    # Before this revision a secret turn cannot be told from a shared one: keep it out of
    # every prompt (what "private" meant there) rather than let every NPC read it.
    op.execute(
        sa.text(
            "UPDATE turns SET kind = 'post', private = :yes WHERE kind IN ('whisper', 'tell')"
        ).bindparams(yes=True)
    )
    with op.batch_alter_table("player_bindings") as batch:
        batch.drop_column("present")
    with op.batch_alter_table("turns", table_kwargs=_TABLE_KWARGS) as batch:
        batch.drop_column("all_witnessed")
    op.drop_index("ix_turn_witnesses_character_id", table_name="turn_witnesses")
    op.drop_table("turn_witnesses")
