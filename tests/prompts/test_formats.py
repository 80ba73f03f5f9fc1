"""Golden tests for the prompt formats against seed cards 000 (group-inst, ChatML) and 003."""

from __future__ import annotations

import pytest

from bot.domain import FORMAT_NAMES, Persona, PromptContext, PromptTurn
from bot.prompts import (
    UnknownFormatError,
    get_format,
    is_ooc,
    join_names,
    render_prompt,
)

STEVE = Persona("Ballbuster Steve", "[Steve's bio]")
ARTY = Persona('Altair "Arty" Enzo', "[Arty's bio]")
SUKUNA = Persona("Sukuna Gojo", "[Sukuna's bio]")
CARD_CTX = PromptContext(players=(STEVE,), npcs=(ARTY, SUKUNA))

# Seed 000's system prompt, with the "# {user}" / "# {charN}" annotations removed.
CARD_SYSTEM_PROMPT = """\
You are involved in a multi-character internet-style roleplaying session with a human user, \
who is playing as Ballbuster Steve. Do not generate dialogue for the user's character, \
Ballbuster Steve. Focus on the other characters.
[Human User]
Ballbuster Steve
Character Bio: [Steve's bio]
[Involved Characters]
Altair "Arty" Enzo
Character Bio: [Arty's bio]
---
Sukuna Gojo
Character Bio: [Sukuna's bio]
---
The roleplay begins now."""

# Seed 000's turn example (user, model, model, user).
CARD_TURNS = (
    PromptTurn("user", "Ballbuster Steve", "Being the doorman at a nightclub..."),
    PromptTurn("model", 'Altair "Arty" Enzo', "While he was waiting for Jake to answer..."),
    PromptTurn("model", "Sukuna Gojo", "Nick was now out of his element..."),
    PromptTurn("user", "Ballbuster Steve", "Steve grabbed his black clutch..."),
)


def test_group_inst_system_prompt_matches_card() -> None:
    block = get_format("group-inst").system_block(CARD_CTX).text
    assert block == "[INST]system\n" + CARD_SYSTEM_PROMPT + "[/INST]"


def test_group_inst_turn_blocks_match_card_example() -> None:
    fmt = get_format("group-inst")
    assert "\n".join(fmt.turn_block(t).text for t in CARD_TURNS) == (
        "[INST]user\n"
        "Ballbuster Steve: Being the doorman at a nightclub...[/INST]\n"
        "[INST]model\n"
        'Altair "Arty" Enzo: While he was waiting for Jake to answer...[/INST]\n'
        "[INST]model\n"
        "Sukuna Gojo: Nick was now out of his element...[/INST]\n"
        "[INST]user\n"
        "Ballbuster Steve: Steve grabbed his black clutch...[/INST]"
    )


def test_group_inst_full_prompt_matches_backend_template() -> None:
    prompt = render_prompt(get_format("group-inst"), CARD_CTX, CARD_TURNS)
    assert prompt.text == (
        "[INST]system\n" + CARD_SYSTEM_PROMPT + "[/INST]\n"
        "[INST]user\n"
        "Ballbuster Steve: Being the doorman at a nightclub...[/INST]\n"
        "[INST]model\n"
        'Altair "Arty" Enzo: While he was waiting for Jake to answer...[/INST]\n'
        "[INST]model\n"
        "Sukuna Gojo: Nick was now out of his element...[/INST]\n"
        "[INST]user\n"
        "Ballbuster Steve: Steve grabbed his black clutch...[/INST]\n"
        "[INST]model\n"
    )
    assert prompt.header.text == "[INST]model\n"
    assert prompt.separator == "\n"


def test_group_inst_forced_speaker_header() -> None:
    prompt = render_prompt(
        get_format("group-inst"), CARD_CTX, CARD_TURNS[:1], speaker="Sukuna Gojo"
    )
    assert prompt.header.text == "[INST]model\nSukuna Gojo:"
    assert prompt.text.endswith("[/INST]\n[INST]model\nSukuna Gojo:")


