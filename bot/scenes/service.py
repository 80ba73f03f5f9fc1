"""Scene-level operations shared by the terminal and Discord: views, player turns, imports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from bot.characters.drafts import CharacterDraft
from bot.director.director import CastMember, SceneView
from bot.domain import Persona, PromptContext
from bot.engine.base import Sampler
from bot.prompts import get_format
from bot.scenes.scene_file import SceneFile
from bot.settings import Settings
from bot.store import Character, CharacterStore, Scene, SceneStore, TurnStore

RECENT_SPEAKERS_WINDOW = 64


@dataclass(frozen=True)
class Stores:
    """The three stores, built once by the composition root."""

    characters: CharacterStore
    scenes: SceneStore
    turns: TurnStore


def base_sampler(settings: Settings) -> Sampler:
    """The sampler defaults from the settings."""
    return Sampler(
        temperature=settings.temperature,
        min_p=settings.min_p,
        top_p=settings.top_p,
        repeat_penalty=settings.repeat_penalty,
        max_tokens=settings.max_new_tokens,
        seed=settings.seed,
    )


def file_channel_id(sf: SceneFile) -> int:
    """A stable pseudo channel id for a scene file, so a terminal session resumes."""
    digest = hashlib.sha256(str(sf.path.resolve()).encode()).digest()
    return int.from_bytes(digest[:7], "big")


class SceneViews:
    """Builds what the director needs from what the store holds."""

    def __init__(self, stores: Stores, sampler: Sampler) -> None:
        self.stores = stores
        self.sampler = sampler

    def sampler_for(self, scene: Scene) -> Sampler:
        """The base sampler with the scene's overrides applied."""
        sampler = self.sampler
        if scene.temperature is not None:
            sampler = replace(sampler, temperature=scene.temperature)
        if scene.min_p is not None:
            sampler = replace(sampler, min_p=scene.min_p)
        return sampler

    async def view(self, scene: Scene) -> SceneView:
        """The scene's cast, players, format and sampler for one round."""
        cast = await self.stores.scenes.cast(scene.id)
        players = [Persona(c.name, c.sheet) for _, c in await self.stores.scenes.players(scene.id)]
        known = {p.name.casefold() for p in players} | {c.name.casefold() for c in cast}
        # Players without a registered character still need to be named to the model.
        for turn in await self.stores.turns.window(scene.id, RECENT_SPEAKERS_WINDOW):
            if turn.role == "user" and turn.speaker.casefold() not in known:
                known.add(turn.speaker.casefold())
                players.append(Persona(turn.speaker, ""))
        context = PromptContext(
            players=tuple(players),
            npcs=tuple(Persona(c.name, c.sheet) for c in cast),
            scenario=scene.scenario,
            length=scene.length,
        )
        return SceneView(
            scene_id=scene.id,
            channel_key=str(scene.channel_id),
            fmt=get_format(scene.format),
            context=context,
            npcs=tuple(CastMember(c.name, c.id) for c in cast),
            sampler=self.sampler_for(scene),
            max_replies=scene.max_replies,
        )


async def _upsert(
    characters: CharacterStore, draft: CharacterDraft, *, guild_id: int, owner_id: int | None
) -> Character:
    if owner_id is None:
        found = await characters.find_npc(guild_id, draft.name)
    else:
        found = await characters.find_player_character(guild_id, owner_id, draft.name)
    fields = {"sheet": draft.sheet, "greeting": draft.greeting, "card_json": draft.card_json}
    if found is not None:
        return await characters.update(found.id, **fields)
    return await characters.create(
        guild_id=guild_id,
        kind="npc" if owner_id is None else "player",
        name=draft.name,
        owner_id=owner_id,
        **fields,
    )


async def import_scene_file(
    stores: Stores, sf: SceneFile, default_format: str
) -> tuple[Scene, list[tuple[int, Character]]]:
    """Create or refresh the scene a file describes; seed its opening turns only once."""
    channel_id = file_channel_id(sf)
    existing = await stores.scenes.by_channel(channel_id, active_only=False)
    scene = await stores.scenes.start(
        guild_id=0, channel_id=channel_id, format=sf.format or default_format
    )
    scene = await stores.scenes.update(scene.id, scenario=sf.scenario, length=sf.length)
    npcs = [await _upsert(stores.characters, d, guild_id=0, owner_id=None) for d in sf.npcs]
    for npc in npcs:
        await stores.scenes.add_cast(scene.id, npc.id)
    players: list[tuple[int, Character]] = []
    for owner_id, draft in enumerate(sf.players, start=1):
        character = await _upsert(stores.characters, draft, guild_id=0, owner_id=owner_id)
        await stores.scenes.bind_player(scene.id, owner_id, character.id)
        players.append((owner_id, character))
    if existing is None or await stores.turns.count(scene.id) == 0:
        await _seed_turns(stores.turns, scene.id, sf, npcs, players)
    return scene, players


async def _seed_turns(
    turns: TurnStore,
    scene_id: int,
    sf: SceneFile,
    npcs: list[Character],
    players: list[tuple[int, Character]],
) -> None:
    by_name = {c.name.casefold(): c for c in npcs}
    owners = {c.name.casefold(): (owner, c) for owner, c in players}
    for npc in npcs:
        if npc.greeting:
            await turns.append(
                scene_id, role="model", speaker=npc.name, content=npc.greeting, character_id=npc.id
            )
    for speaker, text in sf.turns:
        key = speaker.casefold()
        if key in by_name:
            npc = by_name[key]
            await turns.append(
                scene_id, role="model", speaker=npc.name, content=text, character_id=npc.id
            )
        elif key in owners:
            owner, character = owners[key]
            await turns.append(
                scene_id,
                role="user",
                speaker=character.name,
                content=text,
                character_id=character.id,
                author_id=owner,
            )
        else:
            await turns.append(scene_id, role="narration", speaker=speaker, content=text)
