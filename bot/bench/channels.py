"""Bench scenes: the example's cast in fresh channels, with seeded history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.bench.storage import TurnRow, insert_turns
from bot.bench.text import FillerText
from bot.core import Core
from bot.director import SceneView
from bot.domain import PromptTurn, Sampler
from bot.prompts import Prompt
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.store import Character, Scene

CHANNEL_BASE = 4_100_000_000  # pseudo channel ids for the bench's extra scenes


@dataclass
class Channel:
    """A bench scene, its view and whose turn it is."""

    scene: Scene
    view: SceneView
    players: list[tuple[int, Character]]
    npcs: list[Character]
    filler: FillerText
    rounds: int = 0

    @property
    def key(self) -> str:
        return self.view.channel_key

    def npc(self) -> Character:
        return self.npcs[self.rounds % len(self.npcs)]

    def player(self) -> tuple[int, Character]:
        return self.players[self.rounds % len(self.players)]


class BenchChannels:
    """Makes bench channels over one core; any engine counts their tokens."""

    def __init__(
        self,
        core: Core,
        sampler: Sampler,
        count_many: Callable[[list[Prompt]], Awaitable[list[int]]],
    ) -> None:
        self.core = core
        self.sampler = sampler
        self.count_many = count_many
        self._template: tuple[Scene, list[tuple[int, Character]], list[Character]] | None = None
        self._channels = 0

    async def new_channel(self, seed: int, history_tokens: int = 0) -> Channel:
        """A scene with the example's cast and about `history_tokens` of seeded history."""
        stores = self.core.stores
        if self._template is None:
            # These figures measure the lore-free path; bench/lore.py measures lore on its own.
            scene_file = replace(load_scene_file(EXAMPLE_SCENE), lorebooks=())
            scene, players = await import_scene_file(
                stores, scene_file, self.core.settings.default_format
            )
            self._template = (scene, players, await stores.scenes.cast(scene.id))
        else:
            template, players, npcs = self._template
            self._channels += 1
            scene = await stores.scenes.start(
                guild_id=template.guild_id,
                channel_id=CHANNEL_BASE + self._channels,
                format=template.format,
            )
            scene = await stores.scenes.update(
                scene.id, scenario=template.scenario, length=template.length
            )
            for npc in npcs:
                await stores.scenes.add_cast(scene.id, npc.id)
            for owner, character in players:
                await stores.scenes.bind_player(scene.id, owner, character.id)
        _, players, npcs = self._template
        view = replace(await self.core.views.view(scene), sampler=self.sampler, max_replies=1)
        channel = Channel(scene, view, list(players), list(npcs), FillerText(seed))
        if history_tokens > 0:
            await self.seed_history(channel, history_tokens)
        return channel

    async def seed_history(self, channel: Channel, target: int) -> int:
        """About `target` tokens of alternating player and NPC filler turns."""
        fmt = channel.view.fmt
        rows: list[TurnRow] = []
        total = 0
        while total < target:
            batch: list[TurnRow] = []
            for i in range(16):
                owner, player = channel.players[(len(rows) + i) % len(channel.players)]
                npc = channel.npcs[(len(rows) + i) % len(channel.npcs)]
                if i % 2:
                    text = channel.filler.line(npc.name)
                    batch.append(TurnRow("model", npc.name, text, npc.id))
                else:
                    text = channel.filler.line(player.name)
                    batch.append(TurnRow("user", player.name, text, player.id, owner))
            blocks = [fmt.turn_block(PromptTurn(r.role, r.speaker, r.content)) for r in batch]
            for row, n in zip(batch, await self.count_many(blocks), strict=True):
                if total >= target:
                    break
                rows.append(row)
                total += n
        await insert_turns(self.core.db, channel.scene.id, rows)
        return total

    async def say(self, channel: Channel) -> None:
        """A new player message."""
        owner, player = channel.player()
        await self.core.stores.turns.append(
            channel.scene.id,
            role="user",
            speaker=player.name,
            content=channel.filler.short(player.name),
            character_id=player.id,
            author_id=owner,
        )
