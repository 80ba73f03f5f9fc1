"""Scenes, casts, player bindings and guild settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ._util import affected, check_fields
from .database import Database
from .errors import NotFoundError, StoreError
from .models import CastMember, Character, GuildConfig, PlayerBinding, PlayerDefault, Scene

# Read on every round (the scene view), so built once.
_CAST = (
    select(Character, CastMember.muted)
    .join(CastMember, CastMember.character_id == Character.id)
    .where(CastMember.scene_id == bindparam("scene_id"))
    .order_by(CastMember.added_at, Character.id)
)
_PLAYERS = (
    select(PlayerBinding.user_id, Character, PlayerBinding.present)
    .join(Character, PlayerBinding.character_id == Character.id)
    .where(PlayerBinding.scene_id == bindparam("scene_id"))
    .order_by(PlayerBinding.user_id)
)
_UPDATABLE = (
    "format",
    "scenario",
    "length",
    "reply_mode",
    "max_replies",
    "temperature",
    "min_p",
    "mechanics",
    "paused",
    "round_timeout",
)
_Link = TypeVar("_Link", PlayerBinding, PlayerDefault)  # the member → character rows


async def _scene(s: AsyncSession, scene_id: int) -> Scene:
    scene = await s.get(Scene, scene_id)
    if scene is None:
        raise NotFoundError("That scene no longer exists.")
    return scene


async def _character(s: AsyncSession, character_id: int) -> Character:
    char = await s.get(Character, character_id)
    if char is None:
        raise NotFoundError("That character no longer exists.")
    return char


class SceneStore:
    """Per-channel scenes and who takes part in them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(
        self, *, guild_id: int, channel_id: int, format: str, reply_mode: str = "auto"
    ) -> Scene:
        """Create the channel's scene, or re-activate it keeping its history and cast."""
        for _ in range(3):
            async with self.db.session() as s:
                scene = await s.scalar(select(Scene).where(Scene.channel_id == channel_id))
                if scene is None:
                    scene = Scene(
                        guild_id=guild_id,
                        channel_id=channel_id,
                        format=format,
                        reply_mode=reply_mode,
                        active=True,
                    )
                    s.add(scene)
                else:
                    scene.format, scene.reply_mode, scene.active = format, reply_mode, True
                    scene.paused = False  # started again: the NPCs answer (mutes are kept)
                try:
                    await s.commit()
                except IntegrityError:  # a concurrent start created it first; update that one
                    continue
                return scene
        raise StoreError("Could not start the scene, please try again.")

    async def end(self, channel_id: int) -> Scene:
        """Deactivate the channel's scene; NotFoundError if none is active."""
        async with self.db.session() as s:
            scene = await s.scalar(
                select(Scene).where(Scene.channel_id == channel_id, Scene.active.is_(True))
            )
            if scene is None:
                raise NotFoundError("There is no active scene in this channel.")
            scene.active = False
            await s.commit()
        return scene

    async def by_channel(self, channel_id: int, *, active_only: bool = True) -> Scene | None:
        """The channel's scene (only if active unless ``active_only=False``)."""
        stmt = select(Scene).where(Scene.channel_id == channel_id)
        if active_only:
            stmt = stmt.where(Scene.active.is_(True))
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def active_in(self, guild_ids: Sequence[int]) -> list[Scene]:
        """The active scenes of these guilds."""
        if not guild_ids:
            return []
        stmt = select(Scene).where(Scene.active.is_(True), Scene.guild_id.in_(list(guild_ids)))
        async with self.db.session() as s:
            return list(await s.scalars(stmt.order_by(Scene.id)))

    async def get(self, scene_id: int) -> Scene:
        """The scene with this id; NotFoundError if missing."""
        async with self.db.session() as s:
            return await _scene(s, scene_id)

    async def update(self, scene_id: int, **fields: Any) -> Scene:
        """Change the scene's settings (any of `_UPDATABLE`)."""
        check_fields(fields, _UPDATABLE)
        async with self.db.session() as s:
            scene = await _scene(s, scene_id)
            for field, value in fields.items():
                setattr(scene, field, value)
            await s.commit()
        return scene

    async def add_cast(self, scene_id: int, character_id: int) -> bool:
        """Add an NPC to the scene; False if it is already there."""
        async with self.db.session() as s:
            scene = await _scene(s, scene_id)
            char = await _character(s, character_id)
            if char.kind != "npc" or char.guild_id != scene.guild_id:
                raise StoreError(f"{char.name} is not an NPC of this server.")
            if await s.get(CastMember, (scene_id, character_id)) is not None:
                return False
            s.add(CastMember(scene_id=scene_id, character_id=character_id))
            try:
                await s.commit()
            except IntegrityError:  # added concurrently
                return False
        return True

    async def remove_cast(self, scene_id: int, character_id: int) -> bool:
        """Remove an NPC from the scene; False if it was not there."""
        async with self.db.session() as s:
            result = await s.execute(
                delete(CastMember).where(
                    CastMember.scene_id == scene_id, CastMember.character_id == character_id
                )
            )
            await s.commit()
        return bool(affected(result))

    async def cast(self, scene_id: int) -> list[Character]:
        """The scene's NPCs in the order they were added."""
        return [char for char, _ in await self.cast_muted(scene_id)]

    async def cast_muted(self, scene_id: int) -> list[tuple[Character, bool]]:
        """The scene's NPCs in the order they were added, each with whether it is muted."""
        params = {"scene_id": scene_id}
        return await self.db.read(
            lambda s: [(char, bool(muted)) for char, muted in s.execute(_CAST, params)]
        )

    async def set_muted(self, scene_id: int, character_id: int, muted: bool) -> bool | None:
        """Mute or unmute a cast member; whether it changed, None if it is not in the cast."""
        async with self.db.session() as s:
            member = await s.get(CastMember, (scene_id, character_id))
            if member is None:
                return None
            if member.muted == muted:
                return False
            member.muted = muted
            await s.commit()
        return True

    async def bind_player(self, scene_id: int, user_id: int, character_id: int) -> None:
        """Set which character a member plays in the scene."""
        await self._link(PlayerBinding, {"scene_id": scene_id, "user_id": user_id}, character_id)

    async def _link(
        self,
        row_type: type[_Link],
        key: dict[str, int],
        character_id: int,
    ) -> None:
        """Insert or repoint a member → character row, refusing another server's characters."""
        for attempt in range(2):
            async with self.db.session() as s:
                if "guild_id" in key:
                    guild_id = key["guild_id"]
                else:
                    guild_id = (await _scene(s, key["scene_id"])).guild_id
                char = await _character(s, character_id)
                if char.guild_id != guild_id:
                    raise StoreError(f"{char.name} does not belong to this server.")
                row = await s.get(row_type, tuple(key.values()))
                if row is None:
                    s.add(row_type(**key, character_id=char.id))
                else:
                    row.character_id = char.id
                try:
                    await s.commit()
                    return
                except IntegrityError:  # a concurrent call inserted first; update it instead
                    if attempt:
                        raise

    async def bound_character(self, scene_id: int, user_id: int) -> Character | None:
        """The character the member plays in this scene, if bound."""
        stmt = (
            select(Character)
            .join(PlayerBinding, PlayerBinding.character_id == Character.id)
            .where(PlayerBinding.scene_id == scene_id, PlayerBinding.user_id == user_id)
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def characters(self, scene_id: int) -> list[Character]:
        """The scene's player characters, then its NPCs, each once."""
        found = [c for _, c in await self.players(scene_id)] + await self.cast(scene_id)
        return list({c.id: c for c in found}.values())

    async def players(
        self, scene_id: int, *, present_only: bool = False
    ) -> list[tuple[int, Character]]:
        """(user_id, character) for every member bound in this scene (or only those present)."""
        return [
            (user_id, char)
            for user_id, char, present in await self.player_presence(scene_id)
            if present or not present_only
        ]

    async def player_presence(self, scene_id: int) -> list[tuple[int, Character, bool]]:
        """(user_id, character, present) for every member bound in this scene."""
        params = {"scene_id": scene_id}
        return await self.db.read(
            lambda s: [(user, char, bool(here)) for user, char, here in s.execute(_PLAYERS, params)]
        )

    async def set_present(self, scene_id: int, user_id: int, present: bool) -> bool | None:
        """A member's character leaves or enters; whether it changed, None if none is bound."""
        async with self.db.session() as s:
            binding = await s.get(PlayerBinding, (scene_id, user_id))
            if binding is None:
                return None
            if binding.present == present:
                return False
            binding.present = present
            await s.commit()
        return True

    async def set_default_character(self, guild_id: int, user_id: int, character_id: int) -> None:
        """Set a member's default character in the guild."""
        await self._link(PlayerDefault, {"guild_id": guild_id, "user_id": user_id}, character_id)

    async def default_character(self, guild_id: int, user_id: int) -> Character | None:
        """A member's default character in the guild, if set."""
        stmt = (
            select(Character)
            .join(PlayerDefault, PlayerDefault.character_id == Character.id)
            .where(PlayerDefault.guild_id == guild_id, PlayerDefault.user_id == user_id)
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def gm_role(self, guild_id: int) -> int | None:
        """The guild's GM role id, if configured."""
        async with self.db.session() as s:
            return await s.scalar(
                select(GuildConfig.gm_role_id).where(GuildConfig.guild_id == guild_id)
            )

    async def set_gm_role(self, guild_id: int, role_id: int | None) -> None:
        """Set or clear the guild's GM role."""
        for attempt in range(2):
            async with self.db.session() as s:
                config = await s.get(GuildConfig, guild_id)
                if config is None:
                    s.add(GuildConfig(guild_id=guild_id, gm_role_id=role_id))
                else:
                    config.gm_role_id = role_id
                try:
                    await s.commit()
                    return
                except IntegrityError:  # a concurrent call inserted first; update it instead
                    if attempt:
                        raise
