"""Recall reads only the speaker's view: witnesses, deletions, OOC, whispers, on both databases.

Real SQLite and PostgreSQL stores and the director's real prompts; tokens are counted by words
(no claim here depends on a tokenizer: `test_recall_prompts.py` counts with the demo model's).
"""

from __future__ import annotations

from bot.director.memories import HEADING
from bot.director.types import Recalled
from bot.store import SHARED_VIEW, Database, StorySummary, view_key
from bot.store.models import SceneChapter
from tests.recall.helpers import FACT, QUESTION, bulk_turns, campaign, director, filler, planted


async def test_a_fact_3000_turns_back_comes_back_only_to_who_witnessed_it(db: Database) -> None:
    game = await planted(db, 3000)
    turns = director(game)
    view = await game.view()
    mara = await turns.build_prompt(view, "Mara")
    assert mara.history[-1].content == QUESTION
    assert all(t.id != game.fact_id for t in mara.history)  # far outside the window
    (memory,) = [m for m in mara.recall.placed if m.ref == game.fact_id]
    assert {"silver", "key"} <= set(memory.terms) and memory.score > 0
    assert memory.speaker == "Rook" and memory.seq == 1
    assert f"{HEADING}\nRook: {FACT}" in mara.rendered.text
    # Placed after the newest turn: the prompt before it is the window as it was.
    assert mara.rendered.text.index(QUESTION) < mara.rendered.text.index(HEADING)
    # What the window holds never comes back as a memory.
    assert all(m.seq < mara.history[0].seq for m in mara.recall.placed)
    # Ivo joined after the fact was said: it never comes back to him, over budget or not.
    ivo = await turns.build_prompt(view, "Ivo")
    assert "floorboard" not in ivo.rendered.text
    assert all(m.ref != game.fact_id for m in (*ivo.recall.placed, *ivo.recall.left_out))
    # The speaker choice reads the whole scene but recalls nothing.
    chooser = await turns.build_prompt(view)
    assert chooser.recall == Recalled() and HEADING not in chooser.rendered.text


async def test_a_deleted_turn_never_comes_back(db: Database) -> None:
    game = await planted(db, 1000)
    turns = director(game)
    view = await game.view()
    before = await turns.build_prompt(view, "Mara")
    assert any(m.ref == game.fact_id for m in before.recall.placed)
    await game.stores.turns.mark_deleted(game.fact_id)
    # Same window, nothing new to recall: the last block would stay, but not with it.
    after = await turns.build_prompt(view, "Mara")
    assert after.history[0].seq == before.history[0].seq
    assert "floorboard" not in after.rendered.text
    assert all(m.ref != game.fact_id for m in (*after.recall.placed, *after.recall.left_out))


async def test_an_edited_turn_comes_back_as_it_reads_now(db: Database) -> None:
    game = await planted(db, 1000)
    turns = director(game)
    view = await game.view()
    assert FACT in (await turns.build_prompt(view, "Mara")).rendered.text
    await game.stores.turns.edit(game.fact_id, "I hid the silver key in the well.")
    after = await turns.build_prompt(view, "Mara")
    assert "floorboard" not in after.rendered.text
    assert "Rook: I hid the silver key in the well." in after.rendered.text


async def test_ooc_private_turns_and_others_whispers_never_come_back(db: Database) -> None:
    game = await campaign(db)
    await game.stores.scenes.add_cast(game.scene_id, game.ids["Ivo"])
    ooc = await game.say("Rook", "(( OOC: the silver key prop is on my desk ))")
    whisper = await game.say(
        "Rook", "The silver key opens the chapel crypt.", audience=[game.ids["Ivo"]]
    )
    private = await game.say("Rook", "Rook rolls for the silver key: 17.", private=True)
    await bulk_turns(db, game.scene_id, filler(1000))
    await game.say("Rook", QUESTION)
    turns = director(game)
    view = await game.view()
    mara = await turns.build_prompt(view, "Mara")
    ivo = await turns.build_prompt(view, "Ivo")
    found = {
        name: {m.ref for m in (*plan.recall.placed, *plan.recall.left_out)}
        for name, plan in (("Mara", mara), ("Ivo", ivo))
    }
    # The whisper was Ivo's to hear, not Mara's; OOC and private turns are nobody's memory.
    assert whisper in found["Ivo"] and whisper not in found["Mara"]
    assert not {ooc, private} & (found["Mara"] | found["Ivo"])
    assert "chapel crypt" in ivo.rendered.text and "chapel crypt" not in mara.rendered.text
    assert "prop is on my desk" not in mara.rendered.text + ivo.rendered.text


async def test_a_zero_budget_turns_recall_off(db: Database) -> None:
    game = await planted(db, 1000)
    turns = director(game)
    off = await turns.build_prompt(await game.view(0), "Mara")
    assert off.recall == Recalled() and HEADING not in off.rendered.text
    assert (await game.view(0)).recall is None


async def _chapter(
    db: Database, scene_id: int, view: str, title: str, text: str, seqs: range
) -> None:
    async with db.session() as s:
        s.add(
            SceneChapter(
                scene_id=scene_id,
                view=view,
                title=title,
                text=text,
                first_seq=seqs.start,
                last_seq=seqs.stop - 1,
            )
        )
        await s.commit()


async def test_chapters_of_the_speakers_own_story_come_back(db: Database) -> None:
    game = await planted(db, 1000)
    smugglers = "Rook struck a bargain with the smugglers for the silver key."
    await _chapter(db, game.scene_id, SHARED_VIEW, "The bargain", smugglers, range(2, 200))
    ivo_only = "Ivo alone heard of the silver key's twin."
    await _chapter(
        db, game.scene_id, view_key(game.ids["Ivo"]), "Ivo's ear", ivo_only, range(2, 50)
    )
    turns = director(game)
    mara = await turns.build_prompt(await game.view(), "Mara")
    (chapter,) = [m for m in mara.recall.placed if m.chapter]
    assert chapter.speaker == "The bargain" and chapter.seq == 2 and "silver" in chapter.terms
    assert f"The bargain (chapter): {smugglers}" in mara.rendered.text
    assert "twin" not in mara.rendered.text  # another view's chapter
    # A chapter that covers turns of the window would only repeat them.
    window = mara.history[0].seq
    await _chapter(
        db, game.scene_id, SHARED_VIEW, "Lately", "The silver key again.", range(window, window + 5)
    )
    again = await turns.build_prompt(await game.view(), "Mara")
    assert "Lately" not in again.rendered.text
    # Once Mara's story is her own, the shared chapters are not hers to recall.
    await game.stores.summaries.put(
        game.scene_id,
        StorySummary("Mara keeps her own counsel.", 1),
        view=view_key(game.ids["Mara"]),
    )
    own = await turns.build_prompt(await game.view(), "Mara")
    assert not any(m.chapter for m in own.recall.placed) and "The bargain" not in own.rendered.text


async def test_recall_takes_at_most_a_quarter_of_the_historys_room(db: Database) -> None:
    game = await planted(db, 1000)
    plan = await director(game, n_ctx=2048).build_prompt(await game.view(2000), "Mara")
    # 2,048 tokens less the reply's 300 and the margin leave under 1,800 for the history.
    assert 0 < plan.recall.budget <= 1800 // 4 and plan.recall.used <= plan.recall.budget
    assert any(m.ref == game.fact_id for m in plan.recall.placed)
