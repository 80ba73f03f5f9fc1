"""Dice and state markers in generation, with a scripted engine and a real store."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from bot.director import (
    GeneratedTurn,
    MarkerOutcome,
    MarkerResolver,
    RoundHooks,
    SceneView,
    TurnDirector,
)
from bot.director.mechanics import (
    MAX_MARKERS,
    MAX_PIECES,
    HeldStream,
    drop_markers,
    is_marker,
    markers_in,
    teaching,
)
from bot.domain import CancelToken, DiceRoll, StateEdit, StateOp
from bot.engine.base import Completion, GenerationRequest, Sampler
from bot.errors import UserError
from bot.prompts import get_format
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.scripted_engine import ScriptedEngine

_STATE = re.compile(r"(\w+) (\w+) ([=+-])\s*(.+)")


class StubResolver:
    """Rolls 1, 2, 3 … in turn; takes `Name Key ±value` for a known name; refuses the rest."""

    def __init__(self, names: tuple[str, ...] = ("Rook", "Ilse")) -> None:
        self.names = names
        self.asked: list[str] = []
        self.rolled = 0

    def resolve(self, marker: str) -> MarkerOutcome | None:
        self.asked.append(marker)
        words = marker.split()
        if words[0] == "roll" and len(words) > 1 and re.fullmatch(r"\d*d\d+([+-]\d+)?", words[1]):
            self.rolled += 1
            roll = DiceRoll(words[1], self.rolled, str(self.rolled), " ".join(words[2:]) or None)
            return MarkerOutcome(f"[{marker}: {self.rolled}]", roll=roll)
        state = _STATE.fullmatch(marker)
        if state is None or state[1] not in self.names:
            return None
        name, key, sign, value = state.groups()
        op: StateOp = (
            "set" if sign == "=" else "remove" if sign == "-" and not value.isdigit() else "add"
        )
        value = value if op != "add" or not value.isdigit() else f"{sign}{value}"
        return MarkerOutcome(
            f"[{name} {key} {sign}{state[4]} ✓]", edit=StateEdit(name, key, op, value)
        )


async def _setup(db: Database, engine: ScriptedEngine) -> tuple[Stores, TurnDirector, SceneView]:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    scene = await stores.scenes.update(scene.id, max_replies=1)
    view = await SceneViews(stores, Sampler(seed=1)).view(scene)
    return stores, TurnDirector(engine, stores.turns), view


def _on(view: SceneView, resolver: MarkerResolver | None = None) -> SceneView:
    return replace(view, mechanics=True, resolver=resolver or StubResolver())


async def _round(
    director: TurnDirector, view: SceneView, forced: str = "Marta Vell"
) -> tuple[GeneratedTurn, list[str]]:
    streamed: list[str] = []
    result = await director.run_round(view, forced=forced, hooks=RoundHooks(text=streamed.append))
    assert len(result.generated) == 1 and result.generated[0].turn is result.turns[0]
    return result.generated[0], streamed


async def test_a_roll_marker_is_resolved_and_the_turn_goes_on_after_it(db: Database) -> None:
    engine = ScriptedEngine(texts=[" You slip past [roll 1d20+3 Stealth] and the guard yawns."])
    _, director, view = await _setup(db, engine)
    generated, streamed = await _round(director, _on(view))
    said = "You slip past [roll 1d20+3 Stealth: 1] and the guard yawns."
    assert generated.turn.content == said
    assert generated.rolls == (DiceRoll("1d20+3", 1, "1", "Stealth"),) and generated.edits == ()
    assert "".join(streamed) == f" {said}"  # the stream shows the result, never the raw marker
    first, second = engine.of_kind("text")
    assert first.stops[-1] == "]" and second.stops == first.stops
    # Going on is the same request with the text so far appended, and fewer tokens left.
    so_far = " You slip past [roll 1d20+3 Stealth: 1]"
    assert second.prompt.text == first.prompt.text + so_far
    assert second.sampler.max_tokens == first.sampler.max_tokens - engine_count(so_far)


def engine_count(text: str) -> int:
    return len(text.split()) + 1  # the scripted engine's token count


async def test_a_result_the_model_wrote_in_is_not_passed_on(db: Database) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[" I try [roll 1d20 Luck: 20] hm."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view, resolver))
    assert resolver.asked == ["roll 1d20 Luck"]
    assert generated.turn.content == "I try [roll 1d20 Luck: 1] hm."


async def test_a_state_marker_becomes_an_edit(db: Database) -> None:
    engine = ScriptedEngine(texts=[" The blade bites. [Rook HP -3] Then [Rook Gear +rope]."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view))
    assert generated.turn.content == "The blade bites. [Rook HP -3 ✓] Then [Rook Gear +rope ✓]."
    assert generated.edits == (
        StateEdit("Rook", "HP", "add", "-3"),
        StateEdit("Rook", "Gear", "add", "rope"),
    )
    assert generated.rolls == ()


async def test_an_invalid_marker_is_dropped_from_text_and_stream(db: Database) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[" Tobin mutters [roll lots of dice] and [Nobody HP -1] shrugs."])
    _, director, view = await _setup(db, engine)
    generated, streamed = await _round(director, _on(view, resolver))
    assert generated.turn.content == "Tobin mutters and shrugs."
    assert "".join(streamed) == " Tobin mutters and shrugs."
    assert resolver.asked == ["roll lots of dice", "Nobody HP -1"]
    assert generated.rolls == () and generated.edits == ()


async def test_a_resolver_that_raises_a_refusal_drops_the_marker(db: Database) -> None:
    class Raising:
        def resolve(self, marker: str) -> MarkerOutcome | None:
            raise UserError("1d0: dice need at least one side.")

    engine = ScriptedEngine(texts=[" She rolls [roll 1d0] badly."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view, Raising()))
    assert generated.turn.content == "She rolls badly."


@pytest.mark.parametrize(
    "text", [" The sign reads [CLOSED] today.", " [Rook looks away] Fine.", " A [sigh]. Then [a]."]
)
async def test_a_plain_bracket_is_kept_and_the_turn_goes_on(db: Database, text: str) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[text])
    _, director, view = await _setup(db, engine)
    generated, streamed = await _round(director, _on(view, resolver))
    assert generated.turn.content == text.strip() and "".join(streamed) == text
    assert resolver.asked == []
    assert len(engine.of_kind("text")) == text.count("]") + 1


async def test_the_ninth_marker_ends_the_turn(db: Database) -> None:
    text = " ".join(f"{word} [roll 1d4]" for word in "abcdefghij")
    engine = ScriptedEngine(texts=[f" {text} end."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view))
    assert len(generated.rolls) == MAX_MARKERS
    expected = " ".join(f"{w} [roll 1d4: {n}]" for n, w in enumerate("abcdefgh", start=1))
    assert generated.turn.content == f"{expected} i"
    assert len(engine.of_kind("text")) == MAX_MARKERS + 1


async def test_plain_brackets_end_the_turn_after_the_piece_cap(db: Database) -> None:
    engine = ScriptedEngine(texts=[" " + " ".join(f"[x{i}]" for i in range(MAX_PIECES + 5))])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view))
    assert len(engine.of_kind("text")) == MAX_PIECES
    assert generated.turn.content.endswith(f"[x{MAX_PIECES - 1}]")


async def test_no_tokens_left_ends_the_turn_after_the_result(db: Database) -> None:
    engine = ScriptedEngine(texts=[" a b [roll 1d4] never written"])
    _, director, view = await _setup(db, engine)
    view = replace(
        view, sampler=replace(view.sampler, max_tokens=engine_count(" a b [roll 1d4: 1]"))
    )
    generated, _ = await _round(director, _on(view))
    assert generated.turn.content == "a b [roll 1d4: 1]"
    assert len(engine.of_kind("text")) == 1


class CutEngine(ScriptedEngine):
    """Its text requests end at the token limit."""

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        completion = await super().complete(request, cancel, on_text)
        return (
            replace(completion, finish_reason="length") if request.grammar is None else completion
        )


async def test_a_marker_cut_off_by_the_token_limit_is_dropped(db: Database) -> None:
    resolver = StubResolver()
    engine = CutEngine(texts=[" She reaches for [roll 1d2"])
    _, director, view = await _setup(db, engine)
    generated, streamed = await _round(director, _on(view, resolver))
    assert generated.turn.content == "She reaches for" and "".join(streamed) == " She reaches for"
    assert resolver.asked == [] and len(engine.of_kind("text")) == 1


async def test_a_marker_in_a_cut_off_line_keeps_no_record(db: Database) -> None:
    engine = ScriptedEngine(texts=[" Fine. [roll 1d20 Luck]\nOld Tobin: [roll 1d6 Spite] ha."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, _on(view))
    assert generated.turn.content == "Fine. [roll 1d20 Luck: 1]"  # Tobin's line is cut
    assert [r.expr for r in generated.rolls] == ["1d20"]


async def test_the_generated_hook_comes_before_the_stored_hook(db: Database) -> None:
    seen: list[str] = []

    async def generated(turn: GeneratedTurn) -> None:
        seen.append(f"generated {turn.turn.id} {len(turn.rolls)}")

    async def stored(turn: object) -> None:
        seen.append("stored")

    engine = ScriptedEngine(texts=[" [roll 1d6] hm."])
    _, director, view = await _setup(db, engine)
    result = await director.run_round(
        _on(view), forced="Marta Vell", hooks=RoundHooks(generated=generated, stored=stored)
    )
    assert seen == [f"generated {result.turns[0].id} 1", "stored"]


async def test_a_swipe_rolls_again(db: Database) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[" I try [roll 1d20 Luck] hm.", " I try [roll 1d20 Luck] hm."])
    stores, director, view = await _setup(db, engine)
    view = _on(view, resolver)
    first, _ = await _round(director, view)
    swiped: list[GeneratedTurn] = []

    async def keep(turn: GeneratedTurn) -> None:
        swiped.append(turn)

    new = await director.swipe(view, first.turn, hooks=RoundHooks(generated=keep))
    assert new.content == "I try [roll 1d20 Luck: 2] hm."
    assert (await stores.turns.get(first.turn.id)).swipes == [first.turn.content, new.content]
    assert [(g.turn.id, [r.total for r in g.rolls]) for g in swiped] == [(new.id, [2])]


async def test_continue_keeps_earlier_rolls_and_resolves_only_new_markers(db: Database) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[" I try [roll 1d20 Luck] hm.", " Then [Rook HP -3] ouch."])
    _, director, view = await _setup(db, engine)
    view = _on(view, resolver)
    first, _ = await _round(director, view)
    added: list[GeneratedTurn] = []
    streamed: list[str] = []

    async def keep(turn: GeneratedTurn) -> None:
        added.append(turn)

    longer = await director.extend(
        view, first.turn, hooks=RoundHooks(generated=keep, text=streamed.append)
    )
    assert longer.content == "I try [roll 1d20 Luck: 1] hm. Then [Rook HP -3 ✓] ouch."
    assert resolver.asked == ["roll 1d20 Luck", "Rook HP -3"]  # the old roll stays as it was
    assert [(g.rolls, g.edits) for g in added] == [((), (StateEdit("Rook", "HP", "add", "-3"),))]
    assert "".join(streamed) == " Then [Rook HP -3 ✓] ouch."
    continued = engine.of_kind("text")[-1]
    assert continued.prompt.text.endswith(f" {first.turn.content} Then [Rook HP -3 ✓]")


async def test_mechanics_off_means_no_stop_no_teaching_and_raw_text(db: Database) -> None:
    resolver = StubResolver()
    engine = ScriptedEngine(texts=[" I try [roll 1d20 Luck] hm."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, replace(view, resolver=resolver))  # mechanics False
    assert generated.turn.content == "I try [roll 1d20 Luck] hm." and generated.rolls == ()
    (request,) = engine.of_kind("text")
    assert "]" not in request.stops and resolver.asked == []
    assert "[Dice and State]" not in request.prompt.text


@pytest.mark.parametrize("fmt", ["group-inst", "chatml", "alpaca-limarp"])
async def test_the_teaching_is_the_system_blocks_last_paragraph(db: Database, fmt: str) -> None:
    engine = ScriptedEngine()
    _, director, view = await _setup(db, engine)
    view = replace(view, fmt=get_format(fmt))
    off = (await director.build_prompt(view, "Marta Vell")).rendered
    on = (await director.build_prompt(_on(view), "Marta Vell")).rendered
    system = off.system
    assert "[Dice and State]" not in off.text
    closer = {"group-inst": "[/INST]", "chatml": "<|im_end|>", "alpaca-limarp": ""}[fmt]
    body = system.text.removesuffix(closer)
    separator = get_format(fmt).separator
    assert on.system.text == f"{body}{separator}{teaching(view.context)}{closer}"
    assert on.text == off.text.replace(system.text, on.system.text, 1)
    assert "[Marta Vell HP -3]" in on.system.text  # the scene's own first NPC as the example
    assert on.stops == off.stops  # the `]` stop is the generation loop's, not the prompt's


async def test_a_scene_with_mechanics_and_no_resolver_drops_every_marker(db: Database) -> None:
    engine = ScriptedEngine(texts=[" Luck [roll 1d20] holds."])
    _, director, view = await _setup(db, engine)
    generated, _ = await _round(director, replace(view, mechanics=True))
    assert generated.turn.content == "Luck holds."


async def test_a_players_draft_holds_no_markers(db: Database) -> None:
    engine = ScriptedEngine(texts=["I sneak [roll 1d20 Stealth] past. [sigh]"])
    _, director, view = await _setup(db, engine)
    assert await director.suggest(_on(view), "Rook") == "I sneak past. [sigh]"
    engine.queues["text"].append("I sneak [roll 1d20 Stealth] past.")
    assert await director.suggest(view, "Rook") == "I sneak [roll 1d20 Stealth] past."


def test_marker_shapes() -> None:
    for marker in (
        "roll 1d20+3 Stealth",
        "ROLL d6",
        "roll",
        "Rook HP -3",
        "Rook HP = 12/20",
        "Marta Vell Gold +5",
        "Jean-Luc Hit Points -2",
        "Rook Gear -rope",
    ):
        assert is_marker(marker), marker
    for prose in (
        "sighs",
        "CLOSED",
        "Rook looks away",
        "OOC: brb",
        "Rolls eyes",
        "",
        "roll " + "x" * 120,
        "Rook HP\n-3",
        "a [roll 1d4",
    ):
        assert not is_marker(prose), prose
    text = "Hi [roll 1d4] and [sigh] and [Rook HP -1]."
    assert markers_in(text) == ["[roll 1d4]", "[Rook HP -1]"]
    assert drop_markers(text) == "Hi and [sigh] and."


def test_the_stream_holds_back_only_what_may_be_a_marker() -> None:
    sent: list[str] = []
    stream = HeldStream(sent.append)
    for char in "Go [x] now [roll 1d4":
        stream.feed(char)
    assert "".join(sent) == "Go [x] now"  # a marker may have begun at the last bracket
    stream.end_piece("Go [x] now [roll 1d4: 3]")
    assert "".join(sent) == "Go [x] now [roll 1d4: 3]"
    sent.clear()
    stream.feed("[" + "y" * 200)  # longer than any marker: not held
    assert "".join(sent) == "[" + "y" * 200
