"""A llama-server killed mid-round and started again on the same port, seen from a channel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.channel.ports import IncomingMessage
from bot.core import Core
from bot.director import TurnDirector
from bot.engine.base import CancelToken, Completion, GenerationRequest, Prompt, Sampler
from bot.engine.remote import RemoteEngine, RemoteOptions, connect_remote
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from tests.channel.helpers import CHANNEL, GUILD, RecordingPoster, within_guard
from tests.engine.remote.conftest import free_port, llama_server_argv, running

pytestmark = pytest.mark.model


class KillOnFirstText:
    """The real engine, but the server dies as soon as a reply starts streaming."""

    def __init__(self, engine: RemoteEngine) -> None:
        self.engine = engine
        self.kill: Callable[[], None] | None = None

    @property
    def n_ctx(self) -> int:
        return self.engine.n_ctx

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.engine.count_many(prompts)

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        def first_text(piece: str) -> None:
            if self.kill is not None and not request.choices:
                self.kill()
                self.kill = None
            if on_text is not None:
                on_text(piece)

        return await self.engine.complete(request, cancel, first_text)


def _message(mid: int, text: str) -> IncomingMessage:
    return IncomingMessage(
        message_id=mid,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=200,
        author_name="Alice",
        content=text,
        author_is_bot=False,
    )


async def test_a_server_killed_mid_round_gives_one_notice_and_serves_again_after_restart(
    db: Database, llama_server_binary: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = llama_server_argv(llama_server_binary, port)
    stores = Stores.over(db)
    npc = await stores.characters.create(
        guild_id=GUILD, kind="npc", name="Marta", sheet="**Character Name**: Marta"
    )
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    await stores.scenes.add_cast(scene.id, npc.id)
    poster = RecordingPoster()
    with running(argv, f"{url}/health", tmp_path / "first.log") as first:
        engine = await connect_remote(RemoteOptions(backend="llama-server", url=url))
        dying = KillOnFirstText(engine)
        views = SceneViews(stores, Sampler(seed=1, max_tokens=200))
        settings = load_settings(quiet_seconds=0, reply_cooldown_seconds=0)
        core = Core(settings, db, stores, engine, TurnDirector(dying, stores.turns), views)
        tavern = core.services(poster)
        dying.kill = first.kill
        await tavern.play.on_message(_message(1, "Marta, who cut the chain?"))
        await within_guard(tavern.sessions.wait_idle())
        first.wait()
    try:
        assert poster.posts == []
        assert len(poster.notices) == 1, poster.notices
        assert poster.notices[0].startswith("The model server ")
        assert "127.0.0.1" not in poster.notices[0]
        history = await stores.turns.window(scene.id, 10)
        assert [(t.role, t.content) for t in history] == [("user", "Marta, who cut the chain?")]

        with running(argv, f"{url}/health", tmp_path / "second.log"):
            await tavern.play.on_message(_message(2, "Anyone?"))
            await within_guard(tavern.sessions.wait_idle())
    finally:
        await engine.close()
    assert len(poster.notices) == 1 and poster.posts
    assert {p[1] for p in poster.posts} == {"Marta"}
    history = await stores.turns.window(scene.id, 10)
    assert [t.role for t in history] == ["user", "user"] + ["model"] * len(poster.posts)
    assert [t.content for t in history[2:]] == [p[3] for p in poster.posts]
