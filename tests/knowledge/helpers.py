"""A table for the knowledge tests: a scene with NPCs, and Alice playing Ayla."""

from __future__ import annotations

from bot.channel.ports import IncomingMessage
from bot.knowledge.service import KnowledgeCommands
from bot.scenes.service import SceneCommands
from bot.store import Character, Turn
from tests.channel.helpers import ALICE, CHANNEL, GUILD, Tavern, gm


class Table:
    """The services of one test, with the scene's id and the characters at the table."""

    def __init__(self, tavern: Tavern, scene_id: int, npcs: dict[str, Character]) -> None:
        self.tavern = tavern
        self.scene_id = scene_id
        self.npcs = npcs
        self.ayla: Character | None = None
        self.heard: list[str] = []

    @property
    def knowledge(self) -> KnowledgeCommands:
        return self.tavern.services.get(KnowledgeCommands)

    @property
    def scenes(self) -> SceneCommands:
        return self.tavern.services.get(SceneCommands)

    async def hear(self, line: str) -> None:
        """What the whisperer is shown once the whisper is stored."""
        self.heard.append(line)

    async def turns(self) -> list[Turn]:
        """Every turn of the history, oldest first."""
        return [t async for t in self.tavern.stores.turns.iter_all(self.scene_id)]

    async def says(self, message_id: int, text: str) -> None:
        """Alice posts in the channel; returns once any round it started is done."""
        await self.tavern.services.play.on_message(
            IncomingMessage(
                message_id=message_id,
                channel_id=CHANNEL,
                guild_id=GUILD,
                author_id=ALICE,
                author_name="Alice",
                content=text,
            )
        )
        await self.tavern.services.sessions.wait_idle()


async def table(tavern: Tavern, *npcs: str, ayla: bool = True) -> Table:
    """The GM starts a scene in CHANNEL and casts `npcs` (no greetings); Alice plays Ayla."""
    stores = tavern.stores
    scenes = tavern.services.get(SceneCommands)
    await scenes.start(gm(), "group-inst")
    made = {}
    for name in npcs:
        made[name] = await stores.characters.create(
            guild_id=GUILD, kind="npc", name=name, sheet=f"**Character Name**: {name}"
        )
        await scenes.add_npc(gm(), name)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    found = Table(tavern, scene.id, made)
    if ayla:
        found.ayla = await stores.characters.create(
            guild_id=GUILD, kind="player", name="Ayla", sheet="A sailor.", owner_id=ALICE
        )
        await stores.scenes.bind_player(scene.id, ALICE, found.ayla.id)
    return found
