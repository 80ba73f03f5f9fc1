"""Server lorebooks in the database (SQLite and PostgreSQL): lossless, revisioned, linked."""

from __future__ import annotations

import json

import pytest

from bot.lore import export_card_book, load_lorebook
from bot.scenes.scene_file import EXAMPLE_SCENE
from bot.store import Database, DuplicateNameError, NotFoundError, StoreError, Stores
from tests.lore.helpers import book
from tests.lore.test_convert import ST_BOOK, V3_BOOK

EXAMPLE_BOOK = EXAMPLE_SCENE.with_name("lantern-harbor-lore.json")


@pytest.mark.parametrize("source", [ST_BOOK, V3_BOOK], ids=["world-info", "lorebook_v3"])
async def test_a_stored_book_loads_back_field_for_field(db: Database, source: dict) -> None:
    lore = Stores.over(db).lore
    original = load_lorebook(json.dumps(source).encode(), "book.json")
    stored = await lore.save_book(7, original)
    assert (stored.name, stored.revision) == (original.name, 1)
    assert export_card_book(await lore.load(stored.id)) == export_card_book(original)


async def test_the_example_book_survives_the_database(db: Database) -> None:
    lore = Stores.over(db).lore
    original = load_lorebook(EXAMPLE_BOOK.read_bytes(), EXAMPLE_BOOK.name)
    assert len(original.entries) == 14
    stored = await lore.save_book(7, original)
    assert await lore.load(stored.id) == original


async def test_names_are_unique_per_server_and_replace_bumps_the_revision(db: Database) -> None:
    lore = Stores.over(db).lore
    first = await lore.save_book(7, book({"keys": ["a"], "content": "A."}), name="Harbor")
    with pytest.raises(DuplicateNameError, match="already a lorebook called Harbor"):
        await lore.save_book(7, book({"keys": ["b"], "content": "B."}), name="harbor")
    other_server = await lore.save_book(8, book({"keys": ["b"], "content": "B."}), name="Harbor")
    assert other_server.id != first.id
    again = await lore.save_book(
        7, book({"keys": ["c"], "content": "C."}), name="HARBOR", replace=True
    )
    assert (again.id, again.revision) == (first.id, 2)
    assert [e.content for e in (await lore.load(first.id)).entries] == ["C."]
    assert (await lore.find(7, "harbor")).id == first.id
    assert [(b.name, n) for b, n in await lore.list_books(7)] == [("Harbor", 1)]


async def test_entries_are_added_replaced_and_deleted_each_with_a_new_revision(
    db: Database,
) -> None:
    lore = Stores.over(db).lore
    stored = await lore.save_book(7, book({"keys": ["a"], "content": "A."}), name="B")
    assert await lore.add_entry(stored.id, book({"keys": ["b"], "content": "B."}).entries[0]) == 1
    await lore.replace_entry(stored.id, 0, book({"keys": ["z"], "content": "Z."}).entries[0])
    await lore.delete_entry(stored.id, 1)
    assert [e.content for e in (await lore.load(stored.id)).entries] == ["Z."]
    assert (await lore.find(7, "B")).revision == 4
    with pytest.raises(StoreError, match="no entry 6"):
        await lore.delete_entry(stored.id, 5)


async def test_books_attach_to_scenes_and_deleting_cleans_up(db: Database) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=7, channel_id=1, format="chatml")
    a = await stores.lore.save_book(7, book({"keys": ["a"], "content": "A."}), name="A")
    b = await stores.lore.save_book(7, book({"keys": ["b"], "content": "B."}), name="B")
    assert await stores.lore.attach(scene.id, b.id)
    assert await stores.lore.attach(scene.id, a.id)
    assert not await stores.lore.attach(scene.id, a.id)
    assert [x.name for x in await stores.lore.scene_books(scene.id)] == ["B", "A"]
    assert await stores.lore.detach(scene.id, b.id)
    assert not await stores.lore.detach(scene.id, b.id)
    await stores.lore.delete_book(a.id)
    assert await stores.lore.scene_books(scene.id) == []
    with pytest.raises(NotFoundError):
        await stores.lore.load(a.id)
    with pytest.raises(NotFoundError):
        await stores.lore.delete_book(a.id)


async def test_odd_text_is_stored_on_every_backend(db: Database) -> None:
    lore = Stores.over(db).lore
    odd = book(
        {"keys": ["ß", "/é+/i"], "content": "Ünïcödé 🐙 and a NUL\x00 dropped", "name": "x" * 300}
    )
    stored = await lore.save_book(7, odd, name="  Odd \n book  " + "y" * 200)
    assert stored.name.startswith("Odd book y") and len(stored.name) == 80
    loaded = await lore.load(stored.id)
    assert loaded.entries[0].content == "Ünïcödé 🐙 and a NUL dropped"
    assert loaded.entries[0].name == "x" * 300
