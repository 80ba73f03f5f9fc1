"""What a GM reads of whispers and tells: `/scene status`, `/scene export`, `/scene prompt as:`."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.store import Database
from tests.channel.helpers import alice, build, gm
from tests.knowledge.helpers import Table, table
from tests.scripted_engine import ScriptedEngine


async def _secrets(t: Table) -> None:
    """Ayla whispers to Marta (who answers), the GM tells Marta something."""
    await t.knowledge.whisper(alice(), "Marta", "Who sold the ledger?", t.hear)
    await t.knowledge.tell(gm(), "Marta", "The ledger is forged.")


def _exported(reply_file: tuple[str, bytes] | None) -> str:
    assert reply_file is not None and reply_file[0] == "transcript.txt"
    return reply_file[1].decode()


async def test_status_counts_secrets_and_marks_players_away(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["At the pier."]))
    t = await table(tavern, "Marta")
    assert "Secrets" not in (await t.scenes.status(gm())).text
    await _secrets(t)
    await t.knowledge.set_present(alice(), False)
    status = (await t.scenes.status(gm())).text.splitlines()
    assert "**Players** Ayla (away)" in status
    assert "**Secrets** 2 whispers · 1 tell" in status  # the whisper and its answer


async def test_the_export_marks_whispers_and_tells(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["At the pier."]))
    t = await table(tavern, "Marta", "Rook")
    await t.says(1, "Evening, all.")
    await _secrets(t)
    text = _exported((await t.scenes.export(gm())).file)
    assert "Ayla: Evening, all.\n" in text
    assert "Ayla (whisper to Marta): Who sold the ledger?\n" in text
    assert "GM (told to Marta): The ledger is forged." in text


async def test_the_export_marks_the_private_answer(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["At the pier."]))
    t = await table(tavern, "Marta", "Rook")
    await _secrets(t)
    text = _exported((await t.scenes.export(gm())).file)
    assert "Marta (whisper to Ayla): At the pier.\n" in text


async def test_prompt_as_an_npc_is_the_prompt_it_speaks_from(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["At the pier."]))
    t = await table(tavern, "Marta", "Rook")
    await t.says(1, "Evening, all.")
    requests = len(tavern.engine.requests)
    reply = await t.scenes.prompt(gm(), "rook")
    assert reply.text.startswith("Rook's next prompt: ") and reply.text.endswith(" tokens.")
    assert reply.file is not None
    prompt = reply.file[1].decode()
    assert prompt.endswith("Rook:") and "Evening, all." in prompt
    assert len(tavern.engine.requests) == requests  # building a prompt generates nothing
    with pytest.raises(UserError, match=r"^Ivo is not in this scene's cast.$"):
        await t.scenes.prompt(gm(), "Ivo")
    with pytest.raises(UserError, match=r"^Only a GM"):
        await t.scenes.prompt(alice(), "Rook")


async def test_an_npcs_prompt_holds_its_secrets_and_no_one_elses(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["At the pier."]))
    t = await table(tavern, "Marta", "Rook")
    await _secrets(t)
    marta = await t.scenes.prompt(gm(), "Marta")
    rook = await t.scenes.prompt(gm(), "Rook")
    assert marta.file is not None and rook.file is not None
    for secret in ("Who sold the ledger?", "At the pier.", "The ledger is forged."):
        assert secret in marta.file[1].decode()
        assert secret not in rook.file[1].decode()
