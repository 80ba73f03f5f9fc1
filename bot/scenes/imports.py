"""Scene files into the store (the scene, its cast, players and opening turns), and a GM's check."""

from __future__ import annotations

import hashlib

from bot.characters.drafts import CharacterDraft
from bot.dice import roll_dice, roll_line
from bot.domain import DiceRoll
from bot.scenes.greetings import store_greeting
from bot.scenes.scene_file import RollTurn, SceneFile
from bot.state.rules import Change
from bot.state.wording import status_line
from bot.store import Character, CharacterStore, LoreStore, Scene, Stores, StorySummary, TurnStore
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
    if found is not None:
        return await characters.update(
            found.id, sheet=draft.sheet, greeting=draft.greeting, card_json=draft.card_json
        )
    return await characters.create(
        guild_id=guild_id,
        kind="npc" if owner_id is None else "player",
        name=draft.name,
        owner_id=owner_id,
        sheet=draft.sheet,
        greeting=draft.greeting,
        card_json=draft.card_json,
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
    scene = await stores.scenes.update(
        scene.id, scenario=sf.scenario, length=sf.length, mechanics=sf.mechanics
    )
    npcs = [await _upsert(stores.characters, d, guild_id=0, owner_id=None) for d in sf.npcs]
    for npc in npcs:
        await stores.scenes.add_cast(scene.id, npc.id)
    players: list[tuple[int, Character]] = []
    for owner_id, draft in enumerate(sf.players, start=1):
        character = await _upsert(stores.characters, draft, guild_id=0, owner_id=owner_id)
        await stores.scenes.bind_player(scene.id, owner_id, character.id)
        players.append((owner_id, character))
    await _attach_lore(stores.lore, scene.id, sf)
    if existing is None or await stores.turns.count(scene.id) == 0:
        await _seed_state(stores, scene.id, sf, [*npcs, *(c for _, c in players)])
        greetings = await _seed_turns(stores.turns, scene.id, sf, npcs, players)
        if sf.summary:
            await _seed_summary(stores, scene.id, sf.summary, greetings + sf.summary_through)
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


async def _seed_summary(stores: Stores, scene_id: int, text: str, covered: int) -> None:
    """The file's story so far, covering its first `covered` seeded turns."""
    # Private rolls count too: `summary_through` counts the file's [[turns]], whoever saw them.
    first = (
        await stores.turns.lines_after(scene_id, 0, covered, with_private=True) if covered else []
    )
    await stores.summaries.put(scene_id, StorySummary(text, first[-1].seq if first else 0))


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


async def _seed_turns(
    turns: TurnStore,
    scene_id: int,
    sf: SceneFile,
    npcs: list[Character],
    players: list[tuple[int, Character]],
) -> int:
    """Store the greetings and the file's turns; returns how many greetings there were."""
    by_name = {c.name.casefold(): c for c in npcs}
    owners = {c.name.casefold(): (owner, c) for owner, c in players}
    names = [c.name for _, c in players]
    group = len(players) > 1 or len(npcs) > 1
    greetings = 0
    for npc in npcs:
        if await store_greeting(turns, scene_id, npc, names, group=group, pending=False):
            greetings += 1
    for speaker, text in sf.turns:
        key = speaker.casefold()
        if isinstance(text, RollTurn):
            owner, player = owners.get(key, (None, None))
            await _seed_roll(turns, scene_id, speaker, text, by_name.get(key) or player, owner)
        elif key in by_name:
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
    return greetings


async def _seed_roll(
    turns: TurnStore,
    scene_id: int,
    speaker: str,
    roll: RollTurn,
    character: Character | None,
    owner: int | None,
) -> None:
    """A roll turn, as /roll stores one: rolled now, or the total a past roll came to."""
    if roll.result is None:
        rolled = roll_dice(roll.expr, reason=roll.reason)  # the operating system's randomness
    else:
        # The file records only the total, not the faces: a breakdown of dice nobody rolled
        # would be made up, so the breakdown is the total alone (the line reads `…: 17`).
        rolled = DiceRoll(roll.expr, roll.result, str(roll.result), roll.reason)
    name = character.name if character is not None else speaker
    await turns.append(
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
