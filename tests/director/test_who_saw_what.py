"""Who saw what: each prompt holds only what its speaker witnessed, in every prompt format.

Built on real SQLite stores and the demo model's tokenizer. The scene: Rook (a player) and
Ilse (a player who leaves) with Marta and Tobin in the cast. Hale is removed while Rook says
the password and comes back; Rook whispers to Marta alone; Ivo joins last.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.director import PromptPlan, SceneView, TurnDirector
from bot.director.budget import TokenCounter
from bot.director.types import StorySoFar
from bot.domain import FORMAT_NAMES, Sampler
from bot.engine.llama import LlamaEngine
from bot.scenes.views import SceneViews
from bot.store import Database, Scene, Stores, StorySummary, view_key
from tests.lore.helpers import book
from tests.prompts.test_injection import vocab as vocab  # the demo model's tokenizer
from tests.scripted_engine import ScriptedEngine, request_kind

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

MARTA_SECRET = "Marta smuggles saffron for the duke."
ROOK_SECRET = "Rook is the duke's lost son."
ILSE_SHEET = "**Character Name**: Ilse\n**Appearance**: A cartographer with inky hands."
PASSWORD = "The password is heron."
WHISPER = "The ledger hides under the third plank."
LORE = book(
    {
        "keys": ["heron"],
        "content": "HERON-LORE: the gate opens at midnight.",
        "position": "before_char",
    },
    {"keys": ["plank"], "content": "PLANK-LORE: the floor hides things.", "position": "at_depth"},
    {"keys": ["evening"], "content": "TOBIN-LORE: the tide turns.", "characters": ["Tobin"]},
    name="Harbor",
)


@dataclass
class Harbor:
    """The scene and its characters' ids."""

    stores: Stores
    scene: Scene
    ids: dict[str, int]
    seqs: dict[str, int]


async def _harbor(db: Database, fmt: str) -> Harbor:
    """The scene, its turns stored as they happened (see the module's docstring)."""
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=10, format=fmt)
    ids: dict[str, int] = {}
    sheets = {
        "Marta": f"**Character Name**: Marta\n**Occupation/Profession**: Harbormaster\n"
        f"**Secret**: {MARTA_SECRET}\n**Likes**: Quiet nights",
        "Tobin": "**Character Name**: Tobin\n**Occupation/Profession**: Old sailor",
        "Hale": "**Character Name**: Hale\n**Occupation/Profession**: Sergeant",
        "Ivo": "**Character Name**: Ivo\n**Occupation/Profession**: Courier",
    }
    for name, sheet in sheets.items():
        npc = await stores.characters.create(guild_id=1, kind="npc", name=name, sheet=sheet)
        ids[name] = npc.id
    for user, name, sheet in (
        (100, "Rook", f"**Character Name**: Rook\n**SECRETS**:\n- {ROOK_SECRET}"),
        (101, "Ilse", ILSE_SHEET),
    ):
        pc = await stores.characters.create(
            guild_id=1, kind="player", name=name, owner_id=user, sheet=sheet
        )
        ids[name] = pc.id
        await stores.scenes.bind_player(scene.id, user, pc.id)
    for name in ("Marta", "Tobin", "Hale"):
        await stores.scenes.add_cast(scene.id, ids[name])
    stored = await stores.lore.save_book(1, LORE)
    await stores.lore.attach(scene.id, stored.id)
    seqs: dict[str, int] = {}

    async def say(key: str, speaker: str, text: str, **kwargs: object) -> None:
        turn = await stores.turns.append(
            scene.id,
            role="user",
            speaker=speaker,
            content=text,
            character_id=ids[speaker],
            **kwargs,  # type: ignore[arg-type]
        )
        seqs[key] = turn.seq

    await say("evening", "Rook", "Evening, all.")
    await say("ilse", "Ilse", "Ilse waves and rolls up her chart.")
    await stores.scenes.set_present(scene.id, 101, False)
    await stores.scenes.remove_cast(scene.id, ids["Hale"])
    await say("password", "Rook", PASSWORD)
    await stores.scenes.add_cast(scene.id, ids["Hale"])
    await say("whisper", "Rook", WHISPER, kind="whisper", audience={ids["Marta"]})
    await stores.scenes.add_cast(scene.id, ids["Ivo"])
    await say("welcome", "Rook", "Welcome, Ivo.")
    return Harbor(stores, scene, ids, seqs)


async def _view(harbor: Harbor, views: SceneViews | None = None) -> SceneView:
    views = views or SceneViews(harbor.stores, Sampler(seed=1))
    return await views.view(await harbor.stores.scenes.get(harbor.scene.id))


async def _prompts(
    harbor: Harbor, director: TurnDirector, view: SceneView
) -> dict[str, PromptPlan]:
    """Every NPC's prompt (Marta's first: her lore must not stay for the others), the speaker
    choice's (key ""), and Rook's draft (key "Rook draft")."""
    plans = {
        name: await director.build_prompt(view, name) for name in ("Marta", "Tobin", "Hale", "Ivo")
    }
    plans[""] = await director.build_prompt(view)
    plans["Rook draft"] = await director.prompts.build(view, "Rook", None, 0, player=True)
    return plans


