"""The example scene for the table's-rhythm tests: a scripted engine, a real store, voices."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.director import SceneView, TurnDirector
from bot.domain import Voice
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Scene, Stores
from tests.scripted_engine import ScriptedEngine, request_kind

SEED = 11


@dataclass
class Table:
    """The example scene (Marta Vell, Old Tobin, Sergeant Hale; Rook and Ilse play)."""

    stores: Stores
    views: SceneViews
    director: TurnDirector
    scene: Scene
    engine: ScriptedEngine

    async def view(self, *muted: str, **voices: Voice) -> SceneView:
        """The scene's view with `muted` NPCs muted and `voices` (by first name) set."""
        view = await self.views.view(self.scene)
        npcs = tuple(
            replace(
                m,
                muted=m.muted or m.name in muted,
                voice=voices.get(m.name.split()[0].lower(), m.voice),
            )
            for m in view.npcs
        )
        return replace(view, npcs=npcs)

    async def post(self, text: str) -> None:
        """A player's post (Ilse's), as the channel stores one."""
        await self.stores.turns.append(self.scene.id, role="user", speaker="Ilse", content=text)


async def table(
    db: Database, engine: ScriptedEngine, *, max_replies: int = 3, fmt: str = "group-inst"
) -> Table:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    scene = await stores.scenes.update(scene.id, max_replies=max_replies, format=fmt)
    views = SceneViews(stores, Sampler(seed=SEED))
    return Table(stores, views, TurnDirector(engine, stores.turns), scene, engine)


def kinds(engine: ScriptedEngine) -> list[str]:
    """The kinds of the requests the engine was asked, in order."""
    return [request_kind(r) for r in engine.requests]
