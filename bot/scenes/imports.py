"""Scene files into the store (the scene, its cast, players and opening turns), and a GM's check."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable

from bot.characters.drafts import CharacterDraft
from bot.characters.voice import voice_to_json
from bot.dice import roll_dice, roll_line
from bot.domain import DiceRoll
from bot.scenes.greetings import store_greeting
from bot.scenes.scene_file import Presence, RollTurn, SceneFile, TurnBody, Whisper
from bot.state.rules import Change
from bot.state.wording import status_line
from bot.store import (
    Character,
    CharacterStore,
    LoreStore,
    Scene,
    Stores,
    StorySummary,
    Turn,
    TurnStore,
)
from bot.store.lore import book_name


def file_channel_id(sf: SceneFile) -> int:
    """A stable pseudo channel id for a scene file, so a terminal session resumes."""
    digest = hashlib.sha256(str(sf.path.resolve()).encode()).digest()
    return int.from_bytes(digest[:7], "big")


async def _upsert(
    characters: CharacterStore, draft: CharacterDraft, *, guild_id: int, owner_id: int | None
) -> Character:
    if owner_id is None:
        found = await characters.find_npc(guild_id, draft.name)
    else:
        found = await characters.find_player_character(guild_id, owner_id, draft.name)
    # The file says all of a character's voice: what it leaves out goes back to the defaults.
    voice = voice_to_json(draft.voice) if draft.voice is not None else None
    if found is not None:
        return await characters.update(
            found.id,
            sheet=draft.sheet,
            greeting=draft.greeting,
            card_json=draft.card_json,
            voice=voice,
        )
    return await characters.create(
        guild_id=guild_id,
        kind="npc" if owner_id is None else "player",
        name=draft.name,
        owner_id=owner_id,
        sheet=draft.sheet,
        greeting=draft.greeting,
        card_json=draft.card_json,
        voice=voice,
    )


async def import_scene_file(
    stores: Stores, sf: SceneFile, default_format: str
) -> tuple[Scene, list[tuple[int, Character]]]:
    """Create or refresh the scene a file describes; seed its opening turns only once.

    A fresh scene opens with the characters the file starts in it; its events then move them
    as its turns are stored. A resumed one keeps who is present, and takes in again the NPCs
    the file leaves in the scene (a file may have gained one since).
    """
    channel_id = file_channel_id(sf)
    existing = await stores.scenes.by_channel(channel_id, active_only=False)
    scene = await stores.scenes.start(
        guild_id=0, channel_id=channel_id, format=sf.format or default_format
    )
    fresh = existing is None or await stores.turns.count(scene.id) == 0
    scene = await stores.scenes.update(
        scene.id, scenario=sf.scenario, length=sf.length, mechanics=sf.mechanics
    )
    away = {name.casefold() for name in (sf.away if fresh else sf.away_at_end)}
    npcs = [await _upsert(stores.characters, d, guild_id=0, owner_id=None) for d in sf.npcs]
    for npc in npcs:
        if npc.name.casefold() not in away:
            await stores.scenes.add_cast(scene.id, npc.id)
        elif fresh:  # a scene stored with no turns yet may hold it from an older file
            await stores.scenes.remove_cast(scene.id, npc.id)
    players: list[tuple[int, Character]] = []
    for owner_id, draft in enumerate(sf.players, start=1):
        character = await _upsert(stores.characters, draft, guild_id=0, owner_id=owner_id)
        await stores.scenes.bind_player(scene.id, owner_id, character.id)
        if fresh:
            await stores.scenes.set_present(
                scene.id, owner_id, character.name.casefold() not in away
            )
        players.append((owner_id, character))
    await _attach_lore(stores.lore, scene.id, sf)
    if fresh:
        await _seed_state(stores, scene.id, sf, [*npcs, *(c for _, c in players)])
        through = await _Seeder(stores, scene.id, sf, npcs, players).seed()
        if sf.summary:
            await stores.summaries.put(scene.id, StorySummary(sf.summary, through))
    return scene, players


async def state_report(stores: Stores, scene: Scene) -> list[str]:
    """Each character's tracked values, then every stored roll, private ones marked (for a GM)."""
    state = await stores.state.current(scene.id)
    characters = [c for _, c in await stores.scenes.players(scene.id)]
    characters += await stores.scenes.cast(scene.id)
    values = [status_line(c.name, state.of(c.id)) for c in characters]  # whole: no prompt cap
    lines = ["Tracked values:", *(f"  {v}" for v in values if v)]
    if len(lines) == 1:
        lines.append("  none")
    turns = [turn async for turn in stores.turns.iter_all(scene.id)]
    rolls = await stores.state.rolls_of([turn.id for turn in turns])
    lines.append("Rolls:")
    for turn in turns:
        mark = " (private)" if turn.private else ""
        lines += [
            f"  turn {turn.seq}{mark}: {roll_line(turn.speaker, r)}" for r in rolls.get(turn.id, [])
        ]
    if not rolls:
        lines.append("  none")
    return lines


async def _seed_state(
    stores: Stores, scene_id: int, sf: SceneFile, characters: list[Character]
) -> None:
    """The file's starting values, as changes of no turn (they stand like a GM's /stat set)."""
    ids = {c.name.casefold(): c.id for c in characters}
    changes = [
        Change(ids[name.casefold()], stat.key, "set", stat.value)
        for name, stats in sf.states
        if name.casefold() in ids
        for stat in stats
    ]
    await stores.state.record(scene_id, changes)


