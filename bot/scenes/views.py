"""What the director needs for one round, built from what the store holds."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache

from bot.characters.sheet import Sheet, SheetError, SheetField, parse_sheet, render_sheet
from bot.characters.voice import voice_from_json
from bot.director import CastMember, SceneView
from bot.director.types import RecallSource, StorySoFar
from bot.domain import Persona, PromptContext, Sampler
from bot.names import speaker_name
from bot.prompts import get_format
from bot.prompts.macros import join_names, resolve_macros, user_value
from bot.scenes.lore import SceneLoreSources
from bot.state.wording import status_lines
from bot.store import SHARED_VIEW, Character, Scene, Stores, StorySummary, view_key

RECENT_SPEAKERS_WINDOW = 64
# Sheet fields only their own character knows; no other speaker's prompt holds them.
SECRET_LABELS = ("Secret", "Secrets")
OWN_VIEW_CACHE = 8192


class SceneViews:
    """Builds what the director needs from what the store holds."""

    def __init__(
        self, stores: Stores, sampler: Sampler, lore: SceneLoreSources | None = None
    ) -> None:
        self.stores = stores
        self.sampler = sampler
        self.lore = lore or SceneLoreSources(stores)
        # Whether a character's view of the turns a shared summary covers differs from it.
        # Witnesses of past turns never change, and a deletion only makes a view less
        # different, so a remembered answer is never less strict than a fresh one. The summary
        # text is in the key: seqs start over after a clear, and so does the summary.
        self._own_views: OrderedDict[tuple[int, int, int, str], bool] = OrderedDict()
        # Old moments brought back into NPCs' prompts: plugged in by the recall feature.
        self.recall: RecallSource | None = None

    def use_recall(self, source: RecallSource | None) -> None:
        """Every view built from now on recalls through `source` (None: no recall)."""
        self.recall = source

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
        presence = await self.stores.scenes.player_presence(scene.id)
        bound = [c for _, c, _ in presence]
        away = {c.id for _, c, here in presence if not here}
        names = [speaker_name(c.name) for c in bound]
        known = {n.casefold() for n in names} | {name.casefold() for name, _ in cast}
        # Players without a registered character still need to be named to the model.
        for turn in await self.stores.turns.lines(scene.id, RECENT_SPEAKERS_WINDOW):
            speaker = speaker_name(turn.speaker)
            if turn.role == "user" and speaker.casefold() not in known:
                known.add(speaker.casefold())
                names.append(speaker)
        user = user_value(names)
        players = [
            _persona(c, name, user, present=c.id not in away)
            for c, name in zip(bound, names, strict=False)
        ]
        # Not a character: present for no one, named only to those who read their posts.
        players += [Persona(n, "", present=False) for n in names[len(bound) :]]
        scenario = scene.scenario
        if scenario:
            cast_names = join_names([name for name, _ in cast]) or "the characters"
            scenario = resolve_macros(scenario, char=cast_names, user=user)
        summaries = await self.stores.summaries.views(scene.id)
        shared = summaries.get(SHARED_VIEW)
        present = [(name, c.id) for c, name in zip(bound, names, strict=False)]
        present += [(name, c.id) for name, c in cast]
        state = await self.stores.state.current(scene.id, without_turn=without_turn)
        status = status_lines(state, present)
        context = PromptContext(
            players=tuple(players),
            npcs=tuple(_persona(c, name, user) for name, c in cast),
            scenario=scenario,
            length=scene.length,
            summary=shared.text if shared and shared.text else None,
            status=tuple(status),
        )
        return SceneView(
            scene_id=scene.id,
            channel_key=str(scene.channel_id),
            fmt=get_format(scene.format),
            context=context,
            npcs=tuple(
                CastMember(name, c.id, c.id in muted, voice=voice_from_json(c.voice))
                for name, c in cast
            ),
            sampler=self.sampler_for(scene),
            max_replies=scene.max_replies,
            lore=await self.lore.scene_lore(scene, cast_rows, bound, user),
            summary_through=shared.through if shared else 0,
            stories=await self._stories(scene.id, [*cast_rows, *bound], summaries),
            mechanics=scene.mechanics,
            recall=self.recall,
        )

    async def _stories(
        self, scene_id: int, characters: list[Character], summaries: dict[str, StorySummary]
    ) -> dict[int, StorySoFar]:
        """The story so far of each character whose view differs from the shared one."""
        shared = summaries.get(SHARED_VIEW)
        stories: dict[int, StorySoFar] = {}
        for character in characters:
            own = summaries.get(view_key(character.id))
            if own is not None:
                stories[character.id] = StorySoFar(own.text or None, own.through)
            elif shared is not None and await self._has_own_view(scene_id, character.id, shared):
                stories[character.id] = StorySoFar()  # the shared story is not its story
        return stories

    async def _has_own_view(self, scene_id: int, character_id: int, shared: StorySummary) -> bool:
        """`TurnStore.has_own_view` through the shared summary, remembered."""
        key = (scene_id, character_id, shared.through, shared.text)
        found = self._own_views.get(key)
        if found is None:
            found = await self.stores.turns.has_own_view(scene_id, character_id, shared.through)
            self._own_views[key] = found
            while len(self._own_views) > OWN_VIEW_CACHE:
                self._own_views.popitem(last=False)
        else:
            self._own_views.move_to_end(key)
        return found


def _persona(character: Character, name: str, user: str, *, present: bool = True) -> Persona:
    """A character as the prompt sees it (`name` plain), `{{char}}`/`{{user}}` resolved."""
    public = public_sheet(character.sheet)
    own = (
        None if public == character.sheet else resolve_macros(character.sheet, char=name, user=user)
    )
    return Persona(
        name,
        resolve_macros(public, char=name, user=user),
        character_id=character.id,
        present=present,
        own_sheet=own,
    )


def _secrets(sheet: Sheet) -> list[SheetField]:
    """The sheet's fields only its own character may read."""
    return [f for f in (sheet.get(label) for label in SECRET_LABELS) if f is not None]


@lru_cache(maxsize=1024)
def public_sheet(sheet: str) -> str:
    """`sheet` as other characters may read it: without its Secret fields, the rest as written."""
    if "secret" not in sheet.casefold():  # the common case costs no parse
        return sheet
    try:
        parsed = parse_sheet(sheet)
    except SheetError:  # no fields at all, so no Secret field either
        return sheet
    secrets = _secrets(parsed)
    if not secrets:
        return sheet
    lines = sheet.split("\n")
    for field in secrets:
        lines = _without(lines, render_sheet(Sheet([field])).split("\n"))
    public = "\n".join(lines).strip("\n")
    if public.strip() and _secrets(_parsed(public)):
        # Written some other way than the canonical layout: render what is left instead.
        hidden = {id(f) for f in secrets}
        return render_sheet(Sheet([f for f in parsed.fields if id(f) not in hidden]))
    return public


def _without(lines: list[str], block: list[str]) -> list[str]:
    """`lines` without the first run of lines equal to `block` (unchanged if there is none)."""
    for start in range(len(lines) - len(block) + 1):
        if lines[start : start + len(block)] == block:
            return lines[:start] + lines[start + len(block) :]
    return lines


def _parsed(text: str) -> Sheet:
    """`text` parsed, or no fields where it parses to none."""
    try:
        return parse_sheet(text)
    except SheetError:
        return Sheet([])
