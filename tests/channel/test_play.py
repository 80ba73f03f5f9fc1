"""The channel loop with a scripted engine: who triggers rounds, and what gets stored."""

from __future__ import annotations

from bot.channel.ports import IncomingMessage, PartSent
from bot.channel.services import Services
from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from tests.channel.helpers import CHANNEL, GUILD, OWN_HOOK, RecordingPoster
from tests.scripted_engine import ScriptedEngine

HUMAN = 100
PROXY_HOOK = 901


def said(poster: RecordingPoster) -> list[tuple[str, str]]:
    """(speaker, text) of every post, then every notice as ("notice", text)."""
    return [(p[1], p[3]) for p in poster.posts] + [("notice", n) for n in poster.notices]


async def _service(
    db: Database, poster: RecordingPoster | None = None
) -> tuple[Services, RecordingPoster, Stores]:
    stores = Stores.over(db)
    npc = await stores.characters.create(
        guild_id=GUILD, kind="npc", name="Marta", sheet="**Character Name**: Marta"
    )
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="group-inst")
    await stores.scenes.add_cast(scene.id, npc.id)
    return await _service_again(db, poster)


async def _service_again(
    db: Database, poster: RecordingPoster | None = None
) -> tuple[Services, RecordingPoster, Stores]:
    """The services over an existing database, as after a restart."""
    stores = Stores.over(db)
    engine = ScriptedEngine(texts=[f"Reply {i}." for i in range(10)])
    poster = poster or RecordingPoster()
    settings = load_settings(quiet_seconds=0, reply_cooldown_seconds=0)
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    return core.services(poster), poster, stores


def _message(
    mid: int, text: str, *, webhook: int | None = None, bot: bool = False
) -> IncomingMessage:
    return IncomingMessage(
        message_id=mid,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=HUMAN if webhook is None else mid,
        author_name="Pip" if webhook else "Alice",
        content=text,
        author_is_bot=bot or webhook is not None,
        webhook_id=webhook,
    )


async def test_proxy_posts_need_a_human_since_the_last_round(db: Database) -> None:
    tavern, poster, stores = await _service(db)
    await tavern.play.on_message(_message(1, "Pip waves.", webhook=PROXY_HOOK))
    await tavern.sessions.wait_idle()
    assert tavern.sessions.rounds_started == 0  # stored, but no human has spoken
    assert (await stores.turns.by_message_id(1)).speaker == "Pip"

    await tavern.play.on_message(_message(2, "Hello Marta."))
    await tavern.sessions.wait_idle()
    assert tavern.sessions.rounds_started == 1 and said(poster) == [("Marta", "Reply 0.")]

    # Another bot answering through its webhook cannot start a new round on its own.
    await tavern.play.on_message(_message(3, "Bot chatter.", webhook=PROXY_HOOK))
    await tavern.sessions.wait_idle()
    assert tavern.sessions.rounds_started == 1


async def test_own_webhook_and_other_bots_are_ignored(db: Database) -> None:
    tavern, _, stores = await _service(db)
    await tavern.play.on_message(_message(1, "Echo of an NPC.", webhook=OWN_HOOK))
    await tavern.play.on_message(_message(2, "I am a bot.", bot=True))
    await tavern.sessions.wait_idle()
    assert await stores.turns.by_message_id(1) is None
    assert await stores.turns.by_message_id(2) is None
    assert tavern.sessions.rounds_started == 0


async def test_deleting_one_part_of_a_long_turn_keeps_the_turn(db: Database) -> None:
    tavern, _, stores = await _service(db)
    scene = await stores.scenes.by_channel(CHANNEL)
    turn = await stores.turns.append(
        scene.id, role="model", speaker="Marta", content="Long.", message_ids=[71, 72]
    )
    await tavern.play.on_delete([72])  # e.g. a swipe made the turn shorter
    kept = await stores.turns.get(turn.id)
    assert not kept.deleted and kept.message_ids == [71]
    await tavern.play.on_delete([71])
    assert (await stores.turns.get(turn.id)).deleted


class FailingPoster(RecordingPoster):
    """Discord refuses every post."""

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        raise RuntimeError("webhook gone")


async def test_a_turn_that_could_not_be_posted_leaves_the_history(db: Database) -> None:
    failing = FailingPoster()
    tavern, _, stores = await _service(db, failing)
    await tavern.play.on_message(_message(1, "Hello Marta."))
    await tavern.sessions.wait_idle()
    history = await stores.turns.window((await stores.scenes.by_channel(CHANNEL)).id, 10)
    assert [t.content for t in history] == ["Hello Marta."]  # the NPC turn was hidden
    assert said(failing) == [("notice", "The NPCs could not answer; the log has details.")]


async def test_after_a_restart_the_old_buttons_are_taken_off(db: Database) -> None:
    _, _, stores = await _service(db)
    scene = await stores.scenes.by_channel(CHANNEL)
    # Left by the previous run of the bot: an NPC message that still carries buttons.
    await stores.turns.append(
        scene.id, role="model", speaker="Marta", content="Earlier.", message_ids=[4242]
    )
    tavern, poster, _ = await _service_again(db)
    await tavern.play.on_message(_message(1, "Hello again."))
    await tavern.sessions.wait_idle()
    assert said(poster) == [("Marta", "Reply 0.")]  # posted as message 5001
    assert poster.controls[0] == (4242, None)
    assert poster.controls[1][0] == 5001 and poster.controls[1][1] is not None