async def _attach_lore(lore: LoreStore, scene_id: int, sf: SceneFile) -> None:
    """Store the file's lorebooks (named after the file, so two files never share one)."""
    attached: set[int] = set()
    for book in sf.lorebooks:
        name = book_name(f"{sf.path.stem}/{book.name or 'lorebook'}")
        stored = await lore.save_book(0, book, name=name, replace=True)
        await lore.attach(scene_id, stored.id)
        attached.add(stored.id)
    for stale in await lore.scene_books(scene_id):  # dropped from the file since last time
        if stale.id not in attached:
            await lore.detach(scene_id, stale.id)


class _Seeder:
    """Stores a fresh scene's greetings and the file's turns and events, in the file's order."""

    def __init__(
        self,
        stores: Stores,
        scene_id: int,
        sf: SceneFile,
        npcs: list[Character],
        players: list[tuple[int, Character]],
    ) -> None:
        self.stores, self.scene_id, self.sf = stores, scene_id, sf
        self.npcs = {c.name.casefold(): c for c in npcs}
        self.owners = {c.name.casefold(): (owner, c) for owner, c in players}
        self.names = [c.name for _, c in players]
        self.group = len(players) > 1 or len(npcs) > 1
        self.greeted: set[int] = set()
        self.last_seq = 0  # the newest turn stored so far

    async def seed(self) -> int:
        """Store everything; the seq of the last turn the file's `summary` covers (0: none)."""
        away = {name.casefold() for name in self.sf.away}
        for key, npc in self.npcs.items():
            if key not in away:
                await self._greet(npc)
        through = self.last_seq
        for index, (name, body) in enumerate(self.sf.turns):
            await self._entry(name, body)
            if index < self.sf.summary_through:
                # Events count as entries; an NPC's first entrance stores its greeting.
                through = self.last_seq
        return through

    async def _entry(self, name: str, body: TurnBody) -> None:
        key = name.casefold()
        if isinstance(body, Presence):
            await self._move(key, body.enters)
            return
        owner, player = self.owners.get(key, (None, None))
        if isinstance(body, RollTurn):
            character = self.npcs.get(key) or player
            await self._store(
                _seed_roll(self.stores.turns, self.scene_id, name, body, character, owner)
            )
        elif isinstance(body, Whisper):
            assert player is not None  # the loader takes whispers only from players, to NPCs
            await self._post(player, owner, body.text, audience=[self.npcs[body.to.casefold()].id])
        elif key in self.npcs:
            npc = self.npcs[key]
            await self._store(
                self.stores.turns.append(
                    self.scene_id, role="model", speaker=npc.name, content=body, character_id=npc.id
                )
            )
        elif player is not None:
            await self._post(player, owner, body)
        else:
            await self._store(
                self.stores.turns.append(
                    self.scene_id, role="narration", speaker=name, content=body
                )
            )

    async def _post(
        self,
        player: Character,
        owner: int | None,
        text: str,
        *,
        audience: list[int] | None = None,
    ) -> None:
        """A player's line; with `audience`, a whisper only they and the player witness."""
        await self._store(
            self.stores.turns.append(
                self.scene_id,
                role="user",
                speaker=player.name,
                content=text,
                character_id=player.id,
                author_id=owner,
                kind="post" if audience is None else "whisper",
                audience=audience,
            )
        )

    async def _move(self, key: str, enters: bool) -> None:
        """An event: an NPC joins or leaves the cast, a player's character enters or leaves."""
        scenes = self.stores.scenes
        if key in self.owners:
            await scenes.set_present(self.scene_id, self.owners[key][0], enters)
            return
        npc = self.npcs[key]
        if not enters:
            await scenes.remove_cast(self.scene_id, npc.id)
            return
        await scenes.add_cast(self.scene_id, npc.id)
        await self._greet(npc)  # an NPC joining opens with its greeting, as with /scene add

    async def _greet(self, npc: Character) -> None:
        """`npc`'s greeting, the first time it is in the scene."""
        if npc.id in self.greeted:
            return
        self.greeted.add(npc.id)
        await self._store(
            store_greeting(
                self.stores.turns, self.scene_id, npc, self.names, group=self.group, pending=False
            )
        )

    async def _store(self, stored: Awaitable[Turn | None]) -> None:
        turn = await stored
        if turn is not None:
            self.last_seq = turn.seq


async def _seed_roll(
    turns: TurnStore,
    scene_id: int,
    speaker: str,
    roll: RollTurn,
    character: Character | None,
    owner: int | None,
) -> Turn:
    """A roll turn, as /roll stores one: rolled now, or the total a past roll came to."""
    if roll.result is None:
        rolled = roll_dice(roll.expr, reason=roll.reason)  # the operating system's randomness
    else:
        # The file records only the total, not the faces: a breakdown of dice nobody rolled
        # would be made up, so the breakdown is the total alone (the line reads `…: 17`).
        rolled = DiceRoll(roll.expr, roll.result, str(roll.result), roll.reason)
    name = character.name if character is not None else speaker
    return await turns.append(
        scene_id,
        role="user",
        speaker=name,
        content=roll_line(name, rolled),
        character_id=character.id if character is not None else None,
        author_id=owner,
        kind="roll",
        private=roll.private,
        rolls=[rolled],
    )
