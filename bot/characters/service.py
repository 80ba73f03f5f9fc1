"""Player characters and server NPCs: create, edit, delete, list, show, export, use."""

from __future__ import annotations

import builtins
import json
import re
from dataclasses import dataclass
from typing import Literal

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.channel.speakers import refuse_name_clash
from bot.channel.text import MESSAGE_LIMIT
from bot.characters.cards import export_card_v2
from bot.characters.drafts import (
    CharacterDraft,
    draft_from_card_async,
    draft_from_name,
    draft_from_sheet,
)
from bot.characters.limits import (
    DEFAULT_CARD_LIMITS,
    DEFAULT_ROSTER_LIMITS,
    CardLimits,
    RosterLimits,
)
from bot.characters.voice import VoiceRules, voice_from_json, voice_to_json, with_changes
from bot.characters.voices import voice_rules
from bot.errors import UserError
from bot.settings import Settings
from bot.store import Character, CharacterStore, SceneStore

Kind = Literal["player", "npc"]


@dataclass(frozen=True)
class CharacterInput:
    """What a create or edit command carried."""

    name: str | None = None
    sheet: str | None = None
    card: tuple[str, bytes] | None = None
    card_url: str | None = None
    avatar_url: str | None = None

    async def draft(
        self, limits: CardLimits, keep_name: str | None = None
    ) -> CharacterDraft | None:
        """The character this input describes, or None when it carries no sheet or card."""
        name = keep_name or self.name
        if self.card is not None:
            # Parsing a card is CPU work on untrusted bytes: keep it off the event loop.
            return await draft_from_card_async(self.card[1], self.card[0], name, limits)
        if self.sheet:
            return draft_from_sheet(self.sheet, name, limits=limits)
        return None

    def avatar(self) -> str | None:
        """An explicit avatar, else the PNG card itself."""
        if self.avatar_url:
            return self.avatar_url
        if self.card is not None and self.card[0].lower().endswith(".png"):
            return self.card_url
        return None


def _label(kind: Kind) -> str:
    return "NPC" if kind == "npc" else "character"


