"""Scene files that say who saw what: whispers, entering and leaving, starting away, lore for some.

Parsing is checked at load (errors name the file and the line); loading goes into a real store,
whose witnesses and presence are read back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import (
    Presence,
    SceneFile,
    SceneFileError,
    Whisper,
    load_scene_file,
)
from bot.store import Character, Database, Stores, Turn

SCENE = """
format = "group-inst"

[[players]]
name = "Keri"
sheet = "A scout."

[[players]]
name = "Tam"
sheet = "A sailor."

[[npcs]]
name = "Marta"
sheet = "Harbormaster."
greeting = "Papers, please."

[[npcs]]
name = "Ivo"
sheet = "A courier."
greeting = "Ivo shakes the rain off."
present = false

[[turns]]
speaker = "Keri"
text = "The password is heron."

[[turns]]
speaker = "Keri"
to = "Marta"
text = "Meet me at the boathouse."

[[turns]]
leave = "Tam"

[[turns]]
speaker = "Marta"
text = "Tam is gone."

[[turns]]
enter = "Ivo"

[[turns]]
speaker = "Keri"
text = "Welcome, Ivo."

[[turns]]
leave = "Marta"

[[turns]]
speaker = "Narrator"
text = "The bell rings."
"""


def _file(tmp_path: Path, text: str = SCENE) -> Path:
    path = tmp_path / "harbor.toml"
    path.write_text(text)
    return path


def _header_line(text: str, header: str, index: int) -> int:
    """The line number of the `index`-th `header` line of `text`."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line == header]
    return lines[index]


def test_whispers_events_and_absent_npcs_are_read(tmp_path: Path) -> None:
    sf = load_scene_file(_file(tmp_path))
    assert sf.turns == (
        ("Keri", "The password is heron."),
        ("Keri", Whisper("Meet me at the boathouse.", "Marta")),
        ("Tam", Presence(enters=False)),
        ("Marta", "Tam is gone."),
        ("Ivo", Presence(enters=True)),
        ("Keri", "Welcome, Ivo."),
        ("Marta", Presence(enters=False)),
        ("Narrator", "The bell rings."),
    )
    assert sf.away == ("Ivo",)
    assert set(sf.away_at_end) == {"Tam", "Marta"}


def _turn(tmp_path: Path, table: str) -> Path:
    """The scene with one more `[[turns]]` entry at the end (the file's ninth, turns[8])."""
    return _file(tmp_path, SCENE + f"\n[[turns]]\n{table}\n")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('enter = "Nobody"', "Nobody is not in [[players]] or [[npcs]], so cannot enter or leave"),
        ('leave = "nobody"', "nobody is not in [[players]] or [[npcs]]"),
        ('enter = "Ivo"', "Ivo is already in the scene"),
        ('enter = "keri"', "keri is already in the scene"),
        ('leave = "Tam"', "Tam has already left the scene"),
        ('leave = "Marta"', "Marta has already left the scene"),
        ('speaker = "Ivo"\nto = "Ivo"\ntext = "Psst."', "only a player character whispers"),
        ('speaker = "Narrator"\nto = "Ivo"\ntext = "Psst."', "Narrator is not in [[players]]"),
        ('speaker = "Keri"\nto = "Tam"\ntext = "Psst."', "a whisper goes to an NPC"),
        ('speaker = "Keri"\nto = "Marta"\ntext = "Psst."', "Marta is not in the scene at this"),
        ('speaker = "Tam"\nto = "Ivo"\ntext = "Psst."', "Tam is not in the scene at this point"),
        ('speaker = "Keri"\nto = "Ivo"\nroll = "1d20"', "to goes with text"),
        ('speaker = "Keri"\nto = 3\ntext = "Psst."', "a name must be text"),
        ('speaker = "Keri"\nto = "Iv:o"\ntext = "Psst."', "Names cannot contain ':'"),
        (
            'enter = "Tam"\nspeaker = "Tam"',
            "an event is { enter = NAME } or { leave = NAME } alone",
        ),
        ('enter = "Tam"\nleave = "Keri"', "alone"),
        ("enter = 3", "a name must be text"),
        ('speaker = "Keri"', "needs speaker and either text or roll, or is { enter = NAME }"),
    ],
)
def test_a_bad_entry_names_the_file_and_its_line(tmp_path: Path, table: str, says: str) -> None:
    path = _turn(tmp_path, table)
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    line = _header_line(path.read_text(), "[[turns]]", 8)
    assert str(caught.value).startswith(f"{path}:{line} turns[8]: ")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_character_may_enter_again_and_leave_again(tmp_path: Path) -> None:
    path = _turn(tmp_path, 'enter = "Tam"\n\n[[turns]]\nleave = "TAM"')
    assert load_scene_file(path).away_at_end == ("Tam", "Marta")


