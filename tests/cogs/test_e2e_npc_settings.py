"""End to end: /npc settings through the real discord.py client and the fake Discord.

The scripted engine stands in for the model (no generation is checked here). BACKENDS names a
server that is down, as an admin's typo or a stopped server would: the bot starts anyway and
/npc settings says that NPC speaks through the default engine.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from bot.characters.voice import voice_from_json
from bot.domain import Voice
from tests.e2e import (
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    attachment_text,
    command,
    create_npc,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    start_bot,
    stop_bot,
)
from tests.scripted_engine import ScriptedEngine


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_gm_gives_an_npc_its_own_voice(tmp_path: Path) -> None:
    backends = {"narrator": {"backend": "llama-server", "url": _closed_port_url()}}
    async for fake in fake_discord():
        settings = e2e_settings(fake, tmp_path / "b.db", backends=json.dumps(backends))
        running = await start_bot(fake, settings, engine=ScriptedEngine())
        try:
            await _settings(running)
        finally:
            await stop_bot(running)


async def _settings(running: Running) -> None:
    fake = running.fake
    gm, alice, chan = fake.admin_id, fake.player_ids[0], await fake.open_channel("voices")
    await create_npc(fake, Npc("Marta"), channel_id=chan)
    options = {o["name"]: o for o in _subcommand(fake.commands["npc"], "settings")["options"]}
    assert list(options) == [
        "npc",
        "temperature",
        "min_p",
        "max_tokens",
        "length",
        "talkativeness",
        "backend",
        "reset",
    ]
    assert [c["value"] for c in options["length"]["choices"]][:3] == ["micro", "tiny", "short"]

    async def settings(user: int = gm, **given: object) -> dict[str, object]:
        options = {"npc": "Marta", **given}
        answer = await command(
            fake, "npc", "settings", user_id=user, channel_id=chan, options=options
        )
        assert is_ephemeral(answer)
        return answer

    shown = await settings()
    assert str(shown["content"]).startswith("**Marta**'s voice: the scene's settings.")
    assert "backend: narrator" in str(shown["content"])

    changed = await settings(temperature=1.1, talkativeness=20, length="short", backend="narrator")
    assert changed["content"] == (
        "**Marta**'s voice is now: temperature 1.1, length short, talkativeness 20, "
        "backend narrator (down at start: the default engine speaks for it)."
    )
    marta = await running.core.stores.characters.find_npc(fake.guild_id, "Marta")
    assert marta is not None
    assert voice_from_json(marta.voice) == Voice(1.1, None, None, "short", 20, "narrator")

    for given, start in (
        ({"max_tokens": 5000}, "max_tokens must be from 1 to 2048 (not 5000)."),
        ({"backend": "elsewhere"}, "backend 'elsewhere' is not a named backend here (narrator)."),
    ):
        refused = await settings(**given)
        assert refused["content"] == start
    refused = await settings(alice, temperature=0.2)
    assert "Only a GM" in str(refused["content"]) and "\n" not in str(refused["content"])

    choices = await fake.autocomplete(
        "npc", subcommand="settings", user_id=gm, channel_id=chan, focused="backend", value=""
    )
    assert [c["value"] for c in choices] == ["default", "narrator"]

    reset = await settings(reset="temperature", backend="default")
    assert reset["content"] == "**Marta**'s voice is now: length short, talkativeness 20."
    exported = await command(
        fake, "npc", "export", user_id=gm, channel_id=chan, options={"name": "Marta"}
    )
    card = json.loads(attachment_text(exported)[1])
    assert card["data"]["extensions"]["talkativeness"] == "0.2"
    assert card["data"]["extensions"]["tavernkeep"] == {"voice": {"length": "short"}}
    assert_no_pings_or_tracebacks(fake)


def _subcommand(group: dict[str, object], name: str) -> dict[str, object]:
    options = group["options"]
    assert isinstance(options, list)
    found = next(o for o in options if o["name"] == name)
    assert isinstance(found, dict)
    return found
