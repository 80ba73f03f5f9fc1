"""`tavernkeep roll`: a roll per line ending in ` = total`; seeds repeat; errors are one line."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from bot.dice import roll_dice
from bot.dice.limits import TIMES_MAX
from tests.cli import run_cli


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run from an empty folder, so no .env of the checkout supplies settings."""
    monkeypatch.chdir(tmp_path)


def _roll(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["roll", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_a_roll_per_line_with_the_total_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _roll(capsys, "4d6kh3", "--seed", "7", "--times", "5")
    assert len(lines) == 5
    rng = random.Random(7)  # the same rolls as the engine makes with that seed
    for line in lines:
        rolled = roll_dice("4d6kh3", rng)
        assert line == f"{rolled.detail} = {rolled.total}"
        assert re.fullmatch(r"\[(\(?\d\)?, ){3}\(?\d\)?\] = \d+", line)


def test_the_same_seed_rolls_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    first = _roll(capsys, "8d6!rr1", "--seed", "42", "--times", "20")
    assert _roll(capsys, "8d6!rr1", "--seed", "42", "--times", "20") == first
    assert _roll(capsys, "8d6!rr1", "--seed", "43", "--times", "20") != first
    assert len(set(first)) > 1  # each of the 20 is its own roll


def test_the_expression_may_be_several_words(capsys: pytest.CaptureFixture[str]) -> None:
    (line,) = _roll(capsys, "1d20", "+", "5", "--seed", "1")
    die = random.Random(1).randrange(20) + 1
    assert line == f"{die} + 5 = {die + 5}"
    (line,) = _roll(capsys, "2d6", "-1", "--seed", "1")
    assert line.startswith("[") and line.endswith(f" = {int(line.split('= ')[1])}")


def test_success_counting_ends_with_the_number_of_successes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for line in _roll(capsys, "6d10>=8", "--times", "50"):
        breakdown, total = line.rsplit(" = ", 1)
        assert breakdown.count("✓") == int(total)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["500d6"], "tavernkeep: That roll has 500 dice in one term; the limit is 100."),
        (["1d20+"], "tavernkeep: '1d20+' stops too soon"),
        (["1d6", "--times", "0"], f"tavernkeep: --times takes 1 to {TIMES_MAX:,} rolls."),
        (["1d6", "--times", str(TIMES_MAX + 1)], "tavernkeep: --times takes 1 to"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["roll", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(says)


def test_the_console_script(tmp_path: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["roll", *argv], cwd=tmp_path, timeout=120)

    done = run("1d20+5", "--seed", "3", "--times", "2")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines() == run("1d20+5", "--seed", "3", "--times", "2").stdout.splitlines()
    )
    assert all(re.fullmatch(r"\d+ \+ 5 = \d+", line) for line in done.stdout.splitlines())
    refused = run("1d0")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "tavernkeep: 1d0 has dice with no sides; a die needs at least 1, like 1d6."
    ]