def test_a_player_may_start_away(tmp_path: Path) -> None:
    text = SCENE.replace('sheet = "A sailor."', 'sheet = "A sailor."\npresent = false')
    path = _file(tmp_path, text)
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    line = _header_line(text, "[[turns]]", 2)
    assert str(caught.value) == f"{path}:{line} turns[2]: Tam has already left the scene"
    sf = load_scene_file(_file(tmp_path, text.replace('leave = "Tam"', 'enter = "Tam"')))
    assert sf.away == ("Tam", "Ivo") and sf.away_at_end == ("Marta",)


@pytest.mark.parametrize("table", ["npcs", "players"])
def test_present_must_be_true_or_false(tmp_path: Path, table: str) -> None:
    text = SCENE.replace(f"[[{table}]]\n", f'[[{table}]]\npresent = "no"\n', 1)
    path = _file(tmp_path, text)
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    assert str(caught.value) == f"{path} {table}[0]: present must be true or false"


def test_without_a_header_per_entry_the_error_names_the_entry_alone(tmp_path: Path) -> None:
    inline = SCENE.split("[[turns]]")[0].replace(
        'format = "group-inst"', 'format = "group-inst"\nturns = [{ enter = "Nobody" }]'
    )
    path = _file(tmp_path, inline)
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    assert str(caught.value).startswith(f"{path} turns[0]: Nobody is not in")
    # A header inside a text would put every line after it out by one: no line then either.
    quoted = SCENE.replace('"The password is heron."', '"""The password is\n[[turns]]\n"""')
    path = tmp_path / "quoted.toml"
    path.write_text(quoted + '\n[[turns]]\nenter = "Nobody"\n')
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    assert str(caught.value).startswith(f"{path} turns[8]: Nobody is not in")


LORE = """
[[lore]]
keys = ["boathouse"]
content = "The boathouse floods at high tide."
characters = {characters}
"""


@pytest.mark.parametrize(
    ("characters", "names", "exclude"),
    [
        ('["Marta", "keri"]', ("Marta", "keri"), False),
        ('["!Ivo"]', ("Ivo",), True),
        ('["!Ivo", "!Tam"]', ("Ivo", "Tam"), True),
        ('"Marta, Keri"', ("Marta", "Keri"), False),
    ],
)
def test_lore_may_be_limited_to_characters(
    tmp_path: Path, characters: str, names: tuple[str, ...], exclude: bool
) -> None:
    sf = load_scene_file(_file(tmp_path, SCENE + LORE.format(characters=characters)))
    [entry] = sf.lorebooks[-1].entries
    limit = entry.characters
    assert limit is not None and (limit.names, limit.exclude) == (names, exclude)
    assert limit.admits("Marta") == (("Marta" in names) != exclude)


def test_lore_for_no_one_listed_is_for_everyone(tmp_path: Path) -> None:
    sf = load_scene_file(_file(tmp_path, SCENE + LORE.format(characters="[]")))
    assert sf.lorebooks[-1].entries[0].characters is None


@pytest.mark.parametrize(
    ("characters", "says"),
    [
        ('["Marta", "Bosun"]', "characters names Bosun, who is not in [[players]] or [[npcs]]"),
        ('"Marta, Bosun"', "characters names Bosun, who is not in"),
        ("3", "characters must be a list of names"),
        ("[1]", "characters must be a list of names"),
        ('["Marta", "!Ivo"]', "Put ! once, before the first name"),
        ('["!"]', "A ! needs a character's name after it."),
    ],
)
def test_bad_lore_characters_name_the_file_and_line(
    tmp_path: Path, characters: str, says: str
) -> None:
    text = SCENE + LORE.format(characters=characters)
    path = _file(tmp_path, text)
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    line = _header_line(text, "[[lore]]", 0)
    assert str(caught.value).startswith(f"{path}:{line} lore[0]: ")
    assert says in str(caught.value)


async def _loaded(stores: Stores, sf: SceneFile) -> tuple[int, dict[str, Character], list[Turn]]:
    scene, players = await import_scene_file(stores, sf, "group-inst")
    people = {c.name: c for _, c in players}
    for name in ("Marta", "Ivo"):
        npc = await stores.characters.find_npc(0, name)
        assert npc is not None
        people[name] = npc
    return scene.id, people, [t async for t in stores.turns.iter_all(scene.id)]