@pytest.fixture(params=FORMAT_NAMES)
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_each_npc_reads_only_the_turns_and_lore_it_witnessed(
    db: Database, vocab: LlamaEngine, fmt: str
) -> None:
    harbor = await _harbor(db, fmt)
    plans = await _prompts(harbor, TurnDirector(vocab, harbor.stores.turns), await _view(harbor))
    text = {name: plan.rendered.text for name, plan in plans.items()}
    # Marta saw it all, and was whispered to: the words and the lore they fire are hers.
    for phrase in ("Evening, all.", PASSWORD, "HERON-LORE", WHISPER, "PLANK-LORE"):
        assert phrase in text["Marta"], phrase
    # Tobin heard the password, but not the whisper.
    assert PASSWORD in text["Tobin"] and "HERON-LORE" in text["Tobin"]
    assert "third plank" not in text["Tobin"] and "PLANK-LORE" not in text["Tobin"]
    # Hale was out of the scene while the password was said: no trace of it, nor the whisper.
    assert "Evening, all." in text["Hale"] and "Welcome, Ivo." in text["Hale"]
    for leak in ("heron", "HERON-LORE", "third plank", "PLANK-LORE"):
        assert leak not in text["Hale"], leak
    # Ivo came last: only what was said since.
    assert "Welcome, Ivo." in text["Ivo"] and "Evening, all." not in text["Ivo"]
    for leak in ("heron", "HERON-LORE", "third plank", "PLANK-LORE"):
        assert leak not in text["Ivo"], leak
    # Lore limited to a character goes only into its prompts, whoever else saw the key.
    assert "TOBIN-LORE" in text["Tobin"]
    assert not any("TOBIN-LORE" in text[name] for name in ("Marta", "Hale", "", "Rook draft"))
    # The speaker choice reads the whole scene; a player with no character what was public.
    assert PASSWORD in text[""] and WHISPER in text[""]
    view = await _view(harbor)
    wren = await TurnDirector(vocab, harbor.stores.turns).prompts.build(
        view, "Wren", None, 0, player=True
    )
    assert PASSWORD in wren.rendered.text and "third plank" not in wren.rendered.text
    assert [t.content for t in plans["Hale"].history] == [
        "Evening, all.",
        "Ilse waves and rolls up her chart.",
        "Welcome, Ivo.",
    ]


async def test_a_secret_field_is_only_in_its_owners_prompts(
    db: Database, vocab: LlamaEngine, fmt: str
) -> None:
    harbor = await _harbor(db, fmt)
    plans = await _prompts(harbor, TurnDirector(vocab, harbor.stores.turns), await _view(harbor))
    text = {name: plan.rendered.text for name, plan in plans.items()}
    assert MARTA_SECRET in text["Marta"] and ROOK_SECRET not in text["Marta"]
    assert ROOK_SECRET in text["Rook draft"] and MARTA_SECRET not in text["Rook draft"]
    for name in ("Tobin", "Hale", "Ivo", ""):
        assert MARTA_SECRET not in text[name] and ROOK_SECRET not in text[name], name
        assert "Secret" not in text[name] and "SECRETS" not in text[name], name
    # The rest of the sheet stays as written, in every prompt.
    for name in ("Marta", "Tobin", ""):
        assert "Harbormaster" in text[name] and "**Likes**: Quiet nights" in text[name]


async def test_a_prompt_holds_the_sheets_of_the_characters_its_speaker_has_met(
    db: Database, vocab: LlamaEngine, fmt: str
) -> None:
    harbor = await _harbor(db, fmt)
    plans = await _prompts(harbor, TurnDirector(vocab, harbor.stores.turns), await _view(harbor))
    systems = {name: plan.rendered.system.text for name, plan in plans.items()}
    # Ilse left before Ivo came: Marta read her post, Ivo never met her.
    assert "A cartographer with inky hands." in systems["Marta"]
    assert "A cartographer with inky hands." not in systems["Ivo"]
    assert "Courier" in systems["Marta"] and "Harbormaster" in systems["Ivo"]
    # Met or not, the model never speaks for her.
    assert "\nIlse:" in plans["Ivo"].rendered.stops


async def test_the_story_so_far_is_the_speakers_own(
    db: Database, vocab: LlamaEngine, fmt: str
) -> None:
    harbor = await _harbor(db, fmt)
    stores, scene, seqs = harbor.stores, harbor.scene.id, harbor.seqs
    shared = "SHARED-STORY: Rook said the password, heron."
    await stores.summaries.put(scene, StorySummary(shared, seqs["password"]))
    own = "MARTA-STORY: the ledger is under the third plank."
    await stores.summaries.put(
        scene, StorySummary(own, seqs["whisper"]), view_key(harbor.ids["Marta"])
    )
    plans = await _prompts(harbor, TurnDirector(vocab, stores.turns), await _view(harbor))
    text = {name: plan.rendered.text for name, plan in plans.items()}
    assert own in text["Marta"] and shared not in text["Marta"]
    assert WHISPER not in text["Marta"]  # the turns her story covers stay out
    assert shared in text["Tobin"] and "Evening, all." not in text["Tobin"]
    # Hale and Ivo missed what the shared story tells: no story, their own turns from the start.
    for name in ("Hale", "Ivo"):
        assert "SHARED-STORY" not in text[name] and "MARTA-STORY" not in text[name], name
        assert "heron" not in text[name], name
    assert "Evening, all." in text["Hale"]
    assert shared in text[""] and own not in text[""]


