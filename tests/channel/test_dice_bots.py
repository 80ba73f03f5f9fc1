"""Dice bots the admin lists: their posts become roll turns the NPCs answer; other bots stay out."""

from __future__ import annotations

from bot.channel.ports import IncomingMessage
from bot.store import Database
from tests.channel.helpers import CHANNEL, GUILD, build, marta_scene, within_guard

AVRAE = 261302296103747584
OTHER_BOT = 155149108183695360
ROLL = "Keri rolled 1d20 (15) = 15"


def _from_bot(
    mid: int, author_id: int, name: str, webhook_id: int | None = None, command_reply: bool = False
) -> IncomingMessage:
    return IncomingMessage(
        mid, CHANNEL, GUILD, author_id, name, ROLL, True, webhook_id, command_reply
    )


async def test_a_listed_dice_bots_post_becomes_a_roll_turn_and_a_round(db: Database) -> None:
    tavern = build(db, dice_bot_ids=f"{AVRAE}")
    scene_id = await marta_scene(tavern)

    await tavern.services.play.on_message(_from_bot(1, AVRAE, "Avrae"))
    await within_guard(tavern.services.sessions.wait_idle())

    turns = await tavern.stores.turns.window(scene_id, 10)
    assert [(t.speaker, t.content, t.kind) for t in turns[:1]] == [("Avrae", ROLL, "roll")]
    assert [t.speaker for t in turns[1:]] == ["Marta"]  # the NPCs answer the roll


async def test_a_dice_bots_answer_to_a_slash_command_counts_too(db: Database) -> None:
    tavern = build(db, dice_bot_ids=f"{OTHER_BOT},{AVRAE}")
    scene_id = await marta_scene(tavern)

    await tavern.services.play.on_message(
        _from_bot(1, AVRAE, "Avrae", webhook_id=99, command_reply=True)
    )
    await within_guard(tavern.services.sessions.wait_idle())

    turns = await tavern.stores.turns.window(scene_id, 10)
    assert [t.kind for t in turns] == ["roll", "post"]


async def test_bots_that_are_not_listed_stay_ignored(db: Database) -> None:
    tavern = build(db, dice_bot_ids=f"{AVRAE}")
    scene_id = await marta_scene(tavern)

    await tavern.services.play.on_message(_from_bot(1, OTHER_BOT, "Chatty"))
    await tavern.services.play.on_message(
        _from_bot(2, OTHER_BOT, "Chatty", webhook_id=98, command_reply=True)
    )
    await within_guard(tavern.services.sessions.wait_idle())

    assert await tavern.stores.turns.window(scene_id, 10) == []


async def test_without_a_list_every_bot_is_ignored(db: Database) -> None:
    tavern = build(db)
    scene_id = await marta_scene(tavern)

    await tavern.services.play.on_message(_from_bot(1, AVRAE, "Avrae"))
    await within_guard(tavern.services.sessions.wait_idle())

    assert await tavern.stores.turns.window(scene_id, 10) == []
