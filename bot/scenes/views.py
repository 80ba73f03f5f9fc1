"""What the director needs for one round, built from what the store holds."""

from __future__ import annotations

from dataclasses import replace

from bot.director import CastMember, SceneView
from bot.domain import Persona, PromptContext, Sampler
from bot.names import speaker_name
from bot.prompts import get_format
from bot.store import Scene, Stores

RECENT_SPEAKERS_WINDOW = 64


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
        # Names pass the name rule again here: rows stored before it existed may not be plain.
        cast = [(speaker_name(c.name, "NPC"), c) for c in await self.stores.scenes.cast(scene.id)]
        players = [
            Persona(speaker_name(c.name), c.sheet)
            for _, c in await self.stores.scenes.players(scene.id)
        ]
        known = {p.name.casefold() for p in players} | {name.casefold() for name, _ in cast}
        # Players without a registered character still need to be named to the model.
        for turn in await self.stores.turns.window(scene.id, RECENT_SPEAKERS_WINDOW):
            speaker = speaker_name(turn.speaker)
            if turn.role == "user" and speaker.casefold() not in known:
                known.add(speaker.casefold())
                players.append(Persona(speaker, ""))
        context = PromptContext(
            players=tuple(players),
            npcs=tuple(Persona(name, c.sheet) for name, c in cast),
            scenario=scene.scenario,
            length=scene.length,
        )
        return SceneView(
            scene_id=scene.id,
            channel_key=str(scene.channel_id),
            fmt=get_format(scene.format),
            context=context,
            npcs=tuple(CastMember(name, c.id) for name, c in cast),
            sampler=self.sampler_for(scene),
            max_replies=scene.max_replies,
        )
