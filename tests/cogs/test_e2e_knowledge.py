"""End to end: who saw what, through the real discord.py client, the fake Discord, the demo model.

A whisper is answered privately and stays out of the other NPC's prompt; an NPC taken out of
the cast and brought back did not witness what happened meanwhile; tells, presence, status and
export as a GM and players see them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from bot.engine.base import CancelToken, Completion, GenerationRequest
from tests.e2e import (
    MODEL_TIMEOUT,
    Mark,
    Npc,
    Running,
    answer_of,
    assert_no_pings_or_tracebacks,
    attachment_text,
    cast_scene,
    command,
    is_ephemeral,
    module_bot,
    npc_posts,
    player_says,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

AYLA_SHEET = "**Character Name**: Ayla **Age**: 24 **Occupation/Profession**: Sailor"
SECRET = "The harbour key is hidden inside the red lantern."
AWAY_NEWS = "Tobin sold the ship to the smugglers this morning."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    db = tmp_path_factory.mktemp("e2e-knowledge") / "bot.db"
    async for bot in module_bot(db, max_new_tokens=24):
        yield bot


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def checked(running: Running) -> AsyncIterator[None]:
    await running.idle()
    mark = Mark.now(running.fake)
    yield
    await running.idle()
    assert_no_pings_or_tracebacks(running.fake, mark)


class Prompts:
    """Every prompt the engine is asked to complete, recorded on the running instance."""

    def __init__(self, running: Running) -> None:
        self.texts: list[str] = []
        engine = running.core.engine
        original = engine.complete

        async def complete(
            request: GenerationRequest,
            cancel: CancelToken | None = None,
            on_text: Callable[[str], None] | None = None,
        ) -> Completion:
            if request.grammar is None:  # a turn's text, not the choice of speaker or floor
                self.texts.append(request.prompt.text)
            return await original(request, cancel, on_text)

        engine.complete = complete  # type: ignore[method-assign]

    def of(self, speaker: str) -> list[str]:
        """The prompts `speaker`'s turns were generated from, oldest first."""
        return [text for text in self.texts if text.rstrip().endswith(f"{speaker}:")]


@pytest_asyncio.fixture(loop_scope="module")
async def prompts(running: Running) -> AsyncIterator[Prompts]:
    engine = running.core.engine
    original = engine.complete
    yield Prompts(running)
    engine.complete = original  # type: ignore[method-assign]


async def _table(running: Running, name: str) -> int:
    """A channel where the GM cast Marta and Rook (manual replies) and Alice plays Ayla."""
    alice = running.fake.player_ids[0]
    npcs = (Npc("Marta"), Npc("Rook"))
    chan = await cast_scene(running, name, npcs, reply_mode="manual", max_replies=1)
    if "Ayla" not in (await _as(running, alice, chan, "character", "list"))["content"]:
        made = await _as(running, alice, chan, "character", "create", sheet=AYLA_SHEET)
        assert "Ayla" in made["content"], made["content"]
    await _as(running, alice, chan, "character", "use", name="Ayla")
    return chan


async def _as(
    running: Running, user: int, chan: int, group: str, sub: str | None = None, **options: Any
) -> dict[str, Any]:
    """`user` runs a slash command (`group`, or `group sub`) in `chan`; the bot's final answer."""
    return await command(
        running.fake, group, sub, user_id=user, channel_id=chan, options=options or None
    )


async def _reply_as(running: Running, chan: int, npc: str) -> str:
    """A player asks `npc` to answer now; its public turn's text."""
    await _as(running, running.fake.player_ids[0], chan, "reply", **{"as": npc})
    await running.idle()
    last = (await running.turns(chan))[-1]
    assert last.speaker == npc
    return last.content