async def test_whether_a_view_differs_is_asked_once_per_summary(
    db: Database, vocab: LlamaEngine
) -> None:
    harbor = await _harbor(db, "chatml")
    stores = harbor.stores
    await stores.summaries.put(harbor.scene.id, StorySummary("Story.", harbor.seqs["password"]))
    asked: list[tuple[int, int]] = []
    has_own_view = stores.turns.has_own_view

    async def counted(scene_id: int, character_id: int, through_seq: int) -> bool:
        asked.append((character_id, through_seq))
        return await has_own_view(scene_id, character_id, through_seq)

    stores.turns.has_own_view = counted  # type: ignore[method-assign]
    views = SceneViews(stores, Sampler(seed=1))
    await _view(harbor, views)
    assert len(asked) == 6  # four NPCs and two players
    await _view(harbor, views)
    assert len(asked) == 6
    await stores.summaries.put(harbor.scene.id, StorySummary("Longer.", harbor.seqs["welcome"]))
    await _view(harbor, views)
    assert len(asked) == 12


async def test_each_view_keeps_its_own_kv_state_and_only_the_cast_is_chosen(
    db: Database, vocab: LlamaEngine
) -> None:
    harbor = await _harbor(db, "chatml")
    await harbor.stores.scenes.remove_cast(harbor.scene.id, harbor.ids["Hale"])
    engine = ScriptedEngine(speakers=["Tobin:"], texts=["Aye.", "Hm."], floors=["assistant"])
    counter = TokenCounter(vocab.count_many)
    director = TurnDirector(engine, harbor.stores.turns, counter=counter)
    view = await _view(harbor)
    result = await director.run_round(view, forced="Marta")
    assert [t.speaker for t in result.turns] == ["Marta", "Tobin"]
    ids = harbor.ids
    channels = [(request_kind(r), r.channel) for r in engine.requests]
    assert channels == [
        ("text", f"10#{ids['Marta']}"),
        ("floor", f"10#{ids['Marta']}"),  # it follows Marta's own prompt
        ("speaker", "10"),
        ("text", f"10#{ids['Tobin']}"),
        ("floor", f"10#{ids['Tobin']}"),
    ]
    (choice,) = engine.of_kind("speaker")
    assert set(choice.choices) == {"Tobin:", "Ivo:"}  # present, and not the one who just spoke


async def test_views_that_saw_the_same_keep_the_scenes_kv_state(
    db: Database, vocab: LlamaEngine
) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=20, format="chatml")
    ids = {}
    for name, sheet in (("Marta", f"**Secret**: {MARTA_SECRET}"), ("Tobin", "An old sailor.")):
        npc = await stores.characters.create(guild_id=1, kind="npc", name=name, sheet=sheet)
        await stores.scenes.add_cast(scene.id, npc.id)
        ids[name] = npc.id
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="Evening, all.")
    engine = ScriptedEngine(texts=["Aye.", "Hm."], floors=["user"])
    director = TurnDirector(engine, stores.turns, counter=TokenCounter(vocab.count_many))
    view = await SceneViews(stores, Sampler(seed=1)).view(await stores.scenes.get(scene.id))
    for name in ("Tobin", "Marta"):
        await director.run_round(view, forced=name)
    texts = [r.channel for r in engine.requests if request_kind(r) == "text"]
    # Tobin saw what the scene saw: one prefix with it. Marta's own prompt holds her secret.
    assert texts == ["20", f"20#{ids['Marta']}"]


async def test_after_a_clear_each_view_is_asked_again(db: Database, vocab: LlamaEngine) -> None:
    harbor = await _harbor(db, "chatml")
    stores, scene, hale = harbor.stores, harbor.scene.id, harbor.ids["Hale"]
    views = SceneViews(stores, Sampler(seed=1))
    await stores.summaries.put(scene, StorySummary("Old story.", 2))
    assert hale not in (await _view(harbor, views)).stories  # Hale saw turns 1 and 2
    # Seqs start again after a clear: the same seqs are other turns, which Hale missed.
    await stores.turns.clear(scene)
    await stores.scenes.remove_cast(scene, hale)
    for text in ("Hale is gone.", "Now the truth."):
        await stores.turns.append(scene, role="user", speaker="Rook", content=text)
    await stores.scenes.add_cast(scene, hale)
    await stores.summaries.put(scene, StorySummary("New story: the truth.", 2))
    assert (await _view(harbor, views)).stories[hale] == StorySoFar()
