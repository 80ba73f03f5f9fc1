"""What the director needs for one round, built from what the store holds."""

from __future__ import annotations

from dataclasses import replace

from bot.director import CastMember, SceneView
from bot.domain import Persona, PromptContext, Sampler
from bot.prompts import get_format
from bot.prompts.macros import join_names, resolve_macros, user_value
from bot.scenes.lore import SceneLoreSources
from bot.store import Character, Scene, Stores

RECENT_SPEAKERS_WINDOW = 64


class SceneViews:
    """Builds what the director needs from what the store holds."""

    def __init__(
        self, stores: Stores, sampler: Sampler, lore: SceneLoreSources | None = None
    ) -> None:
        self.stores = stores
        self.sampler = sampler
        self.lore = lore or SceneLoreSources(stores)

    def sampler_for(self, scene: Scene) -> Sampler:
        """The base sampler with the scene's overrides applied."""
        sampler = self.sampler
        if scene.temperature is not None:
            sampler = replace(sampler, temperature=scene.temperature)
        if scene.min_p is not None:
            sampler = replace(sampler, min_p=scene.min_p)
        return sampler

    async def view(self, scene: Scene) -> SceneView:
        """The scene's cast, players, format, lore and sampler for one round."""
        cast = await self.stores.scenes.cast(scene.id)
        bound = [c for _, c in await self.stores.scenes.players(scene.id)]
        names = [c.name for c in bound]
        known = {n.casefold() for n in names} | {c.name.casefold() for c in cast}
        # Players without a registered character still need to be named to the model.
        for turn in await self.stores.turns.window(scene.id, RECENT_SPEAKERS_WINDOW):
            if turn.role == "user" and turn.speaker.casefold() not in known:
                known.add(turn.speaker.casefold())
                names.append(turn.speaker)
        user = user_value(names)
        players = [_persona(c, user) for c in bound] + [Persona(n, "") for n in names[len(bound) :]]
        scenario = scene.scenario
        if scenario:
            cast_names = join_names([c.name for c in cast]) or "the characters"
            scenario = resolve_macros(scenario, char=cast_names, user=user)
        context = PromptContext(
            players=tuple(players),
            npcs=tuple(_persona(c, user) for c in cast),
            scenario=scenario,
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
            lore=await self.lore.scene_lore(scene, cast, bound, user),
        )


def _persona(character: Character, user: str) -> Persona:
    """A character as the prompt sees it, its sheet's `{{char}}`/`{{user}}` resolved."""
    return Persona(character.name, resolve_macros(character.sheet, char=character.name, user=user))