def test_narration_is_a_user_block() -> None:
    turn = PromptTurn("narration", "Narrator", "The lights go out.")
    assert get_format("group-inst").turn_block(turn).text == (
        "[INST]user\nNarrator: The lights go out.[/INST]"
    )
    assert get_format("chatml").turn_block(turn).text == (
        "<|im_start|>user\nNarrator: The lights go out.<|im_end|>"
    )
    assert get_format("alpaca-limarp").turn_block(turn).text == (
        "### Input:\nNarrator: The lights go out."
    )


def test_chatml_layout() -> None:
    turns = (
        PromptTurn("user", "Ballbuster Steve", "Hello."),
        PromptTurn("model", "Sukuna Gojo", "Hi."),
    )
    prompt = render_prompt(get_format("chatml"), CARD_CTX, turns)
    assert prompt.text == (
        "<|im_start|>system\n" + CARD_SYSTEM_PROMPT + "<|im_end|>\n"
        "<|im_start|>user\n"
        "Ballbuster Steve: Hello.<|im_end|>\n"
        "<|im_start|>assistant\n"
        "Sukuna Gojo: Hi.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    forced = render_prompt(get_format("chatml"), CARD_CTX, turns, speaker="Sukuna Gojo")
    assert forced.header.text == "<|im_start|>assistant\nSukuna Gojo:"


LIMARP_CTX = PromptContext(
    players=(Persona("Steve", "A doorman."),),
    npcs=(Persona("Arty", "A DJ."),),
    scenario="A night at LUSH.",
    length="medium",
)


def test_limarp_layout() -> None:
    turns = (
        PromptTurn("user", "Steve", "Evening."),
        PromptTurn("model", "Arty", "Hey."),
        PromptTurn("user", "Steve", "Busy night?"),
    )
    prompt = render_prompt(get_format("alpaca-limarp"), LIMARP_CTX, turns)
    assert prompt.text == (
        "\n"
        "### Instruction:\n"
        "Arty's Persona: A DJ.\n"
        "\n"
        "Steve's Persona: A doorman.\n"
        "\n"
        "Scenario: A night at LUSH.\n"
        "\n"
        "Play the role of Arty. You must engage in a roleplaying chat with Steve below this line. "
        "Do not write dialogues and narration for Steve.\n"
        "\n"
        "### Input:\n"
        "Steve: Evening.\n"
        "\n"
        "### Response:\n"
        "Arty: Hey.\n"
        "\n"
        "### Input:\n"
        "Steve: Busy night?\n"
        "\n"
        "### Response: (length = medium)\n"
    )
    assert prompt.text.count("(length =") == 1
    assert prompt.separator == "\n\n"


def test_limarp_without_length_or_scenario() -> None:
    ctx = PromptContext(players=LIMARP_CTX.players, npcs=LIMARP_CTX.npcs)
    prompt = render_prompt(get_format("alpaca-limarp"), ctx, (), speaker="Arty")
    assert prompt.text == (
        "\n"
        "### Instruction:\n"
        "Arty's Persona: A DJ.\n"
        "\n"
        "Steve's Persona: A doorman.\n"
        "\n"
        "Play the role of Arty. You must engage in a roleplaying chat with Steve below this line. "
        "Do not write dialogues and narration for Steve.\n"
        "\n"
        "### Response:\n"
        "Arty:"
    )


def test_limarp_multi_character_names() -> None:
    ctx = PromptContext(
        players=(Persona("Ann", "a"), Persona("Bob", "b")),
        npcs=(Persona("Cat", "c"), Persona("Dan", "d"), Persona("Eve", "e")),
    )
    assert get_format("alpaca-limarp").system_block(ctx).text == (
        "\n"
        "### Instruction:\n"
        "Cat's Persona: c\n"
        "\n"
        "Dan's Persona: d\n"
        "\n"
        "Eve's Persona: e\n"
        "\n"
        "Ann's Persona: a\n"
        "\n"
        "Bob's Persona: b\n"
        "\n"
        "Play the role of Cat, Dan and Eve. You must engage in a roleplaying chat with Ann and Bob "
        "below this line. Do not write dialogues and narration for Ann and Bob."
    )


def test_limarp_without_players_says_the_user() -> None:
    ctx = PromptContext(players=(), npcs=(Persona("Cat", "c"),))
    assert (
        get_format("alpaca-limarp")
        .system_block(ctx)
        .text.endswith(
            "Play the role of Cat. You must engage in a roleplaying chat with the user "
            "below this line. Do not write dialogues and narration for the user."
        )
    )


def test_limarp_rejects_unknown_length() -> None:
    ctx = PromptContext(players=(), npcs=(), length="gigantic")
    with pytest.raises(ValueError, match="gigantic"):
        get_format("alpaca-limarp").response_header(ctx)


def test_system_prompt_two_players() -> None:
    ctx = PromptContext(
        players=(Persona("Ann", "Ann's\nsheet"), Persona("Bob", "Bob's sheet")),
        npcs=(Persona("Cat", "Cat's sheet"),),
    )
    assert get_format("chatml").system_block(ctx).text == (
        "<|im_start|>system\n"
        "You are involved in a multi-character internet-style roleplaying session with human "
        "users, who are playing as Ann and Bob. Do not generate dialogue for the users' "
        "characters, Ann and Bob. Focus on the other characters.\n"
        "[Human User]\n"
        "Ann\n"
        "Character Bio: Ann's\n"
        "sheet\n"
        "---\n"
        "Bob\n"
        "Character Bio: Bob's sheet\n"
        "[Involved Characters]\n"
        "Cat\n"
        "Character Bio: Cat's sheet\n"
        "---\n"
        "The roleplay begins now.<|im_end|>"
    )


def test_system_prompt_three_players_and_scenario() -> None:
    ctx = PromptContext(
        players=(Persona("Ann", "a"), Persona("Bob", "b"), Persona("Cy", "c")),
        npcs=(Persona("Dan", "d"), Persona("Eve", "e")),
        scenario="A storm\nat sea.",
    )
    assert get_format("group-inst").system_block(ctx).text == (
        "[INST]system\n"
        "You are involved in a multi-character internet-style roleplaying session with human "
        "users, who are playing as Ann, Bob and Cy. Do not generate dialogue for the users' "
        "characters, Ann, Bob and Cy. Focus on the other characters.\n"
        "[Human User]\n"
        "Ann\n"
        "Character Bio: a\n"
        "---\n"
        "Bob\n"
        "Character Bio: b\n"
        "---\n"
        "Cy\n"
        "Character Bio: c\n"
        "[Involved Characters]\n"
        "Dan\n"
        "Character Bio: d\n"
        "---\n"
        "Eve\n"
        "Character Bio: e\n"
        "---\n"
        "[Scenario]\n"
        "A storm\n"
        "at sea.\n"
        "The roleplay begins now.[/INST]"
    )


def test_system_prompt_without_players() -> None:
    ctx = PromptContext(players=(), npcs=(Persona("Dan", "d"),), scenario="")
    assert get_format("group-inst").system_block(ctx).text == (
        "[INST]system\n"
        "You are involved in a multi-character internet-style roleplaying session. "
        "Focus on the other characters.\n"
        "[Involved Characters]\n"
        "Dan\n"
        "Character Bio: d\n"
        "---\n"
        "The roleplay begins now.[/INST]"
    )


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_ooc_turns_are_dropped(name: str) -> None:
    fmt = get_format(name)
    turns = (
        PromptTurn("user", "Ballbuster Steve", "Hello."),
        PromptTurn("user", "Ballbuster Steve", "((brb))"),
        PromptTurn("user", "Ballbuster Steve", "// afk"),
        PromptTurn("user", "Ballbuster Steve", "OOC: lag"),
        PromptTurn("model", "Sukuna Gojo", "Hi."),
    )
    prompt = render_prompt(fmt, CARD_CTX, turns)
    assert prompt.turns == (fmt.turn_block(turns[0]), fmt.turn_block(turns[4]))
    for marker in ("brb", "afk", "lag"):
        assert marker not in prompt.text


def test_is_ooc() -> None:
    for text in ("((brb))", "// afk", "OOC: lag", "ooc: lag", "  ((x", "\n//x", "Ooc:x"):
        assert is_ooc(text), text
    for text in ("Hello (( there", "a // b", "OOC lag", "(brb)", "/me waves", ""):
        assert not is_ooc(text), text


def test_stop_strings() -> None:
    ctx = PromptContext(players=(STEVE, Persona("Ann", "a")), npcs=(ARTY, SUKUNA))
    expected = {
        "group-inst": ["[/INST]", "[INST]", "<|im_end|>", "\nBallbuster Steve:", "\nAnn:"],
        "chatml": ["<|im_end|>", "<|im_start|>", "[INST]", "\nBallbuster Steve:", "\nAnn:"],
        "alpaca-limarp": [
            "### Input",
            "### Response",
            "### Instruction",
            "<|im_end|>",
            "<|im_start|>",
            "\nBallbuster Steve:",
            "\nAnn:",
        ],
    }
    for name, stops in expected.items():
        assert get_format(name).stop_strings(ctx) == stops
        assert render_prompt(get_format(name), ctx, ()).stops == tuple(stops)
        for npc in ctx.npcs:
            assert not any(npc.name in s for s in stops)


def test_floor_choices() -> None:
    expected = {
        "group-inst": ("\n[INST]", "model", "user"),
        "chatml": ("\n<|im_start|>", "assistant", "user"),
        "alpaca-limarp": ("\n\n### ", "Response", "Input"),
    }
    for name, (lead, npc, player) in expected.items():
        choice = get_format(name).floor_choice()
        assert (choice.lead.text, choice.npc, choice.player) == (lead, npc, player)
        # The marker is special; the newlines before it are plain text.
        assert [s.special for s in choice.lead.segments] == [False, True]


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_prompt_extends_previous_prompt(name: str) -> None:
    fmt = get_format(name)
    ctx = PromptContext(players=(STEVE,), npcs=(ARTY, SUKUNA), scenario="s", length="short")
    turns = (*CARD_TURNS, PromptTurn("user", "Ballbuster Steve", "((brb))"))
    for n in range(len(turns)):
        before = render_prompt(fmt, ctx, turns[:n], speaker="Sukuna Gojo")
        after = render_prompt(fmt, ctx, turns[: n + 1])
        prefix = before.text.removesuffix(before.header.text)
        assert after.text.startswith(prefix)
        if not is_ooc(turns[n].text):
            assert (
                after.text
                == prefix + fmt.turn_block(turns[n]).text + fmt.separator + after.header.text
            )


def test_empty_history_has_no_doubled_separator() -> None:
    prompt = render_prompt(get_format("group-inst"), CARD_CTX, ())
    assert prompt.text == "[INST]system\n" + CARD_SYSTEM_PROMPT + "[/INST]\n[INST]model\n"


def test_get_format_names() -> None:
    for name in FORMAT_NAMES:
        assert get_format(name).name == name
    assert get_format("group-inst").separator == "\n"
    assert get_format("chatml").separator == "\n"
    assert get_format("alpaca-limarp").separator == "\n\n"


def test_unknown_format_error_names_bad_value_and_valid_ones() -> None:
    with pytest.raises(UnknownFormatError) as info:
        get_format("vicuna")
    message = str(info.value)
    assert "'vicuna'" in message
    for name in ("group-inst", "chatml", "alpaca-limarp"):
        assert name in message
    assert isinstance(info.value, ValueError)


def test_unknown_turn_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="system"):
        get_format("group-inst").turn_block(PromptTurn("system", "X", "y"))  # type: ignore[arg-type]


def test_join_names() -> None:
    assert join_names([]) == ""
    assert join_names(["A"]) == "A"
    assert join_names(["A", "B"]) == "A and B"
    assert join_names(["A", "B", "C"]) == "A, B and C"
    assert join_names(("A", "B", "C", "D")) == "A, B, C and D"


def test_player_draft_header_and_stops() -> None:
    ctx = PromptContext(players=(STEVE, Persona("Ann", "a")), npcs=(ARTY,))
    expected = {
        "group-inst": "[INST]user\nAnn:",
        "chatml": "<|im_start|>user\nAnn:",
        "alpaca-limarp": "### Input:\nAnn:",
    }
    for name, header in expected.items():
        prompt = render_prompt(get_format(name), ctx, CARD_TURNS[:1], "Ann", player=True)
        assert prompt.header.text == header
        assert prompt.text.endswith(get_format(name).separator + header)
        assert "\nAnn:" not in prompt.stops
        assert {"\nBallbuster Steve:", f"\n{ARTY.name}:"} <= set(prompt.stops)
