"""ORM models for the Tavernkeep schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain import NAME_MAX, ROLES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# casefold() makes a name at most three times longer ("ß" -> "ss"), and PostgreSQL enforces it.
NAME_KEY_MAX = 3 * NAME_MAX
CHARACTER_KINDS = ("player", "npc")
TURN_ROLES = ROLES
CHAPTER_TITLE_MAX = 100
# "whisper": a player's words to one NPC; "tell": what a GM told one NPC alone.
TURN_KINDS = ("post", "roll", "whisper", "tell")
# Kinds whose witnesses were chosen, not whoever was present: no one else may read them.
SECRET_KINDS = ("whisper", "tell")


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamp, also on backends (SQLite) that drop the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _drop_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000 (SQLite can): a NUL pasted by a player, emitted by the
    # model or hidden in a card would fail the whole write there. Drop it on every backend alike.
    return value.replace("\x00", "")


class CleanString(TypeDecorator[str]):
    """VARCHAR that stores text without U+0000."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _drop_nul(value)


class CleanText(CleanString):
    """TEXT that stores text without U+0000."""

    impl = Text
    cache_ok = True


class TextList(TypeDecorator[list[str]]):
    """A JSON list of strings, stored without U+0000 like the text columns."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else [_drop_nul(item) for item in value]


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (needed for batch migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamps:
    """created_at / updated_at columns maintained on the Python side."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class GuildConfig(Base):
    """Per-guild settings."""

    __tablename__ = "guild_configs"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    gm_role_id: Mapped[int | None] = mapped_column(BigInteger)


class Character(Timestamps, Base):
    """A player character or an NPC of one guild."""

    __tablename__ = "characters"
    __table_args__ = (
        # Leading guild_id also makes this the guild index.
        Index(
            "uq_characters_guild_id_kind_name_key_owner_key",
            "guild_id",
            "kind",
            "name_key",
            "owner_key",
            unique=True,
        ),
        CheckConstraint(_in("kind", CHARACTER_KINDS), name="kind"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(CleanString(16))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(CleanString(NAME_MAX))
    # Lowercased name and owner_id-or-0: the NULL-free unique key for both kinds.
    name_key: Mapped[str] = mapped_column(CleanString(NAME_KEY_MAX))
    owner_key: Mapped[int] = mapped_column(BigInteger)
    sheet: Mapped[str] = mapped_column(CleanText)
    avatar_url: Mapped[str | None] = mapped_column(CleanText)
    greeting: Mapped[str | None] = mapped_column(CleanText)
    card_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Its own sampler, talkativeness and backend (`bot.characters.voice.Voice`); None: defaults.
    voice: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<Character {self.id} {self.kind} {self.name!r}>"


class Scene(Timestamps, Base):
    """Roleplay state of one channel or thread."""

    __tablename__ = "scenes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    format: Mapped[str] = mapped_column(CleanString(32))
    scenario: Mapped[str | None] = mapped_column(CleanText)
    length: Mapped[str | None] = mapped_column(CleanString(16))
    reply_mode: Mapped[str] = mapped_column(CleanString(16), default="auto", server_default="auto")
    max_replies: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    temperature: Mapped[float | None] = mapped_column(Float)
    min_p: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # NPCs may roll and change tracked values through markers in their replies.
    mechanics: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Players may change their own character's tracked values with /stat.
    player_stats: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The GM paused the NPCs: players' posts are stored, no round runs until /scene resume.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # `table` mode: seconds a round waits for players who have not acted; None: the default.
    round_timeout: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<Scene {self.id} channel={self.channel_id} active={self.active}>"


class CastMember(Base):
    """An NPC taking part in a scene."""

    __tablename__ = "cast_members"

    scene_id: Mapped[int] = mapped_column(
        ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True
    )
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Present and witnessing, but never the model's choice of speaker: it speaks only when named.
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PlayerBinding(Base):
    """Which character a member plays in a scene."""

    __tablename__ = "player_bindings"

    scene_id: Mapped[int] = mapped_column(
        ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    character_id: Mapped[int] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))
    # False after /scene leave: the character witnesses nothing until /scene enter.
    present: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class PlayerDefault(Base):
    """A member's default character in a guild."""

    __tablename__ = "player_defaults"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    character_id: Mapped[int] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))


