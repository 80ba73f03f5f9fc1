"""Scene files that give NPCs their own voice: parsed, checked, stored and read into the view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.characters.voice import VoiceRules
from bot.domain import Sampler, Voice
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import SceneFileError, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores

SCENE = """
[[players]]
name = "Keri"
sheet = "A scout."

[[npcs]]
name = "Marta"
sheet = "Harbormaster."
temperature = 1.2
min_p = 0.05
max_tokens = 150
length = "short"
talkativeness = 80
backend = "narrator"

[[npcs]]
name = "Ivo"
sheet = "A courier."
"""


def _write(folder: Path, text: str, name: str = "scene.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_the_file_gives_each_npc_its_voice(tmp_path: Path) -> None:
    sf = load_scene_file(_write(tmp_path, SCENE), VoiceRules(backends=("narrator",)))
    voices = {d.name: d.voice for d in sf.npcs}
    assert voices == {"Marta": Voice(1.2, 0.05, 150, "short", 80, "narrator"), "Ivo": None}
    assert all(p.voice is None for p in sf.players)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("temperature = 3.0", "temperature"),
        ('temperature = "warm"', "temperature"),
        ("min_p = 2", "min_p"),
        ("max_tokens = 0", "max_tokens"),
        ("max_tokens = 5000", "max_tokens"),
        ('length = "epic"', "length"),
        ("talkativeness = 101", "talkativeness"),
        ("talkativeness = 0.5", "talkativeness"),
        ('backend = "Big Server"', "backend"),
    ],
)
def test_a_bad_value_names_the_file_the_npc_and_the_field(
    tmp_path: Path, line: str, field: str
) -> None:
    text = f'[[npcs]]\nname = "Marta"\nsheet = "Harbormaster."\n\n[[npcs]]\nname = "Ivo"\n{line}\n'
    path = _write(tmp_path, text)
    with pytest.raises(SceneFileError) as refused:
        load_scene_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path} npcs[1] (Ivo): {field}"), message
    assert "\n" not in message


def test_an_unknown_backend_is_refused_only_where_the_backends_are_known(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENE)
    with pytest.raises(SceneFileError, match=r"npcs\[0\] \(Marta\): backend 'narrator' is not"):
        load_scene_file(path, VoiceRules(backends=("big",)))
    assert load_scene_file(path).npcs[0].voice is not None  # no settings: any name


def test_the_file_wins_over_its_cards_voice(tmp_path: Path) -> None:
    data = {
        "name": "Hale",
        "description": "A guard.",
        "extensions": {"talkativeness": "0.1", "tavernkeep": {"voice": {"min_p": 0.3}}},
    }
    (tmp_path / "hale.json").write_text(json.dumps({"spec": "chara_card_v2", "data": data}))
    text = '[[npcs]]\ncard = "hale.json"\ntalkativeness = 60\n'
    sf = load_scene_file(_write(tmp_path, text))
    assert sf.npcs[0].voice == Voice(min_p=0.3, talkativeness=60)


async def test_an_imported_file_stores_the_voices_and_the_view_reads_them(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    path = _write(tmp_path, SCENE)
    scene, _ = await import_scene_file(stores, load_scene_file(path), "chatml")
    view = await SceneViews(stores, Sampler()).view(await stores.scenes.get(scene.id))
    cast = {m.name: m.voice for m in view.npcs}
    assert cast == {"Marta": Voice(1.2, 0.05, 150, "short", 80, "narrator"), "Ivo": Voice()}
    marta = await stores.characters.find_npc(0, "Marta")
    assert marta is not None and marta.voice == {
        "temperature": 1.2,
        "min_p": 0.05,
        "max_tokens": 150,
        "length": "short",
        "talkativeness": 80,
        "backend": "narrator",
    }

    # The file is the whole truth of a file's NPC: a field taken out goes back to unset.
    _write(tmp_path, SCENE.replace("temperature = 1.2\n", "").replace('backend = "narrator"', ""))
    await import_scene_file(stores, load_scene_file(path), "chatml")
    view = await SceneViews(stores, Sampler()).view(await stores.scenes.get(scene.id))
    marta_now = view.npc("Marta")
    assert marta_now is not None
    assert marta_now.voice == Voice(None, 0.05, 150, "short", 80, None)
