"""What the director needs for one round, built from what the store holds."""

from __future__ import annotations

from dataclasses import replace

from bot.director import CastMember, SceneView
from bot.domain import Persona, PromptContext, Sampler
from bot.names import speaker_name
from bot.prompts import get_format
from bot.prompts.macros import join_names, resolve_macros, user_value
from bot.scenes.lore import SceneLoreSources
from bot.state.wording import status_lines
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

    async def view(self, scene: Scene, *, without_turn: int | None = None) -> SceneView:
        """The scene's cast, players, format, lore and sampler for one round.

        `without_turn`: a turn being swiped, whose own state changes the prompt leaves out.
        """
        # Names pass the name rule again here: rows stored before it existed may not be plain.
        members = await self.stores.scenes.cast_muted(scene.id)
        cast_rows = [c for c, _ in members]
        cast = [(speaker_name(c.name, "NPC"), c) for c in cast_rows]
        muted = {c.id for c, is_muted in members if is_muted}
        bound = [c for _, c in await self.stores.scenes.players(scene.id)]
        names = [speaker_name(c.name) for c in bound]
        known = {n.casefold() for n in names} | {name.casefold() for name, _ in cast}
        # Players without a registered character still need to be named to the model.
        for turn in await self.stores.turns.lines(scene.id, RECENT_SPEAKERS_WINDOW):
            speaker = speaker_name(turn.speaker)
            if turn.role == "user" and speaker.casefold() not in known:
                known.add(speaker.casefold())
                names.append(speaker)
        user = user_value(names)
        players = [_persona(c, name, user) for c, name in zip(bound, names, strict=False)]
        players += [Persona(n, "") for n in names[len(bound) :]]
        scenario = scene.scenario
        if scenario:
            cast_names = join_names([name for name, _ in cast]) or "the characters"
            scenario = resolve_macros(scenario, char=cast_names, user=user)
        summary = await self.stores.summaries.get(scene.id)
        present = [(name, c.id) for c, name in zip(bound, names, strict=False)]
        present += [(name, c.id) for name, c in cast]
        state = await self.stores.state.current(scene.id, without_turn=without_turn)
        status = status_lines(state, present)
        context = PromptContext(
            players=tuple(players),
            npcs=tuple(_persona(c, name, user) for name, c in cast),
            scenario=scenario,
            length=scene.length,
            summary=summary.text if summary and summary.text else None,
            status=tuple(status),
        )
        return SceneView(
            scene_id=scene.id,
            channel_key=str(scene.channel_id),
            fmt=get_format(scene.format),
            context=context,
            npcs=tuple(CastMember(name, c.id, c.id in muted) for name, c in cast),
            sampler=self.sampler_for(scene),
            max_replies=scene.max_replies,
            lore=await self.lore.scene_lore(scene, cast_rows, bound, user),
            summary_through=summary.through if summary else 0,
            mechanics=scene.mechanics,
        )


def _persona(character: Character, name: str, user: str) -> Persona:
    """A character as the prompt sees it (`name` plain), `{{char}}`/`{{user}}` resolved."""
    return Persona(name, resolve_macros(character.sheet, char=name, user=user))