class Turn(Timestamps, Base):
    """One history entry of a scene."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("scene_id", "seq"),
        CheckConstraint(_in("role", TURN_ROLES), name="role"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(CleanString(16))
    speaker: Mapped[str] = mapped_column(CleanString(NAME_MAX))
    character_id: Mapped[int | None] = mapped_column(
        ForeignKey("characters.id", ondelete="SET NULL")
    )
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(CleanText)
    swipes: Mapped[list[str]] = mapped_column(TextList)
    swipe_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    edited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A model turn stored but not yet posted: outside the history until its post completes.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A greeting's swipes are the card's greetings: Swipe cycles them instead of generating.
    greeting: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "post", or "roll": a player's /roll stored as a turn (its rolls are in turn_rolls).
    kind: Mapped[str] = mapped_column(CleanString(16), default="post", server_default="post")
    # Witnessed only by its author's character (a private roll): never in an NPC's prompt.
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Stored before presence was recorded: every character counts as its witness.
    all_witnessed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    messages: Mapped[list[TurnMessage]] = relationship(
        lazy="selectin",
        order_by="TurnMessage.part",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def message_ids(self) -> list[int]:
        """Discord message ids this turn was posted as, in order."""
        return [m.message_id for m in self.messages]

    def __repr__(self) -> str:
        return f"<Turn {self.id} scene={self.scene_id} seq={self.seq} {self.role}>"


class TurnWitness(Base):
    """A character who witnessed a turn: present when it was posted, or told it alone."""

    __tablename__ = "turn_witnesses"

    turn_id: Mapped[int] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True
    )
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TurnMessage(Base):
    """A Discord message carrying (part of) a turn."""

    __tablename__ = "turn_messages"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    part: Mapped[int] = mapped_column(Integer)


# -- Lorebooks --------------------------------------------------------------------


class StoredLorebook(Timestamps, Base):
    """A server lorebook; its entries are rows of `lore_entries`."""

    __tablename__ = "lorebooks"
    __table_args__ = (
        Index("uq_lorebooks_guild_id_name_key", "guild_id", "name_key", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(CleanString(NAME_MAX))
    name_key: Mapped[str] = mapped_column(CleanString(NAME_KEY_MAX))
    # The book's own fields (scan_depth, token_budget, extensions, ...) as in a character_book.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Bumped on every change, so compiled books are cached per revision.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    def __repr__(self) -> str:
        return f"<StoredLorebook {self.id} {self.name!r} r{self.revision}>"


class StoredLoreEntry(Base):
    """One entry of a server lorebook, in book order."""

    __tablename__ = "lore_entries"
    __table_args__ = (UniqueConstraint("book_id", "position"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("lorebooks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(CleanString(NAME_MAX))
    content: Mapped[str] = mapped_column(CleanText)
    # Every other field of the entry, as a character_book entry holds it.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class SceneLorebook(Base):
    """A server lorebook attached to a scene."""

    __tablename__ = "scene_lorebooks"

    scene_id: Mapped[int] = mapped_column(
        ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True
    )
    book_id: Mapped[int] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SceneSummary(Base):
    """A view's running "story so far" and the last turn it covers."""

    __tablename__ = "scene_summaries"

    scene_id: Mapped[int] = mapped_column(
        ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True
    )
    # "" for the story everyone shares; a character's own key where its view differs.
    view: Mapped[str] = mapped_column(CleanString(32), primary_key=True, server_default="")
    text: Mapped[str] = mapped_column(CleanText)
    # The seq of the newest turn the summary covers: turns up to it stay out of the prompt.
    summary_through: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SceneChapter(Timestamps, Base):
    """A closed part of a view's story: written once, rewritten only by a GM."""

    __tablename__ = "scene_chapters"
    __table_args__ = (
        Index("ix_scene_chapters_scene_id_view_first_seq", "scene_id", "view", "first_seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    # As for summaries: "" is the story everyone shares, a character's key its own.
    view: Mapped[str] = mapped_column(CleanString(32), server_default="")
    title: Mapped[str] = mapped_column(CleanString(CHAPTER_TITLE_MAX))
    text: Mapped[str] = mapped_column(CleanText)
    # The turns it covers, by seq (inclusive).
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    edited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RecallEmbedding(Base):
    """A turn's or a chapter's embedding for recall, made by one model (RECALL_EMBED_MODEL).

    The vector is float32 bytes, unit length: compact on both databases. Not pgvector, which
    Debian's default PostgreSQL does not ship; recall ranks the vectors of a scene itself.
    """

    __tablename__ = "recall_embeddings"
    __table_args__ = (
        CheckConstraint("(turn_id IS NULL) <> (chapter_id IS NULL)", name="one_source"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), unique=True
    )
    chapter_id: Mapped[int | None] = mapped_column(
        ForeignKey("scene_chapters.id", ondelete="CASCADE"), unique=True
    )
    # Which model made it: vectors of another model are made again, never compared.
    model: Mapped[str] = mapped_column(CleanString(100))
    # A hash of the text embedded: a vector of a text since edited is never used.
    digest: Mapped[int] = mapped_column(BigInteger)
    # Empty for a text recall never brings back (an OOC aside): it is not embedded again.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # When its text was read: a turn or chapter updated later is embedded again.
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- Dice and tracked state ---------------------------------------------------------


class TurnRoll(Base):
    """One dice roll stored with one swipe of a turn, in the order it was rolled."""

    __tablename__ = "turn_rolls"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    swipe_index: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    expr: Mapped[str] = mapped_column(CleanString(200))
    reason: Mapped[str | None] = mapped_column(CleanString(200))
    total: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(CleanText)


class StateChange(Base):
    """One change to a character's tracked value; a turn's counts only while its swipe shows."""

    __tablename__ = "state_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"), index=True)
    # NULL for a /stat command or a scene file: such changes always stand.
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), index=True
    )
    swipe_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    character_id: Mapped[int] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(CleanString(40))
    op: Mapped[str] = mapped_column(CleanString(8))
    # The parsed, checked value (bot.state.rules encodes it).
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
