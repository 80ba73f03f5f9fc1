"""The story so far: one running summary per scene and the last turn it covers.

Revision ID: 0006_scene_summary
Revises: 0005_greeting_turns
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_scene_summary"
down_revision: str | Sequence[str] | None = "0005_greeting_turns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: add scene_summaries."""
    op.create_table(
        "scene_summaries",
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("summary_through", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_scene_summaries_scene_id_scenes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scene_id", name=op.f("pk_scene_summaries")),
    )


def downgrade() -> None:
    """Downgrade schema: drop scene_summaries (the turns it covered are all still stored)."""
    op.drop_table("scene_summaries")
