"""`lore_scan_ms`: lore activation over a generated 1,000-entry book with 8 turns of scan depth.

Each sample scans turns it has never seen (so no per-turn key hits are remembered), through the
whole activation the director runs: key matching, secondary logic, recursion, the sticky
look-back, macros, token counts and the budget. Compiling the book happens once per book
version and is reported on its own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

from bot.bench.text import FillerText
from bot.lore import CompiledBook, Lorebook, LoreConfig, LoreEntry, LoreSource, activate_lore
from bot.lore.model import LOGICS
from bot.lore.placement import CountMany

# Words the bench's filler turns use, so a share of the entries really fires.
_COMMON = (
    "fog",
    "lamps",
    "customs gate",
    "tithe office",
    "ledger",
    "chain",
    "gulls",
    "tide",
    "crates",
    "beacon",
    "lighthouse",
    "watch house",
    "footprints",
    "lantern",
    "reef",
)
_SYLLABLES = ("var", "osk", "tel", "mir", "dun", "ka", "lor", "bre", "sil", "ath", "qua", "rhen")


@dataclass
class LoreFigures:
    """Medians of the lore activation samples."""

    scan_ms: float | None = None
    compile_ms: float | None = None
    entries: int = 0
    scan_depth: int = 0
    keys: int = 0
    fired: float = 0.0
    dropped: float = 0.0
    samples: int = 0


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()


def _entry(index: int, rng: random.Random, names: list[str]) -> LoreEntry:
    """A varied entry: names for keys, some common words, secondary logic, a few regexes."""
    keys = [rng.choice(names) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.05:
        keys.append(rng.choice(_COMMON))
    if rng.random() < 0.02:
        keys = [f"/{keys[0]}s?/i"]
    extensions: dict[str, object] = {}
    secondary: tuple[str, ...] | None = None
    if rng.random() < 0.2:
        secondary = (rng.choice(_COMMON), rng.choice(names))
        extensions["selectiveLogic"] = rng.randrange(len(LOGICS))
    if rng.random() < 0.05:
        extensions["match_whole_words"] = False
    # About one entry in six names another entry, so recursion has something to follow.
    mention = f" It is tied to {rng.choice(names)}." if rng.random() < 0.15 else ""
    content = f"Entry {index} of the harbor's long memory." + mention + " Nobody forgets." * 4
    return LoreEntry(
        keys=tuple(keys),
        content=content,
        uid=index,
        secondary_keys=secondary,
        selective=secondary is not None,
        constant=index % 100 == 0,
        insertion_order=rng.randint(0, 200),
        priority=rng.randint(0, 10),
        extensions=extensions,
    )


def generated_book(entries: int = 1000, seed: int = 7) -> Lorebook:
    """A deterministic book of `entries` entries over a few hundred made-up names."""
    rng = random.Random(seed)
    names = sorted({_name(rng) for _ in range(entries)})
    return Lorebook(entries=tuple(_entry(i, rng, names) for i in range(entries)), name="bench book")


async def measure_lore(
    count_many: CountMany,
    *,
    entries: int,
    scan_depth: int,
    samples: int,
    note: Callable[[str], None],
) -> LoreFigures:
    """Median activation time over `samples` fresh sets of turns."""
    book = generated_book(entries)
    started = time.perf_counter()
    compiled = CompiledBook(book)
    compile_ms = (time.perf_counter() - started) * 1000
    config = LoreConfig(scan_depth=scan_depth)
    filler = FillerText(4242)
    speakers = ("Rook", "Marta Vell", "Ilse", "Old Tobin")
    span = scan_depth + config.sticky
    times: list[float] = []
    fired: list[int] = []
    dropped: list[int] = []
    for sample in range(samples + 1):  # the first run warms the token counter's cache
        turns = [f"{s}: {filler.line(s)}" for s in (speakers * span)[:span]]
        started = time.perf_counter()
        result = await activate_lore(
            [LoreSource(compiled, "Marta Vell")],
            turns,
            user="Rook and Ilse",
            config=config,
            budget=config.budget,
            count_many=count_many,
        )
        if sample:
            times.append((time.perf_counter() - started) * 1000)
            fired.append(len(result.fired))
            dropped.append(len(result.dropped))
    figures = LoreFigures(
        scan_ms=median(times) if times else None,
        compile_ms=compile_ms,
        entries=entries,
        scan_depth=scan_depth,
        keys=len(compiled.table.specs),
        fired=median(fired) if fired else 0.0,
        dropped=median(dropped) if dropped else 0.0,
        samples=len(times),
    )
    note(
        f"lore activation over {entries:,} entries, scan depth {scan_depth}: "
        f"{figures.scan_ms or 0:.2f} ms ({figures.fired:.0f} fired, "
        f"{figures.dropped:.0f} over budget); compile {compile_ms:.0f} ms"
    )
    return figures
