"""The one accumulator both engine kinds build their `Completion` with: counts and timings."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.completion import CompletionBuilder, Piece, finish_reason


def build(*pieces: Piece, times: Sequence[float] = ()) -> tuple[CompletionBuilder, list[str]]:
    """A builder fed `pieces`; with `times`, its clock reads those, one per reading."""
    shown: list[str] = []
    readings = iter(times)
    builder = (
        CompletionBuilder(shown.append, clock=lambda: next(readings))
        if times
        else CompletionBuilder(shown.append)
    )
    for piece in pieces:
        builder.add(piece)
    return builder, shown


def test_a_token_without_text_counts_and_the_finish_only_last_piece_does_not() -> None:
    # The middle token is held back as the start of a stop string: no text, still a token.
    builder, shown = build(Piece("Old"), Piece(""), Piece(" Tobin"), Piece(finish="length"))
    done = builder.completion()
    assert (done.text, done.finish_reason, done.generated_tokens) == ("Old Tobin", "length", 3)
    assert shown == ["Old", " Tobin"]


def test_a_last_piece_with_text_is_a_token_too() -> None:
    builder, _ = build(Piece("Aye"), Piece(",", finish="stop"))
    assert builder.completion().generated_tokens == 2


def test_the_servers_counts_win_over_the_tally_and_the_engines_prompt_count() -> None:
    for last, counts in (
        (Piece(finish="stop", prompt_tokens=12, generated_tokens=7), (12, 7)),
        (Piece(finish="stop"), (40, 1)),  # nothing reported: the engine's and the tally
    ):
        builder = CompletionBuilder()
        builder.prompt_tokens = 40
        builder.add(Piece("Aye"))
        builder.add(last)
        done = builder.completion()
        assert (done.prompt_tokens, done.generated_tokens) == counts


def test_the_first_token_time_is_the_first_token_pieces_even_without_text() -> None:
    # Read when built, at the first token (it has no text) and when completed.
    builder, _ = build(Piece(""), Piece("Aye"), times=(10.0, 11.5, 13.0))
    done = builder.completion()
    assert (done.first_token_seconds, done.total_seconds) == (1.5, 3.0)


def test_no_token_no_first_token_time() -> None:
    builder, _ = build(Piece(finish="stop"), times=(10.0, 10.25))
    done = builder.completion()
    assert (done.first_token_seconds, done.generated_tokens, done.text) == (None, 0, "")


def test_a_cancelled_generation_keeps_what_came_so_far() -> None:
    builder, _ = build(Piece("Old"), Piece(" Tob"))
    builder.cancel()
    done = builder.completion()
    assert (done.text, done.finish_reason, done.generated_tokens) == ("Old Tob", "cancelled", 2)


def test_servers_finish_reasons() -> None:
    assert [finish_reason(r) for r in (None, "length", "stop", "eos", "stop_sequence")] == [
        None,
        "length",
        "stop",
        "stop",
        "stop",
    ]
