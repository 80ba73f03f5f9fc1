"""`/stat` through the real services: who may change which values, and what they are told."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.state.rules import Change, Number, Stat
from bot.state.service import HISTORY_SHOWN, StatCommands
from bot.store import Database
from tests.channel.helpers import ALICE, BOB, GUILD, Tavern, alice, bob, build, gm, marta_scene
from tests.channel.helpers import stranger as sam

OWN_ONLY = "You can change only your own character's values."
GM_ONLY_HERE = "In this scene only a GM changes values"


async def _table(db: Database) -> tuple[Tavern, StatCommands, int]:
    """Marta's scene; Alice plays Rook and Bob plays Wren there."""
    tavern = build(db)
    scene_id = await marta_scene(tavern)
    for user, name in ((ALICE, "Rook"), (BOB, "Wren")):
        character = await tavern.stores.characters.create(
            guild_id=GUILD, kind="player", name=name, owner_id=user, sheet="s"
        )
        await tavern.stores.scenes.bind_player(scene_id, user, character.id)
    return tavern, tavern.services.get(StatCommands), scene_id


async def test_a_gm_changes_anyone_in_the_scene(db: Database) -> None:
    _, stats, _ = await _table(db)
    assert (await stats.set(gm(), "HP", "12/20", "rook")).text == "Rook: HP 12/20."
    assert (await stats.add(gm(), "hp", "-3", "Rook")).text == "Rook: HP 9/20 (was 12/20)."
    assert (await stats.set(gm(), "Gold", "15", "Marta")).text == "Marta: Gold 15."
    with pytest.raises(UserError, match=r"^Inventory is not tracked"):  # the rule's message
        await stats.add(gm(), "Inventory", "rope", "Marta")
    await stats.set(gm(), "Inventory", "rope, lantern", "Marta")
    assert (await stats.remove(gm(), "inventory", "Rope", "Marta")).text == (
        "Marta: Inventory: lantern (was rope, lantern)."
    )
    assert (await stats.remove(gm(), "Gold", None, "Marta")).text == (
        "Marta: Gold is no longer tracked."
    )
    with pytest.raises(UserError, match=r"^Ghost is not in this scene"):
        await stats.set(gm(), "HP", "1", "Ghost")
    with pytest.raises(UserError, match=r"^Name a character: you play none"):
        await stats.set(gm(), "HP", "1")


async def test_players_change_their_own_only_where_the_gm_allows(db: Database) -> None:
    tavern, stats, scene_id = await _table(db)
    with pytest.raises(UserError, match=f"^{GM_ONLY_HERE}"):
        await stats.set(alice(), "HP", "12/20")
    assert (await tavern.stores.state.current(scene_id)).characters == {}
    with pytest.raises(UserError, match=r"^Only a GM can do that"):
        await stats.players(alice(), True)
    assert (await stats.players(gm(), True)).text.startswith("Players can now change")
    assert (await stats.set(alice(), "HP", "12/20")).text == "Rook: HP 12/20."
    assert (await stats.add(alice(), "HP", "+1", "Rook")).text.startswith("Rook: HP 13/20")
    for who, target in ((alice(), "Wren"), (alice(), "Marta"), (bob(), "Rook")):
        with pytest.raises(UserError, match=f"^{OWN_ONLY}"):
            await stats.add(who, "HP", "-5", target)
    with pytest.raises(UserError, match=f"^{OWN_ONLY}"):
        await stats.set(sam(), "HP", "1", "Rook")
    with pytest.raises(UserError, match=r"^Name a character"):
        await stats.set(sam(), "HP", "1")
    await stats.players(gm(), False)
    with pytest.raises(UserError, match=f"^{GM_ONLY_HERE}"):
        await stats.remove(alice(), "HP")
    state = await tavern.stores.state.current(scene_id)
    assert [list(state.of(c).values()) for c in state.characters] == [[Stat("HP", Number(13, 20))]]


async def test_show_values_and_history(db: Database) -> None:
    tavern, stats, scene_id = await _table(db)
    assert (await stats.show(alice())).text == "Rook has no tracked values yet."
    assert (await stats.show(gm())).text == "No one in this scene has tracked values yet."
    await stats.set(gm(), "HP", "20/20", "Rook")
    await stats.set(gm(), "Gold", "3", "Marta")
    turns = tavern.stores.turns
    hit = await turns.append(scene_id, role="model", speaker="Marta", content="A hit.")
    rook = await tavern.stores.scenes.bound_character(scene_id, ALICE)
    assert rook is not None
    await tavern.stores.state.record(scene_id, [Change(rook.id, "HP", "add", -8)], turn_id=hit.id)
    assert (await stats.show(alice())).text == "Rook: HP 12/20"
    assert (await stats.show(bob(), "marta")).text == "Marta: Gold 3"
    assert (await stats.show(gm())).text == "Rook: HP 12/20\nMarta: Gold 3"
    assert (await stats.show(alice(), key="hp")).text == (
        f"Rook: HP 12/20. Changes, newest last:\ncommand: set 20/20 → 20/20\n"
        f"turn {hit.seq} (Marta): -8 → 12/20"
    )
    for _ in range(HISTORY_SHOWN):
        await stats.add(gm(), "HP", "+1", "Rook")
    lines = (await stats.show(gm(), "Rook", "HP")).text.splitlines()
    assert lines[0] == "Rook: HP 20/20. Changes, newest last (2 older not shown):"
    assert len(lines) == 1 + HISTORY_SHOWN and lines[-1] == "command: +1 → 20/20"
    assert (await stats.show(gm(), "Rook", "Mana")).text == (
        "Rook: Mana is not tracked; nothing has changed it."
    )
    with pytest.raises(UserError, match=r"^Only this scene's players and GMs"):
        await stats.show(sam())


async def test_long_answers_come_as_a_file(db: Database) -> None:
    _, stats, _ = await _table(db)
    for i in range(3):
        await stats.set(gm(), f"List {i}", ", ".join(["x" * 70] * 10), "Rook")
    reply = await stats.show(gm(), "Rook")
    assert reply.file is not None and reply.file[1].decode().startswith("Rook: List 0: xxx")


async def test_names_for_autocomplete(db: Database) -> None:
    _, stats, _ = await _table(db)
    assert await stats.names(gm(), "") == ["Rook", "Wren", "Marta"]
    assert await stats.names(gm(), "R") == ["Rook", "Wren", "Marta"]
    assert await stats.names(gm(), "oo") == ["Rook"]
    assert await stats.names(gm(channel_id=99), "") == []