class CharacterCommands:
    """The `/character` and `/npc` command logic."""

    def __init__(
        self,
        characters: CharacterStore,
        scenes: SceneStore,
        access: Access,
        *,
        card_limits: CardLimits = DEFAULT_CARD_LIMITS,
        roster_limits: RosterLimits = DEFAULT_ROSTER_LIMITS,
        voices: VoiceRules | None = None,
    ) -> None:
        self.characters = characters
        self.scenes = scenes
        self.access = access
        self.card_limits = card_limits
        self.roster_limits = roster_limits
        self.voices = voices or VoiceRules()

    async def _find(
        self, actor: Actor, kind: Kind, name: str, owner_id: int | None = None
    ) -> Character:
        if kind == "npc":
            found = await self.characters.find_npc(actor.guild_id, name)
        else:
            found = await self.characters.find_player_character(
                actor.guild_id, owner_id or actor.user_id, name
            )
        if found is None:
            if kind == "player" and owner_id not in (None, actor.user_id):
                raise UserError(f"They have no character named {name!r}.")
            raise UserError(f"No {_label(kind)} named {name!r}.")
        return found

    async def _require_room(self, actor: Actor, kind: Kind) -> None:
        """Refuse a new character once the player's (or the server's NPC) cap is reached."""
        limits = self.roster_limits
        cap = limits.npcs_per_server if kind == "npc" else limits.characters_per_player
        owner_id = actor.user_id if kind == "player" else None
        count = await self.characters.count(actor.guild_id, kind, owner_id)
        if count >= cap:
            has = "This server has" if kind == "npc" else "You have"
            where = "" if kind == "npc" else " on this server"
            raise UserError(
                f"{has} {count} {_label(kind)}s{where} (the limit is {cap}); delete one first."
            )

    async def require_rights(self, actor: Actor, kind: Kind) -> None:
        """NPCs are the GMs' business; everyone manages their own characters."""
        if kind == "npc":
            await self.access.require_gm(actor)

    async def create(self, actor: Actor, kind: Kind, data: CharacterInput) -> Reply:
        """Create a character from a sheet, a card, or just a name."""
        await self.require_rights(actor, kind)
        await self._require_room(actor, kind)
        draft = await data.draft(self.card_limits)
        if draft is None:
            if not data.name:
                raise UserError("Give a name, a sheet or a card.")
            draft = draft_from_name(data.name)
        await refuse_name_clash(self.characters, actor.guild_id, kind, draft.name)
        voice, dropped = self.voices.kept(draft.voice)
        character = await self.characters.create(
            guild_id=actor.guild_id,
            kind=kind,
            name=draft.name,
            sheet=draft.sheet,
            owner_id=actor.user_id if kind == "player" else None,
            avatar_url=data.avatar(),
            greeting=draft.greeting,
            card_json=draft.card_json,
            voice=voice_to_json(voice),
        )
        if (
            kind == "player"
            and await self.scenes.default_character(actor.guild_id, actor.user_id) is None
        ):
            await self.scenes.set_default_character(actor.guild_id, actor.user_id, character.id)
        extra = " (from its card)" if draft.card_json else ""
        return Reply(f"Created {_label(kind)} **{character.name}**{extra}.{_left_out(dropped)}")

    async def edit(self, actor: Actor, kind: Kind, name: str, data: CharacterInput) -> Reply:
        """Replace a character's sheet, card or avatar; players edit only their own."""
        await self.require_rights(actor, kind)
        character = await self._find(actor, kind, name)
        # Editing keeps the name: NPC names are what scenes and transcripts refer to.
        draft = await data.draft(self.card_limits, keep_name=character.name)
        fields: dict[str, object] = {}
        dropped: builtins.list[str] = []
        if draft is not None:
            fields["sheet"] = draft.sheet
            if draft.card_json is not None:
                fields.update(card_json=draft.card_json, greeting=draft.greeting)
            # A new card's voice fields replace those it sets; /npc settings made the rest.
            voice, dropped = self.voices.kept(draft.voice)
            if voice_to_json(voice):
                mixed = with_changes(voice_from_json(character.voice), voice)
                fields["voice"] = voice_to_json(mixed)
        if avatar := data.avatar():
            fields["avatar_url"] = avatar
        if not fields:
            raise UserError("Nothing to change: give a sheet, a card or an avatar.")
        updated = await self.characters.update(character.id, **fields)
        return Reply(f"Updated {_label(kind)} **{updated.name}**.{_left_out(dropped)}")

    async def delete(self, actor: Actor, kind: Kind, name: str) -> Reply:
        await self.require_rights(actor, kind)
        character = await self._find(actor, kind, name)
        await self.characters.delete(character.id)
        return Reply(f"Deleted {_label(kind)} **{character.name}**.")

    async def list(self, actor: Actor, kind: Kind, member_id: int | None = None) -> Reply:
        await self.require_rights(actor, kind)
        if kind == "npc":
            found = await self.characters.list_npcs(actor.guild_id)
        else:
            found = await self.characters.list_player_characters(
                actor.guild_id, member_id or actor.user_id
            )
        if not found:
            return Reply(f"No {_label(kind)}s yet.")
        lines = [f"- **{c.name}**" for c in found]
        return Reply("\n".join(lines)[:MESSAGE_LIMIT])

    async def show(
        self, actor: Actor, kind: Kind, name: str, member_id: int | None = None
    ) -> Reply:
        await self.require_rights(actor, kind)
        character = await self._find(actor, kind, name, member_id)
        text = character.sheet
        if character.greeting:
            text += f"\n\n**Greeting**: {character.greeting}"
        if len(text) > MESSAGE_LIMIT:
            return Reply(
                f"**{character.name}**'s sheet:",
                file=(f"{_slug(character.name)}.md", text.encode()),
            )
        return Reply(text)

    async def sheet_of(self, actor: Actor, kind: Kind, name: str) -> str:
        """The current sheet text, to prefill an edit form."""
        await self.require_rights(actor, kind)
        return (await self._find(actor, kind, name)).sheet

    async def export(self, actor: Actor, name: str) -> Reply:
        """An NPC as a Character Card V2 JSON file."""
        await self.access.require_gm(actor)
        npc = await self._find(actor, "npc", name)
        scenario = _card_scenario(npc.card_json)
        voice = voice_from_json(npc.voice)
        card = export_card_v2(npc.name, npc.sheet, npc.greeting, scenario, npc.card_json, voice)
        data = json.dumps(card, ensure_ascii=False, indent=2).encode()
        return Reply(f"**{npc.name}** as a V2 card.", file=(f"{_slug(npc.name)}.json", data))

    async def use(self, actor: Actor, name: str) -> Reply:
        """Play this character in the current scene (and by default elsewhere)."""
        character = await self._find(actor, "player", name)
        await self.scenes.set_default_character(actor.guild_id, actor.user_id, character.id)
        scene = await self.scenes.by_channel(actor.channel_id)
        if scene is None:
            return Reply(f"**{character.name}** is now your default character.")
        await self.scenes.bind_player(scene.id, actor.user_id, character.id)
        return Reply(f"You now play **{character.name}** in this scene.")

    async def names(
        self, actor: Actor, kind: Kind, prefix: str, member_id: int | None = None
    ) -> builtins.list[str]:  # `list` is a method of this class
        """Autocomplete choices."""
        owner = (member_id or actor.user_id) if kind == "player" else None
        return await self.characters.names(actor.guild_id, kind, owner_id=owner, prefix=prefix)


def _card_scenario(card: dict[str, object] | None) -> str | None:
    """The scenario an imported card carried (V2/V3 under `data`, V1 at the top)."""
    if not card:
        return None
    data = card.get("data")
    source = data if isinstance(data, dict) else card
    scenario = source.get("scenario")
    return scenario if isinstance(scenario, str) and scenario else None


def _left_out(dropped: list[str]) -> str:
    """What a reply says of a card's voice fields this server does not take."""
    return f" Left out of its card's voice: {' '.join(dropped)}" if dropped else ""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "character"


def card_limits(settings: Settings) -> CardLimits:
    """What one imported card may carry."""
    return CardLimits(
        json_max_bytes=settings.card_json_max_bytes,
        greeting_max_chars=settings.greeting_max_chars,
        lore_entry_max_chars=settings.lore_entry_max_chars,
        lore_max_entries=settings.lore_max_entries,
    )


def roster_limits(settings: Settings) -> RosterLimits:
    """How many characters a player, and NPCs a server, may have."""
    return RosterLimits(
        characters_per_player=settings.max_characters_per_player,
        npcs_per_server=settings.max_npcs_per_server,
    )


def build(deps: ChannelDeps) -> CharacterCommands:
    """The characters feature over the shared channel parts."""
    return CharacterCommands(
        deps.stores.characters,
        deps.stores.scenes,
        deps.access,
        card_limits=card_limits(deps.settings),
        roster_limits=roster_limits(deps.settings),
        voices=voice_rules(deps.settings),
    )
