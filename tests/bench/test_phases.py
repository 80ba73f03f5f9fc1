"""The overhead round's breakdown: exclusive phase times, figures and rows (no timing values)."""

from __future__ import annotations

import asyncio
import io
import json
from math import comb

import pytest
from rich.console import Console

import bot.bench.phases as phases_module
from bot.bench.model import ModelFigures
from bot.bench.phase_report import median_interval, quartiles
from bot.bench.phases import MODEL_PHASE, PHASES, PhaseClock
from bot.bench.report import build_report, render
from bot.bench.storage import StorageFigures


class FakeClock:
    """perf_counter for the phase clock, moved on by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nested_phases_are_exclusive_and_add_up_to_the_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeClock()
    monkeypatch.setattr(phases_module.time, "perf_counter", fake)
    clock = PhaseClock()
    with clock.span("store_player_turn"):
        fake.now += 1
    with clock.span("prompt_build"):
        fake.now += 2
        with clock.span("token_counting"):
            fake.now += 4
            with clock.span("tokenize"):
                fake.now += 8
        fake.now += 16
        clock.charge(MODEL_PHASE, 10)  # measured elsewhere within those 16
    fake.now += 32  # after the last phase: the round's rest
    phases = clock.take(1 + 2 + 4 + 8 + 16 + 32)
    assert list(phases) == list(PHASES)
    assert phases["store_player_turn"] == 1
    assert phases["prompt_build"] == 2 + 16 - 10
    assert phases["token_counting"] == 4 and phases["tokenize"] == 8
    assert phases[MODEL_PHASE] == 10 and phases["other"] == 32
    assert sum(phases.values()) == 63
    assert clock.take(0.0)["prompt_build"] == 0.0  # taking starts a new round


async def test_a_span_keeps_its_time_when_the_block_awaits() -> None:
    clock = PhaseClock()
    with clock.span("store_npc_turn"):
        await asyncio.sleep(0.01)
    assert clock.seconds["store_npc_turn"] > 0


ROUNDS = (2.0, 2.2, 1.9, 2.1, 2.05, 9.3, 1.95)  # one round the machine stalled
BARES = (1.97, 2.1, 1.9, 2.0, 2.0, 2.25, 1.9)


def _phases(generation: float) -> dict[str, float]:
    fixed = {phase: 0.001 for phase in PHASES}
    return {**fixed, MODEL_PHASE: generation}


def _report() -> tuple[dict[str, float], str]:
    phases = [_phases(r - 0.001 * (len(PHASES) - 1)) for r in ROUNDS]
    model = ModelFigures(round_s=list(ROUNDS), bare_s=list(BARES), round_phases=phases)
    report = build_report(
        model, StorageFigures(), elapsed=1.0, meta={"profile": "full", "overhead_samples": 7}
    )
    console = Console(file=io.StringIO(), width=250)
    console.print(render(report))
    return json.loads(json.dumps(report.as_json())), console.file.getvalue()


def test_the_json_has_every_phase_and_the_fixed_share() -> None:
    data, _ = _report()
    for phase in PHASES:
        assert f"phase_{phase}_ms" in data
    phase_sum = sum(data[f"phase_{phase}_ms"] for phase in PHASES)
    assert phase_sum == pytest.approx(data["phase_round_ms"], rel=1e-4)
    # Every made-up round spends the same on everything but the model.
    fixed = phase_sum - data[f"phase_{MODEL_PHASE}_ms"]
    assert data["overhead_fixed_ms"] == pytest.approx(fixed, rel=1e-4)
    shares = sorted(fixed / 1000 / r for r in ROUNDS)
    assert data["overhead_fixed_share"] == pytest.approx(shares[len(shares) // 2], rel=1e-4)
    for key in ("overhead_ratio", "overhead_ratio_min", "overhead_ratio_max", "overhead_spread"):
        assert key in data
    assert data["overhead_ratio_min"] <= data["overhead_ratio"] <= data["overhead_ratio_max"]
    assert "generation_vs_bare_ratio" in data


def test_the_table_shows_each_phase_with_its_share_and_the_spread() -> None:
    _, text = _report()
    phase_lines = [line for line in text.splitlines() if "round phase:" in line]
    assert len(phase_lines) == len(PHASES)
    assert all("ms" in line and "%" in line for line in phase_lines)
    assert "not the model: every phase but generation" in text
    assert "IQR ±" in text and "single pairs" in text and "n=7" in text
    (interval,) = [line for line in text.splitlines() if "the figure's 95% interval" in line]
    ratios = sorted(r / b for r, b in zip(ROUNDS, BARES, strict=True))
    assert f"{ratios[0]:.3f}–{ratios[-1]:.3f}" in interval and "±" in interval


def test_quartiles_of_an_odd_and_an_even_sample() -> None:
    assert quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == (1.5, 4.5)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.5, 3.5)
    assert quartiles([2.0]) == (2.0, 2.0)


def _coverage(n: int, k: int) -> float:
    """The chance that the k-th smallest and k-th largest of n values hold the median."""
    return 1 - 2 * sum(comb(n, i) for i in range(k)) / 2**n


def test_the_medians_interval_is_the_narrowest_that_holds_it_95_percent() -> None:
    for n in range(6, 80):
        low, high = median_interval([float(v) for v in range(1, n + 1)])
        k = int(low)  # the k-th smallest, and as the interval is symmetric the k-th largest
        assert high == n + 1 - k
        assert _coverage(n, k) >= 0.95 > _coverage(n, k + 1), n
    # The sign test's published ranks.
    for n, ranks in ((9, (2, 8)), (15, (4, 12)), (45, (16, 30))):
        assert median_interval([float(v) for v in range(n, 0, -1)]) == ranks


def test_too_few_values_for_the_medians_interval_give_their_range() -> None:
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)
    assert median_interval([2.0]) == (2.0, 2.0)
