"""Entries limited to some characters (SillyTavern's character filter): who gets them, and caps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.director.budget import TokenCounter
from bot.director.lore import fired_lore
from bot.domain import LoreInsert, Sampler
from bot.lore import (
    CompiledBook,
    Lorebook,
    LoreConfig,
    LoreEntry,
    LoreError,
    LoreSource,
    activate_lore,
    load_lorebook,
)
from bot.lore.activation import scan_books
from bot.lore.character_filter import FILTER_NAME_MAX_CHARS, FILTER_NAMES_MAX, CharacterFilter
from bot.lore.limits import LoreLimits, check_book
from bot.lore.placement import LoreActivation
from bot.lore.report import describe_activation
from bot.lore.stable import LoreLayout
from bot.lore.tables import TableError, entry_from_table
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.lore.helpers import activate, book, fired, words
from tests.lore.hostile import BACKTRACKING_TURN, backtracking_key, compiled_traps

SECRET = {"keys": ["locket"], "content": "The locket hides a map.", "characters": ["Mara"]}
RUMOUR = {"keys": ["locket"], "content": "Mara stole the locket.", "characters": ["!Mara"]}
PLAIN = {"keys": ["locket"], "content": "A silver locket."}
TURNS = ["Rook: Where is the locket?"]


def _filtered(**fields: Any) -> LoreEntry:
    """An entry with a SillyTavern filter where a card entry keeps it."""
    only = {"isExclude": False, "names": ["Mara"], "tags": [], **fields}
    return LoreEntry(keys=("locket",), content="Filtered.", extras={"character_filter": only})


# -- who gets an entry ----------------------------------------------------------------------------


def test_an_include_filter_admits_only_its_characters_whatever_their_case() -> None:
    lore = book(SECRET, PLAIN)
    assert set(fired(lore, TURNS, speaker="Mara")) == {
        "The locket hides a map.",
        "A silver locket.",
    }
    assert set(fired(lore, TURNS, speaker="  MARA ")) == set(fired(lore, TURNS, speaker="Mara"))
    assert set(fired(lore, TURNS, speaker="Rook")) == {"A silver locket."}


def test_an_exclude_filter_keeps_the_entry_from_its_characters_only() -> None:
    lore = book(RUMOUR, PLAIN)
    assert set(fired(lore, TURNS, speaker="mara")) == {"A silver locket."}
    assert set(fired(lore, TURNS, speaker="Rook")) == {"Mara stole the locket.", "A silver locket."}


def test_with_no_speaker_include_filters_stay_out_and_exclude_filters_fire() -> None:
    lore = book(SECRET, RUMOUR, PLAIN)
    assert set(fired(lore, TURNS)) == {"Mara stole the locket.", "A silver locket."}


def test_a_filter_without_names_limits_nothing() -> None:
    for raw in ({"isExclude": True, "names": [], "tags": ["x"]}, {"names": ["  "]}):
        entry = LoreEntry(keys=("locket",), content="Open.", extras={"character_filter": raw})
        assert entry.characters is None
        assert fired(Lorebook(entries=(entry,)), TURNS) == {"Open.": 'key "locket"'}


def test_a_constant_entry_obeys_its_filter() -> None:
    lore = book({"content": "Mara's vow.", "constant": True, "characters": ["Mara"]})
    assert fired(lore, TURNS, speaker="Mara") == {"Mara's vow.": "constant"}
    assert fired(lore, TURNS, speaker="Rook") == {}


def test_a_filtered_entry_is_not_reached_through_another_entrys_content() -> None:
    lore = book(
        {"keys": ["locket"], "content": "The locket bears the abbey seal."},
        {"keys": ["abbey"], "content": "The abbey burned.", "characters": ["Mara"]},
    )
    assert "The abbey burned." in fired(lore, TURNS, speaker="Mara")
    assert set(fired(lore, TURNS, speaker="Rook")) == {"The locket bears the abbey seal."}


def test_a_filtered_entrys_content_makes_nothing_fire_for_others() -> None:
    lore = book(
        {"keys": ["locket"], "content": "The locket bears the abbey seal.", "characters": ["Mara"]},
        {"keys": ["abbey"], "content": "The abbey burned."},
    )
    assert "The abbey burned." in fired(lore, TURNS, speaker="Mara")
    assert fired(lore, TURNS, speaker="Rook") == {}


def test_a_filtered_entry_does_not_stay_in_others_prompts() -> None:
    lore = book({**SECRET, "sticky": 3})
    turns = [*TURNS, "Marta: Nothing.", "Rook: Later."]
    assert fired(lore, turns, LoreConfig(scan_depth=1), speaker="Mara") == {
        "The locket hides a map.": 'sticky: fired 2 turn(s) ago by key "locket"; 1 more turn(s)'
    }
    assert fired(lore, turns, LoreConfig(scan_depth=1), speaker="Rook") == {}


def test_a_filtered_cooldown_entry_is_not_replayed_into_others_prompts() -> None:
    lore = book({**SECRET, "sticky": 2, "cooldown": 2})
    turns = [*TURNS, "Marta: Nothing."]
    assert "The locket hides a map." in fired(lore, turns, LoreConfig(scan_depth=1), speaker="Mara")
    assert fired(lore, turns, LoreConfig(scan_depth=1), speaker="Rook") == {}


def test_a_filtered_entry_takes_no_place_in_its_inclusion_group() -> None:
    lore = book(
        {**SECRET, "group": "locket", "group_override": True, "order": 200},
        {**PLAIN, "group": "locket"},
    )
    assert set(fired(lore, TURNS, speaker="Mara")) == {"The locket hides a map."}
    assert set(fired(lore, TURNS, speaker="Rook")) == {"A silver locket."}


def test_a_filtered_entry_is_never_named_as_undecided_for_others() -> None:
    trap = backtracking_key(7)
    hidden = LoreEntry(
        keys=(trap,),
        content="Only the trap.",
        extras={"character_filter": {"isExclude": False, "names": ["Mara"]}},
    )
    traps = compiled_traps(2000, hidden)
    config = LoreConfig(scan_budget_ms=1000, book_budget_ms=40)
    turns = [BACKTRACKING_TURN, "Marta: the fog."]
    for_mara = scan_books([traps], turns, config, speaker="Mara")
    assert "Only the trap." in {u.entry.entry.content for u in for_mara.undecided}
    for_rook = scan_books([traps], turns, config, speaker="Rook")
    assert "Only the trap." not in {u.entry.entry.content for u in for_rook.undecided}


async def test_activation_knows_the_speaker_and_each_entrys_filter() -> None:
    lore = await activate([book(SECRET, PLAIN)], TURNS, speaker="Mara")
    assert lore.speaker == "Mara"
    only = {e.content: e.only for e in lore.fired}
    assert only["A silver locket."] is None
    assert only["The locket hides a map."] == CharacterFilter.of(["Mara"])
    # The GM's report of the prompt says whom an entry is limited to.
    report = describe_activation(lore)
    assert '  lorebook › locket (only for Mara): key "locket" [6 tokens]' in report
    assert '  lorebook › locket: key "locket" [4 tokens]' in report


# -- the cache-friendly layout --------------------------------------------------------------------


async def test_a_held_or_anchored_entry_goes_only_into_the_prompts_its_filter_admits() -> None:
    harbor = book({**SECRET, "position": "before_char"}, {**PLAIN, "position": "before_char"})
    sources = (LoreSource(CompiledBook(harbor), "Marta"),)

    async def fire(speaker: str | None, *turns: str) -> LoreActivation:
        """What fires after `turns` for `speaker`, with no stickiness."""
        return await activate_lore(
            sources,
            turns,
            user="Rook",
            config=LoreConfig(sticky=0),
            budget=1000,
            count_many=words,
            speaker=speaker,
        )

    layout = LoreLayout.fresh(sources, await fire("Mara", *TURNS))
    quiet = await fire("Rook", "Rook: Nothing.")
    following = layout.following(sources, quiet, last_seq=4)
    assert following is not None
    assert following.placed(quiet, [3, 4]).before == ("A silver locket.",)  # held, not the secret
    again = await fire("Mara", "Rook: Nothing.")
    assert following.placed(again, [3, 4]).before == ("The locket hides a map.", "A silver locket.")
    # Anchored after a turn (it began firing while the layout stood) the same holds.
    fresh = LoreLayout.fresh(sources, await fire("Mara", "Rook: Nothing."))
    anchored = fresh.following(sources, await fire("Mara", *TURNS), last_seq=5)
    assert anchored is not None and anchored.anchors
    assert anchored.placed(await fire("Rook", *TURNS), [5]).inserts == (
        LoreInsert(0, "system", "A silver locket."),
    )
    assert anchored.placed(await fire("Mara", *TURNS), [5]).inserts == (
        LoreInsert(0, "system", "The locket hides a map.\nA silver locket."),
    )


# -- the director's call --------------------------------------------------------------------------


async def test_fired_lore_passes_the_speaker_down(db: Database) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=10, format="chatml")
    stored = await stores.lore.save_book(1, book(SECRET, RUMOUR, name="Harbor"))
    await stores.lore.attach(scene.id, stored.id)
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="The locket?")
    view = await SceneViews(stores, Sampler(seed=1)).view(scene)
    newest = await stores.turns.lines(scene.id, 128)
    counter = TokenCounter(words)

    async def contents(speaker: str | None) -> set[str]:
        lore = await fired_lore(view, newest, 4000, counter, speaker=speaker)
        return {e.content for e in lore.fired}

    assert await contents("Mara") == {"The locket hides a map."}
    assert await contents("Rook") == {"Mara stole the locket."}
    assert await contents(None) == {"Mara stole the locket."}


# -- scene file tables ----------------------------------------------------------------------------


def test_a_lore_table_sets_characters_as_a_list_or_a_text() -> None:
    entry = entry_from_table({**PLAIN, "characters": ["Mara", "Rook"]})
    assert entry.extras == {
        "character_filter": {"isExclude": False, "names": ["Mara", "Rook"], "tags": []}
    }
    kept_from = entry_from_table({**PLAIN, "characters": "!Mara, Rook"}).characters
    assert kept_from is not None and (kept_from.names, kept_from.exclude) == (
        ("Mara", "Rook"),
        True,
    )
    assert entry_from_table({**PLAIN, "characters": []}).characters is None
    for bad, message in [
        (5, "characters must be a list of names"),
        (["Mara", 3], "characters must be a list of names"),
        (["Mara", "!Rook"], "Put ! once, before the first name"),
        (["!"], "A ! needs a character's name after it."),
    ]:
        with pytest.raises(TableError, match=message):
            entry_from_table({**PLAIN, "characters": bad})


# -- caps and shapes ------------------------------------------------------------------------------


def test_a_filter_past_its_caps_or_of_the_wrong_shape_is_refused_in_one_line() -> None:
    limits = LoreLimits(filter_names=2, filter_name_chars=5)
    within = Lorebook(entries=(_filtered(names=["Mara", "Rook"]),))
    assert check_book(within, limits) is within
    for entry, message in [
        (
            _filtered(names=["Mara", "Rook", "Ash"]),
            "That lorebook's entry 1 (locket) is limited to too many characters (3; "
            "the limit is 2).",
        ),
        (
            _filtered(names=["Marianne"]),
            "That lorebook's entry 1 (locket) names a character longer than 5 characters.",
        ),
        (
            _filtered(names="Mara"),
            "That lorebook's entry 1 (locket) has a character filter that has names that are not "
            "a list of text.",
        ),
        (
            _filtered(isExclude="yes"),
            "That lorebook's entry 1 (locket) has a character filter that has an isExclude that "
            "is not true or false.",
        ),
        (
            LoreEntry(keys=("locket",), content="F.", extras={"character_filter": ["Mara"]}),
            "That lorebook's entry 1 (locket) has a character filter that is not an object.",
        ),
    ]:
        with pytest.raises(LoreError) as refused:
            check_book(Lorebook(entries=(entry,)), limits)
        assert str(refused.value) == message


def _world_info(names: list[str]) -> bytes:
    """A World Info file of one entry limited to `names`."""
    only = {"isExclude": False, "names": names, "tags": []}
    entry = {"uid": 0, "key": ["a"], "content": "c", "characterFilter": only}
    return json.dumps({"entries": {"0": entry}}).encode()


def test_the_default_caps_refuse_a_world_info_file_past_them() -> None:
    within = load_lorebook(_world_info([f"N{i}" for i in range(FILTER_NAMES_MAX)]))
    assert within.entries[0].characters is not None
    with pytest.raises(LoreError, match=r"is limited to too many characters \(101; the limit"):
        load_lorebook(_world_info([f"N{i}" for i in range(FILTER_NAMES_MAX + 1)]))
    with pytest.raises(LoreError, match=f"names a character longer than {FILTER_NAME_MAX_CHARS}"):
        load_lorebook(_world_info(["x" * (FILTER_NAME_MAX_CHARS + 1)]))


def test_a_filter_stored_past_the_caps_or_ill_shaped_is_read_within_them() -> None:
    names = [f"N{i}" for i in range(FILTER_NAMES_MAX + 50)]
    only = _filtered(names=[*names, "y" * 1000]).characters
    assert only is not None and len(only.names) == FILTER_NAMES_MAX
    long_name = _filtered(names=["y" * 1000]).characters
    assert long_name is not None and len(long_name.names[0]) == FILTER_NAME_MAX_CHARS
    # Stored shapes import would refuse: no filter, or the narrower reading.
    assert _filtered(names="Mara").characters is None
    assert LoreEntry(extras={"character_filter": ["Mara"]}).characters is None
    odd = _filtered(isExclude="yes").characters
    assert odd is not None and not odd.exclude