async def test_loading_records_who_witnessed_each_turn(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    scene, people, turns = await _loaded(stores, load_scene_file(_file(tmp_path)))
    keri, tam, marta, ivo = (people[n].id for n in ("Keri", "Tam", "Marta", "Ivo"))
    assert [(t.speaker, t.content, t.kind) for t in turns] == [
        ("Marta", "Papers, please.", "post"),  # Ivo starts away: no greeting yet
        ("Keri", "The password is heron.", "post"),
        ("Keri", "Meet me at the boathouse.", "whisper"),
        ("Marta", "Tam is gone.", "post"),
        ("Ivo", "Ivo shakes the rain off.", "post"),  # greets as it enters
        ("Keri", "Welcome, Ivo.", "post"),
        ("Narrator", "The bell rings.", "post"),
    ]
    seen = await stores.turns.witnesses([t.id for t in turns])
    assert [seen[t.id] for t in turns] == [
        {keri, tam, marta},
        {keri, tam, marta},
        {keri, marta},  # the whisper: Tam, in the room, did not hear it
        {keri, marta},  # Tam has left
        {keri, marta, ivo},
        {keri, marta, ivo},
        {keri, ivo},  # Marta has left
    ]
    whisper = turns[2]
    assert (whisper.role, whisper.character_id, whisper.author_id) == ("user", keri, 1)
    assert [c.id for c in await stores.scenes.cast(scene)] == [ivo]
    assert [c.id for _, c in await stores.scenes.players(scene, present_only=True)] == [keri]


async def test_a_resumed_scene_keeps_who_is_present(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    path = _file(tmp_path)
    scene, _, turns = await _loaded(stores, load_scene_file(path))
    # Someone came back during play; the file, loaded again, stores nothing and moves no one.
    await stores.scenes.set_present(scene, 2, True)
    again, _, after = await _loaded(stores, load_scene_file(path))
    assert again == scene and [t.id for t in after] == [t.id for t in turns]
    assert [c.name for c in await stores.scenes.cast(scene)] == ["Ivo"]  # Marta left
    present = await stores.scenes.players(scene, present_only=True)
    assert [c.name for _, c in present] == ["Keri", "Tam"]


async def test_an_npc_that_never_enters_is_not_in_the_cast(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    text = SCENE.split("[[turns]]")[0]
    scene, _, turns = await _loaded(stores, load_scene_file(_file(tmp_path, text)))
    assert [c.name for c in await stores.scenes.cast(scene)] == ["Marta"]
    assert [t.speaker for t in turns] == ["Marta"]  # and it never greeted


async def test_a_scene_with_no_turns_yet_starts_over_from_the_file(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    quiet = SCENE.split("[[turns]]")[0].replace('greeting = "Papers, please."', "")
    quiet = quiet.replace('greeting = "Ivo shakes the rain off."', "").replace(
        "present = false", ""
    )
    path = _file(tmp_path, quiet)
    scene, _, turns = await _loaded(stores, load_scene_file(path))
    assert turns == [] and len(await stores.scenes.cast(scene)) == 2
    path.write_text(quiet.replace('sheet = "A courier."', 'sheet = "A courier."\npresent = false'))
    await _loaded(stores, load_scene_file(path))
    assert [c.name for c in await stores.scenes.cast(scene)] == ["Marta"]


async def test_summary_through_counts_events_and_an_entrance_greeting(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    text = SCENE.replace(
        'format = "group-inst"', 'summary = "Keri met Marta."\nsummary_through = 5'
    )
    scene, _, turns = await _loaded(stores, load_scene_file(_file(tmp_path, text)))
    summary = await stores.summaries.get(scene)
    assert summary is not None
    # The first five entries end with Ivo entering, which stored its greeting.
    assert summary.through == turns[4].seq and turns[4].content == "Ivo shakes the rain off."


async def test_a_player_who_starts_away_witnesses_from_their_entrance(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    text = SCENE.replace('sheet = "A sailor."', 'sheet = "A sailor."\npresent = false')
    text = text.replace('leave = "Tam"', 'enter = "Tam"')
    scene, people, turns = await _loaded(stores, load_scene_file(_file(tmp_path, text)))
    tam = people["Tam"].id
    seen = await stores.turns.witnesses([t.id for t in turns])
    assert [tam in seen[t.id] for t in turns] == [False, False, False, True, True, True, True]
    present = await stores.scenes.players(scene, present_only=True)
    assert [c.name for _, c in present] == ["Keri", "Tam"]


async def test_an_npc_greets_once_at_its_first_entrance(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    text = SCENE + '\n[[turns]]\nleave = "Ivo"\n\n[[turns]]\nenter = "Ivo"\n'
    scene, _, turns = await _loaded(stores, load_scene_file(_file(tmp_path, text)))
    assert [t.speaker for t in turns].count("Ivo") == 1
    assert [c.name for c in await stores.scenes.cast(scene)] == ["Ivo"]