async def test_a_whisper_is_answered_privately_and_the_other_npc_never_hears_it(
    running: Running, prompts: Prompts
) -> None:
    fake, alice = running.fake, running.fake.player_ids[0]
    chan = await _table(running, "whisper")
    await player_says(running, chan, alice, "Evening, both of you.")
    since = len(fake.messages)

    handle = await fake.slash(
        "whisper", user_id=alice, channel_id=chan, options={"npc": "Marta", "text": SECRET}
    )
    heard = await answer_of(fake, handle)
    assert is_ephemeral(heard)
    assert heard["content"] == f"*Ayla whispers to **Marta**:* {SECRET}"
    answered = await handle.followup(MODEL_TIMEOUT)
    assert is_ephemeral(answered)
    assert answered["content"].startswith("**Marta** *(only you hear this)*: ")
    await running.idle()
    assert npc_posts(fake, chan, since) == [], "nothing of the whisper reaches the channel"
    private = (await running.turns(chan))[-1]
    assert private.speaker == "Marta" and private.content in answered["content"]
    assert SECRET in prompts.of("Marta")[-1], "Marta answers from what she heard"

    await _reply_as(running, chan, "Rook")
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Rook"]
    rook = prompts.of("Rook")[-1]
    assert "Evening, both of you." in rook
    assert SECRET not in rook and f"Marta: {private.content}" not in rook


async def test_an_npc_brought_back_did_not_witness_what_happened_while_it_was_out(
    running: Running, prompts: Prompts
) -> None:
    alice, gm = running.fake.player_ids[0], running.fake.admin_id
    chan = await _table(running, "away")
    await player_says(running, chan, alice, "Rook, keep an eye on the door.")
    removed = await _as(running, gm, chan, "scene", "remove", npc="Rook")
    assert "left the scene" in removed["content"]

    await player_says(running, chan, alice, AWAY_NEWS)
    marta_said = await _reply_as(running, chan, "Marta")
    added = await _as(running, gm, chan, "scene", "add", npc="Rook")
    assert "joined the scene" in added["content"]

    shown = await _as(running, gm, chan, "scene", "prompt", **{"as": "Rook"})
    assert is_ephemeral(shown) and shown["content"].startswith("Rook's next prompt: ")
    await _reply_as(running, chan, "Rook")
    for rook in (attachment_text(shown)[1], prompts.of("Rook")[-1]):
        assert "Rook, keep an eye on the door." in rook, "it keeps what it witnessed"
        assert AWAY_NEWS not in rook and f"Marta: {marta_said}" not in rook


async def test_tells_presence_status_and_export(running: Running) -> None:
    fake, gm = running.fake, running.fake.admin_id
    alice, bob = fake.player_ids[0], fake.player_ids[1]
    chan = await _table(running, "tells")

    told = await _as(running, gm, chan, "npc", "tell", npc="Marta", text="Rook is a spy.")
    assert is_ephemeral(told) and told["content"] == "Told **Marta** alone. No one else knows it."
    refused = await _as(running, alice, chan, "npc", "tell", npc="Marta", text="Hi.")
    assert is_ephemeral(refused) and refused["content"].startswith("Only a GM can do that")

    for user, npc, error in (
        (alice, "Nobody", "Nobody is not in this scene's cast."),
        (alice, "Ayla", "You cannot whisper to yourself."),
        (bob, "Marta", "You have no character in this scene: create one or /character use."),
    ):
        answered = await _as(running, user, chan, "whisper", npc=npc, text="Psst.")
        assert is_ephemeral(answered) and answered["content"] == error

    left = await _as(running, alice, chan, "scene", "leave")
    assert not is_ephemeral(left) and left["content"].startswith("**Ayla** leaves the scene")
    away = await _as(running, alice, chan, "whisper", npc="Marta", text="Psst.")
    assert away["content"] == "Ayla is away: /scene enter first."
    who = await _as(running, bob, chan, "scene", "who")
    assert who["content"] == "**NPCs** Marta, Rook\n**Players here** nobody\n**Away** Ayla"
    status = await _as(running, gm, chan, "scene", "status")
    assert "**Players** Ayla (away)" in status["content"]
    assert "**Secrets** 0 whispers · 1 tell" in status["content"]
    not_bound = await _as(running, bob, chan, "scene", "leave")
    assert is_ephemeral(not_bound) and "\n" not in not_bound["content"]
    entered = await _as(running, alice, chan, "scene", "enter")
    assert entered["content"] == "**Ayla** enters the scene."

    await _as(running, alice, chan, "whisper", npc="Rook", text="Marta lies.")
    await running.idle()
    exported = await _as(running, gm, chan, "scene", "export")
    text = attachment_text(exported)[1]
    assert "GM (told to Marta): Rook is a spy." in text
    assert "Ayla (whisper to Rook): Marta lies." in text
    assert_no_pings_or_tracebacks(fake)
