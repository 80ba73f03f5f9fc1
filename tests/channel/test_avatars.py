"""Expired Discord attachment links are refreshed before a post, and the fresh link kept."""

from __future__ import annotations

import pytest

from bot.channel.avatars import link_expired
from bot.channel.publisher import TurnPublisher
from bot.store import Database, Stores
from tests.channel.helpers import CHANNEL, GUILD, RecordingPoster

NOW = 1_800_000_000
CDN = "https://cdn.discordapp.com/attachments/1/2/quill.png"


def _link(expiry: int) -> str:
    return f"{CDN}?ex={expiry:x}&is={NOW - 86400:x}&hm=abc&"


def test_link_expired() -> None:
    assert link_expired(_link(NOW - 1), NOW)
    assert link_expired(_link(NOW + 60), NOW)  # about to expire: refreshed early
    assert not link_expired(_link(NOW + 86400), NOW)
    assert link_expired(CDN, NOW)  # unsigned attachment links no longer load at all
    assert not link_expired("https://example.org/avatars/quill.png?ex=1", NOW)
    assert not link_expired("https://example.org/attachments/x/y/z.png", NOW)


class FailingRefresh(RecordingPoster):
    async def refresh_links(self, urls: object) -> dict[str, str]:
        raise RuntimeError("Discord is down")


@pytest.mark.parametrize("poster_type", [RecordingPoster, FailingRefresh], ids=["ok", "fails"])
async def test_publisher_refreshes_an_expired_avatar_once(
    db: Database, poster_type: type[RecordingPoster]
) -> None:
    poster = poster_type()
    stores = Stores.over(db)
    npc = await stores.characters.create(
        guild_id=GUILD, kind="npc", name="Quill", sheet="s", avatar_url=_link(1)
    )
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    turn = await stores.turns.append(
        scene.id, role="model", speaker="Quill", content="Hm.", character_id=npc.id
    )
    used = await TurnPublisher(stores, poster).avatar(turn)
    stored = (await stores.characters.get(npc.id)).avatar_url
    if isinstance(poster, FailingRefresh):
        assert used == stored == _link(1)  # the old link still posts; nothing is lost
    else:
        assert poster.refreshed == [_link(1)]
        assert used == stored != _link(1)
        assert not link_expired(used or "", NOW)
