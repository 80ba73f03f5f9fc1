"""Character storage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ._util import affected, check_fields, clean_name, name_key
from .database import Database
from .errors import DuplicateNameError, NotFoundError
from .models import CHARACTER_KINDS, Character

_UPDATABLE = ("name", "sheet", "avatar_url", "greeting", "card_json", "voice")


def _owner_key(kind: str, owner_id: int | None) -> int:
    if kind not in CHARACTER_KINDS:
        raise ValueError(f"unknown character kind {kind!r}")
    if kind == "player":
        if owner_id is None:
            raise ValueError("player characters need an owner_id")
        return owner_id
    return 0


def _duplicate(kind: str, name: str) -> DuplicateNameError:
    if kind == "npc":
        return DuplicateNameError(f"There is already an NPC called {name} on this server.")
    return DuplicateNameError(f"You already have a character called {name}.")


class CharacterStore:
    """CRUD for player characters and NPCs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _taken(
        self, s: AsyncSession, guild_id: int, kind: str, key: str, owner_key: int, exclude: int
    ) -> bool:
        stmt = select(Character.id).where(
            Character.guild_id == guild_id,
            Character.kind == kind,
            Character.name_key == key,
            Character.owner_key == owner_key,
            Character.id != exclude,
        )
        return (await s.scalar(stmt.limit(1))) is not None

    async def create(
        self,
        *,
        guild_id: int,
        kind: str,
        name: str,
        sheet: str,
        owner_id: int | None = None,
        avatar_url: str | None = None,
        greeting: str | None = None,
        card_json: dict[str, Any] | None = None,
        voice: dict[str, Any] | None = None,
    ) -> Character:
        """Create a character; DuplicateNameError if the name is taken in its scope.

        `voice` is its own sampler, talkativeness and backend as the `voice` column holds them
        (`bot.characters.voice.voice_to_json`); None: the scene's and the defaults.
        """
        owner_key = _owner_key(kind, owner_id)
        name = clean_name(name)
        char = Character(
            guild_id=guild_id,
            kind=kind,
            owner_id=owner_id if kind == "player" else None,
            name=name,
            name_key=name_key(name),
            owner_key=owner_key,
            sheet=sheet,
            avatar_url=avatar_url,
            greeting=greeting,
            card_json=card_json,
            voice=voice,
        )
        async with self.db.session() as s:
            if await self._taken(s, guild_id, kind, char.name_key, owner_key, exclude=0):
                raise _duplicate(kind, name)
            s.add(char)
            try:
                await s.commit()
            except IntegrityError as e:  # lost a race with a concurrent create
                raise _duplicate(kind, name) from e
        return char

    async def get(self, character_id: int) -> Character:
        """The character with this id; NotFoundError if missing."""
        async with self.db.session() as s:
            char = await s.get(Character, character_id)
        if char is None:
            raise NotFoundError("That character no longer exists.")
        return char

    async def _find(self, guild_id: int, kind: str, owner_key: int, name: str) -> Character | None:
        stmt = select(Character).where(
            Character.guild_id == guild_id,
            Character.kind == kind,
            Character.name_key == name_key(name),
            Character.owner_key == owner_key,
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def find_npc(self, guild_id: int, name: str) -> Character | None:
        """The guild's NPC with this name (case-insensitive)."""
        return await self._find(guild_id, "npc", 0, name)

    async def find_player_character(
        self, guild_id: int, owner_id: int, name: str
    ) -> Character | None:
        """The owner's character with this name (case-insensitive)."""
        return await self._find(guild_id, "player", owner_id, name)

    async def any_player_character(self, guild_id: int, name: str) -> Character | None:
        """Some player's character with this name (case-insensitive), whoever owns it."""
        stmt = select(Character).where(
            Character.guild_id == guild_id,
            Character.kind == "player",
            Character.name_key == name_key(name),
        )
        async with self.db.session() as s:
            return await s.scalar(stmt.order_by(Character.id).limit(1))

    async def list_npcs(self, guild_id: int) -> list[Character]:
        """All NPCs of a guild, by name."""
        stmt = (
            select(Character)
            .where(Character.guild_id == guild_id, Character.kind == "npc")
            .order_by(Character.name_key, Character.id)
        )
        async with self.db.session() as s:
            return list(await s.scalars(stmt))

    async def list_player_characters(
        self, guild_id: int, owner_id: int | None = None
    ) -> list[Character]:
        """Player characters of a guild (of one owner if given), by name."""
        stmt = select(Character).where(Character.guild_id == guild_id, Character.kind == "player")
        if owner_id is not None:
            stmt = stmt.where(Character.owner_key == owner_id)
        stmt = stmt.order_by(Character.name_key, Character.id)
        async with self.db.session() as s:
            return list(await s.scalars(stmt))

    async def count(self, guild_id: int, kind: str, owner_id: int | None = None) -> int:
        """How many NPCs a guild has, or player characters one owner has in it."""
        stmt = select(func.count(Character.id)).where(
            Character.guild_id == guild_id,
            Character.kind == kind,
            Character.owner_key == _owner_key(kind, owner_id),
        )
        async with self.db.session() as s:
            return int(await s.scalar(stmt) or 0)

    async def names(
        self,
        guild_id: int,
        kind: str,
        *,
        owner_id: int | None = None,
        prefix: str = "",
        limit: int = 25,
    ) -> list[str]:
        """Names for autocomplete: prefix matches first, then substring matches."""
        key = name_key(prefix)
        stmt = select(Character.name).where(Character.guild_id == guild_id, Character.kind == kind)
        if kind == "player" and owner_id is not None:
            stmt = stmt.where(Character.owner_key == owner_id)
        if key:
            stmt = stmt.where(Character.name_key.contains(key, autoescape=True)).order_by(
                case((Character.name_key.startswith(key, autoescape=True), 0), else_=1)
            )
        stmt = stmt.order_by(Character.name_key, Character.id).limit(limit)
        async with self.db.session() as s:
            return list(await s.scalars(stmt))

    async def update(self, character_id: int, **fields: Any) -> Character:
        """Change name/sheet/avatar_url/greeting/card_json/voice; DuplicateNameError if taken."""
        check_fields(fields, _UPDATABLE)
        async with self.db.session() as s:
            char = await s.get(Character, character_id)
            if char is None:
                raise NotFoundError("That character no longer exists.")
            if "name" in fields:
                fields["name"] = clean_name(fields["name"])
                key = name_key(fields["name"])
                if await self._taken(s, char.guild_id, char.kind, key, char.owner_key, char.id):
                    raise _duplicate(char.kind, fields["name"])
                char.name_key = key
            for field, value in fields.items():
                setattr(char, field, value)
            kind, name = char.kind, char.name
            try:
                await s.commit()
            except IntegrityError as e:  # lost a race with a concurrent rename
                raise _duplicate(kind, name) from e
        return char

    async def delete(self, character_id: int) -> None:
        """Delete a character; casts, bindings and defaults go with it, turns keep their text."""
        async with self.db.session() as s:
            result = await s.execute(delete(Character).where(Character.id == character_id))
            await s.commit()
        if affected(result) == 0:
            raise NotFoundError("That character no longer exists.")
