"""The overhead figure's spread and the round's phases, as figures and as table rows."""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from statistics import mean, median
from typing import TYPE_CHECKING, Protocol

from rich.table import Table

from bot.bench.phases import MODEL_PHASE, PHASES

if TYPE_CHECKING:
    from bot.bench.model import ModelFigures

OVERHEAD_TARGETS = {"full": 1.02, "quick": 1.05}  # issue #24
FIXED_SHARE_TARGET = 0.02  # everything but the model, as a share of the round
# The overhead figure's own spread: half its 95 % interval, as a share of it. Single pairs
# swing ±5-10 % (the VM's speed changes from one decode to the next) and longer rounds narrow
# that little, so the figure holds by the number of pairs.
SPREAD_TARGET = 0.03
CONFIDENCE = 0.95

_LABELS = {
    "store_player_turn": "store the player's turn (one commit)",
    "scene_view": "scene view: cast, players, summary, state",
    "history_read": "history window read",
    "token_counting": "token counting (cached per block)",
    "lore_activation": "lore activation",
    "prompt_build": "prompt build and render",
    "tokenize": "tokenize the prompt (cached per segment)",
    "kv_snapshot": "KV cache: match, save or restore a snapshot",
    MODEL_PHASE: "generation: llama.cpp evaluating and sampling",
    "stream": "streaming each token to the director",
    "worker_handoff": "hand-off to and from the model's thread",
    "impersonation_trim": "impersonation trim",
    "store_npc_turn": "store the NPC turn (one commit)",
    "other": "other (the rest of the round's wall time)",
}


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles (medians of the lower and upper halves)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    lower, upper = ordered[:half], ordered[len(ordered) - half :]
    return (median(lower), median(upper)) if half else (ordered[0], ordered[0])


def median_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The narrowest pair of order statistics that holds the true median with `confidence`.

    Distribution-free: the true median lies below the k-th smallest of n values when fewer than
    k of them fall below it, the binomial chance P(B(n, 1/2) < k); above the k-th largest, the
    same. Written out because the standard library has no such interval and the bench should
    not need SciPy for it. Too few values for `confidence`: (min, max).
    """
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2
    below = 0  # P(B(n, 1/2) < k): the chance the median lies below the k-th smallest
    k = 0
    while k < n // 2 and below + comb(n, k) / 2**n <= tail:
        below += comb(n, k) / 2**n
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


class Report(Protocol):
    """Where figures go (the bench's `Report`, which imports this module)."""

    def put(self, key: str, value: float | None) -> None: ...


def pair_ratios(model: ModelFigures) -> list[float]:
    """Each overhead round's time over its bare replay's, in the order they ran."""
    return [r / b for r, b in zip(model.round_s, model.bare_s, strict=False) if b > 0]


def put_overhead(report: Report, model: ModelFigures) -> None:
    """The paired ratios' median and spread, generation against the bare run, and the phases."""
    put = report.put
    ratios = pair_ratios(model)
    if ratios:
        middle = median(ratios)
        put("overhead_ratio", middle)
        put("overhead_ratio_min", min(ratios))
        put("overhead_ratio_max", max(ratios))
        low, high = quartiles(ratios)
        put("overhead_spread", (high - low) / 2 / middle)
        low, high = median_interval(ratios)
        put("overhead_ratio_low", low)
        put("overhead_ratio_high", high)
        put("overhead_figure_spread", (high - low) / 2 / middle)
    else:
        put("overhead_ratio", None)  # listed as missing
    phases = model.round_phases
    if not phases:
        return
    generation = [p[MODEL_PHASE] / b for p, b in zip(phases, model.bare_s, strict=False) if b > 0]
    put("generation_vs_bare_ratio", median(generation) if generation else None)
    # Means, so the phases add up to the mean round; the fixed cost's figures are medians of
    # each round's own, so one round the machine stalled does not move them.
    put("phase_round_ms", mean(model.round_s[: len(phases)]) * 1000)
    for phase in PHASES:
        put(f"phase_{phase}_ms", mean(p[phase] for p in phases) * 1000)
    fixed = [sum(v for k, v in p.items() if k != MODEL_PHASE) for p in phases]
    put("overhead_fixed_ms", median(fixed) * 1000)
    shares = [f / r for f, r in zip(fixed, model.round_s, strict=False) if r > 0]
    put("overhead_fixed_share", median(shares) if shares else None)


def _verdict(value: float | None, target: float, fmt: Callable[[float], str]) -> str:
    if value is None:
        return "[yellow]not measured[/]"
    met = "[green]met[/]" if value <= target else "[red]not met[/]"
    return f"≤ {fmt(target)} {met}"


def overhead_row(table: Table, f: Callable[[str], float | None], meta: dict[str, object]) -> None:
    """The overhead figure, its spread and its target for the profile."""
    target = OVERHEAD_TARGETS.get(str(meta.get("profile")), OVERHEAD_TARGETS["full"])
    low, high, spread = f("overhead_ratio_min"), f("overhead_ratio_max"), f("overhead_spread")
    spread_text = (
        f"; single pairs {low:.3f}–{high:.3f}, IQR ±{spread:.1%}"
        if low is not None and high is not None and spread is not None
        else ""
    )
    round_s, bare_s = f("overhead_round_s"), f("overhead_bare_s")
    table.add_row(
        f"overhead: director round vs bare Llama ({f('overhead_tokens') or 0:.0f} tokens, "
        f"median of n={meta.get('overhead_samples')} paired ratios{spread_text})",
        "—" if round_s is None else f"{round_s:.3f} s",
        "—" if bare_s is None else f"{bare_s:.3f} s",
        "—" if f("overhead_ratio") is None else f"{f('overhead_ratio'):.3f}",
        _verdict(f("overhead_ratio"), target, lambda t: f"{t:g}"),
    )
    low, high, spread = (
        f("overhead_ratio_low"),
        f("overhead_ratio_high"),
        f("overhead_figure_spread"),
    )
    if low is not None and high is not None and spread is not None:
        table.add_row(
            f"  the figure's {CONFIDENCE:.0%} interval (order statistics of the pairs)",
            f"{low:.3f}–{high:.3f}",
            "",
            f"±{spread:.1%}",
            _verdict(spread, SPREAD_TARGET, lambda t: f"±{t:.0%}"),
        )


def phase_rows(table: Table, f: Callable[[str], float | None], meta: dict[str, object]) -> None:
    """One row per phase of the overhead rounds: mean ms and share of the round."""
    round_ms = f("phase_round_ms")
    if not round_ms:
        return
    table.add_section()
    for phase in PHASES:
        ms = f(f"phase_{phase}_ms") or 0.0
        table.add_row(
            f"  round phase: {_LABELS[phase]}", f"{ms:.2f} ms", "", f"{ms / round_ms:.2%}", ""
        )
    fixed, share = f("overhead_fixed_ms"), f("overhead_fixed_share")
    generation = f("generation_vs_bare_ratio")
    table.add_row(
        f"not the model: every phase but generation, median of the rounds' own "
        f"(phases above: means of n={meta.get('overhead_samples')}; generation vs bare "
        f"{'—' if generation is None else f'{generation:.3f}'})",
        "—" if fixed is None else f"{fixed:.1f} ms",
        "" if f("overhead_round_s") is None else f"{(f('overhead_round_s') or 0) * 1000:.0f} ms",
        "—" if share is None else f"{share:.2%}",
        _verdict(share, FIXED_SHARE_TARGET, lambda t: f"{t:.0%}"),
    )
    table.add_section()
