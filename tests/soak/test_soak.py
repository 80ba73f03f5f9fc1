"""The soak, small: the real bot, the fake Discord and the suite's llama-server for ~20 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.harness import SoakConfig, run_soak
from tests.soak.report import shortfalls

pytestmark = pytest.mark.model  # llama-server runs the demo model

# Four channels of three players, each posting every ~10 s for 20 s: about 25 posts and a
# dozen short rounds (one NPC turn of at most 40 tokens); the drain bound keeps the whole test
# near a minute and a half at worst.
SMOKE = SoakConfig(
    channels=4,
    players=3,
    seconds=20.0,
    mean_gap=10.0,
    max_new_tokens=40,
    max_replies=1,
    drain_timeout=60.0,
)
# Generous: a short run's baseline is small, and the first rounds warm caches up.
SMOKE_RSS_GROWTH = 0.5


async def test_a_short_busy_evening_loses_nothing(tmp_path: Path, llama_server_url: str) -> None:
    result = await run_soak(SMOKE, llama_server_url, tmp_path)
    figures = result.figures
    assert figures["posts_sent"] and figures["rounds"], figures  # the evening took place
    missed = shortfalls(result, rss_growth=SMOKE_RSS_GROWTH)
    stacks = ["\n".join(stack) for stack in result.watch.stall_stacks]  # where the loop stalled
    assert not missed, "\n".join([*missed, str(figures), *stacks])
