"""`tavernkeep bench --soak`: the flags reach the harness; without a checkout, one line and 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bot.cli
import tests.soak.cli
from bot.cli import main


@pytest.fixture
def no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run from an empty folder, so no .env of the checkout supplies settings."""
    monkeypatch.chdir(tmp_path)


def test_the_flags_reach_the_harness(monkeypatch: pytest.MonkeyPatch, no_dotenv: None) -> None:
    seen: dict[str, Any] = {}

    async def harness(settings: object, **flags: Any) -> int:
        seen.update(flags)
        return 0

    monkeypatch.setattr(tests.soak.cli, "run_soak_cli", harness)
    assert main(["bench", "--soak"]) == 0
    assert (seen["channels"], seen["players"], seen["seconds"]) == (20, 5, 300.0)
    assert seen["json_path"] is None
    assert main(["bench", "--soak", "--channels", "2", "--players", "3", "--seconds", "9",
                 "--json", "soak.json"]) == 0  # fmt: skip
    assert (seen["channels"], seen["players"], seen["seconds"]) == (2, 3, 9.0)
    assert seen["json_path"] == Path("soak.json")


def test_an_installed_package_says_where_the_soak_runs(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_dotenv: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As from a wheel: nothing of the test suite next to the package.
    monkeypatch.setattr(bot.cli, "__file__", str(tmp_path / "site-packages" / "bot" / "cli.py"))
    assert main(["bench", "--soak", "--seconds", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [err.strip()] and "source checkout" in err


@pytest.mark.parametrize(
    "flags", [["--players", "0"], ["--players", "101"], ["--channels", "0"], ["--seconds", "0"]]
)
def test_bad_sizes_are_one_line(
    flags: list[str], no_dotenv: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--soak", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tavernkeep: --soak needs") and err.count("\n") == 1
