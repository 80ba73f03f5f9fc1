"""`view_reuse_ratio` and `view_switch_ratio`: NPCs that each speak from what they witnessed.

Three NPCs enter a scene at different times and the first is whispered to, so each has a view
of the history of its own: its own prompt, and in the in-process engine its own KV snapshot.
Over 20 NPC turns taking turns among them, the engine's own counters give the share of prompt
tokens it reused; the baseline is the same scene where all three witnessed everything. Then
turns by an NPC whose view differs from the previous speaker's: time to the first token with
its view's snapshot kept, against the very same request from an empty context.

Each NPC turn is the director's prompt for that NPC (its view, its KV key) taken to the first
token, then a reply of filler, the same text in both scenes, evaluated into the view's context
as a generated one would be and stored. Only the prompts count; each NPC's first prompt does
not, so the figure is the reuse of a scene under way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from statistics import median
from typing import Any, Protocol

from rich.table import Table

from bot.bench.channels import Channel
from bot.bench.model import ModelBench
from bot.engine.base import Completion, GenerationRequest
from bot.prompts import Prompt
from bot.store import Character

VIEW_TURNS = 20  # the reuse figure's NPC turns, in both profiles


@dataclass(frozen=True)
class ViewSizes:
    """How long the views' scene runs before the figure's turns, and how often it is sampled."""

    lead_turns: int  # player and NPC turns before each entrance (and before the whisper)
    switch_samples: int  # view switches timed warm and cold


VIEW_SIZES = {
    # Prompts start at 900-1,400 tokens and grow to about 3,100 (quick) or 3,600 (full): inside
    # the bench's smallest context, 4,096 tokens, to the last turn (a moved window would make
    # that turn cold), and long enough that a cold start costs what it does in a real scene.
    "quick": ViewSizes(lead_turns=2, switch_samples=2),
    "full": ViewSizes(lead_turns=3, switch_samples=7),
}


@dataclass
class ViewFigures:
    """Raw samples of both figures; the report turns them into ratios."""

    own_reuse: float | None = None  # reused / prompt tokens, each NPC its own view
    shared_reuse: float | None = None  # the same turns where everyone witnessed everything
    turns: int = 0
    npcs: int = 0
    # Distinct KV snapshot keys the director's requests used in each scene.
    own_keys: int = 0
    shared_keys: int = 0
    prompt_tokens: list[int] = field(default_factory=list)  # the counted turns' prompts
    warm_s: list[float] = field(default_factory=list)  # first token, the view's snapshot kept
    cold_s: list[float] = field(default_factory=list)  # the same request, empty context
    restores: int = 0  # warm samples whose view's snapshot was restored
    cold_reused: int = 0  # prompt tokens the cold runs reused: none, or they were not cold
    # Of each warm sample: the prompt tokens it evaluated, and its KV snapshots' save and restore.
    warm_new_tokens: list[int] = field(default_factory=list)
    warm_kv_s: list[float] = field(default_factory=list)


def view_sizes(profile: str) -> ViewSizes:
    """The sizes of a bench profile (the full one's for a name it does not know)."""
    return VIEW_SIZES.get(profile, VIEW_SIZES["full"])


async def _fresh_channel(bench: ModelBench, seed: int) -> Channel:
    """A bench scene with no turns yet (the first one made is the example, which has some)."""
    channel = await bench.new_channel(seed)
    if await bench.core.stores.turns.lines(channel.scene.id, 1):
        channel = await bench.new_channel(seed)
    return channel


async def _player_turn(
    bench: ModelBench, channel: Channel, *, whisper_to: Sequence[int] = ()
) -> None:
    """A player's post (or, with `whisper_to`, a whisper only those characters witness)."""
    owner, player = channel.player()
    await bench.core.stores.turns.append(
        channel.scene.id,
        role="user",
        speaker=player.name,
        content=channel.filler.short(player.name),
        character_id=player.id,
        author_id=owner,
        kind="whisper" if whisper_to else "post",
        audience=list(whisper_to) if whisper_to else None,
    )
    channel.rounds += 1


async def _npc_line(
    bench: ModelBench, channel: Channel, npc: Character, text: str | None = None
) -> None:
    """A stored NPC line: `text`, or filler (the scene's past, not generated)."""
    await bench.core.stores.turns.append(
        channel.scene.id,
        role="model",
        speaker=npc.name,
        content=channel.filler.line(npc.name) if text is None else text,
        character_id=npc.id,
    )


async def view_scene(bench: ModelBench, seed: int, lead: int, *, shared: bool) -> Channel:
    """The views' scene: its NPCs enter one by one, then a player whispers to the first.

    With `shared`, the same turns where every NPC was present from the start and heard the
    whisper: everyone witnessed everything, so all views are one.
    """
    channel = await _fresh_channel(bench, seed)
    scenes, scene_id = bench.core.stores.scenes, channel.scene.id
    if not shared:
        for npc in channel.npcs[1:]:
            await scenes.remove_cast(scene_id, npc.id)
    for entered in range(1, len(channel.npcs) + 1):
        if not shared and entered > 1:
            await scenes.add_cast(scene_id, channel.npcs[entered - 1].id)
        for turn in range(lead):
            await _player_turn(bench, channel)
            await _npc_line(bench, channel, channel.npcs[turn % entered])
    first = channel.npcs[0].id
    await _player_turn(
        bench, channel, whisper_to=[n.id for n in channel.npcs] if shared else [first]
    )
    scene = await scenes.get(scene_id)
    channel.view = replace(await bench.core.views.view(scene), sampler=bench.sampler, max_replies=1)
    return channel


@dataclass(frozen=True)
class ViewTurn:
    """One NPC turn: its request (its view's prompt and KV key), the answer, the stored reply."""

    request: GenerationRequest
    completion: Completion
    reply: str
    prompt_tokens: int  # the engine's counters over the request alone
    reused_tokens: int
    kv_s: float  # the engine's time saving and restoring KV snapshots for it


async def npc_turn(bench: ModelBench, channel: Channel, npc: Character) -> ViewTurn:
    """A player's post, then `npc`'s turn: its prompt to the first token, and a stored reply.

    The prompt and its KV key are the director's; the reply stored is filler, the same text
    in both scenes, so the figures compare views and not what the model happened to say.
    """
    await _player_turn(bench, channel)
    plan = await bench.director.build_prompt(channel.view, npc.name)
    request = GenerationRequest(
        plan.rendered.prompt,
        replace(bench.sampler, max_tokens=1),
        plan.rendered.stops,
        channel=plan.channel,
    )
    stats, timings = bench.cache.stats, bench.engine.timings
    prompt, reused, kv_s = stats.prompt_tokens, stats.reused_tokens, timings.kv_s
    done = await bench.engine.complete(request)
    # Short replies keep the prompts of the last turns in the context window: a moved window
    # would make them cold.
    reply = channel.filler.short(npc.name)
    turn = ViewTurn(
        request,
        done,
        reply,
        stats.prompt_tokens - prompt,
        stats.reused_tokens - reused,
        timings.kv_s - kv_s,
    )
    await _reply_in_context(bench, turn)
    await _npc_line(bench, channel, npc, reply)
    return turn


async def _reply_in_context(bench: ModelBench, turn: ViewTurn) -> None:
    """The reply evaluated after its prompt, in its view's context: what generating it leaves.

    The next prompt of the view then reuses it, as the bot's would; not a counted request.
    """
    said = replace(turn.request, prompt=turn.request.prompt + Prompt.plain(f" {turn.reply}"))
    await bench.engine.complete(said)


async def reuse_over_turns(
    bench: ModelBench, channel: Channel, turns: int, figures: ViewFigures | None = None
) -> tuple[float, set[str]]:
    """Prompt tokens the engine reused over `turns` NPC turns in turn, and the keys it used.

    Each NPC speaks once first, uncounted, so each view has had its first prompt.
    """
    npcs = channel.npcs
    keys = {(await npc_turn(bench, channel, npc)).request.channel or "" for npc in npcs}
    prompt = reused = 0
    for turn in range(turns):
        done = await npc_turn(bench, channel, npcs[turn % len(npcs)])
        keys.add(done.request.channel or "")
        prompt, reused = prompt + done.prompt_tokens, reused + done.reused_tokens
        if figures is not None:
            figures.prompt_tokens.append(done.prompt_tokens)
    return reused / prompt if prompt else 0.0, keys


async def view_switches(
    bench: ModelBench, channel: Channel, samples: int, figures: ViewFigures, *, after: int = 0
) -> None:
    """Turns whose speaker's view differs from the last one's: first token warm, then cold.

    The speakers go on in turn from the `after`-th, so none speaks twice in a row.
    """
    npcs = channel.npcs
    for sample in range(samples):
        restores = bench.cache.stats.restores
        warm = await npc_turn(bench, channel, npcs[(after + sample) % len(npcs)])
        figures.restores += bench.cache.stats.restores > restores
        figures.warm_s.append(_first_token(warm.completion))
        figures.warm_new_tokens.append(warm.prompt_tokens - warm.reused_tokens)
        figures.warm_kv_s.append(warm.kv_s)
        # The same request again with no snapshot of its view and an empty context; then its
        # reply again, so the view's next turn is as warm as the others'.
        await bench.engine.reset_context(forget=warm.request.channel)
        reused = bench.cache.stats.reused_tokens
        figures.cold_s.append(_first_token(await bench.engine.complete(warm.request)))
        figures.cold_reused += bench.cache.stats.reused_tokens - reused
        await _reply_in_context(bench, warm)


def _first_token(done: Completion) -> float:
    return done.first_token_seconds if done.first_token_seconds is not None else done.total_seconds


async def measure_views(
    bench: ModelBench,
    sizes: ViewSizes,
    note: Callable[[str], None],
    *,
    turns: int = VIEW_TURNS,
) -> ViewFigures:
    """Both figures: reuse with own views against one shared view, then timed view switches."""
    figures = ViewFigures(turns=turns)
    shared = await view_scene(bench, 905, sizes.lead_turns, shared=True)
    figures.shared_reuse, shared_keys = await reuse_over_turns(bench, shared, turns)
    own = await view_scene(bench, 905, sizes.lead_turns, shared=False)
    figures.own_reuse, own_keys = await reuse_over_turns(bench, own, turns, figures)
    figures.npcs, figures.own_keys, figures.shared_keys = (
        len(own.npcs),
        len(own_keys),
        len(shared_keys),
    )
    note(
        f"own views {figures.own_reuse:.1%} of prompt tokens reused ({len(own_keys)} KV keys), "
        f"one shared view {figures.shared_reuse:.1%} ({len(shared_keys)})"
    )
    await view_switches(bench, own, sizes.switch_samples, figures, after=turns)
    for warm, cold in zip(figures.warm_s, figures.cold_s, strict=True):
        note(f"view switch: first token {warm:.3f} s, the same request cold {cold:.3f} s")
    return figures


# -- the report: figures and table rows (the bench's report imports this module) --

VIEW_REUSE_TARGET = 0.85  # own views keep at least this much of one shared view's reuse
VIEW_SWITCH_TARGET = 0.1  # a view's first token with its snapshot, against none


class Report(Protocol):
    """Where figures go (the bench's `Report`)."""

    meta: dict[str, Any]

    def put(self, key: str, value: float | None) -> None: ...


def put_views(report: Report, figures: ViewFigures | None) -> None:
    """The two ratios, what they are made of, and the scene's shape in the meta."""
    if figures is None:
        return
    put = report.put
    own, shared = figures.own_reuse, figures.shared_reuse
    put("view_own_reuse", own)
    put("view_shared_reuse", shared)
    put("view_reuse_ratio", own / shared if own is not None and shared else None)
    put("ttft_view_warm_s", median(figures.warm_s) if figures.warm_s else None)
    put("ttft_view_cold_s", median(figures.cold_s) if figures.cold_s else None)
    # The median of each warm sample's ratio to the same request cold, run right after it.
    pairs = [w / c for w, c in zip(figures.warm_s, figures.cold_s, strict=False) if c > 0]
    put("view_switch_ratio", median(pairs) if pairs else None)
    report.meta["views"] = {
        "turns": figures.turns,
        "npcs": figures.npcs,
        "own_keys": figures.own_keys,
        "shared_keys": figures.shared_keys,
        "prompt_tokens": median(figures.prompt_tokens) if figures.prompt_tokens else 0,
        "warm_new_tokens": median(figures.warm_new_tokens) if figures.warm_new_tokens else 0,
        "warm_kv_ms": median(figures.warm_kv_s) * 1000 if figures.warm_kv_s else 0,
        "switch_samples": len(pairs),
        "restores": figures.restores,
    }


def view_rows(table: Table, f: Callable[[str], float | None], meta: dict[str, Any]) -> None:
    """Reuse with own views against one shared view, and switching views warm against cold."""
    views = meta.get("views")
    if not views:
        return
    table.add_row(
        f"prefix reuse over {views['turns']} turns of {views['npcs']} NPCs: each its own view "
        f"({views['own_keys']} KV keys) vs all witnessed everything",
        _pct(f("view_own_reuse")),
        _pct(f("view_shared_reuse")),
        _number(f("view_reuse_ratio"), 2),
        _verdict(f("view_reuse_ratio"), VIEW_REUSE_TARGET, floor=True),
    )
    table.add_row(
        f"switching views ({views['prompt_tokens']:,.0f}-token prompts): first token with the "
        f"view's KV snapshot ({views['restores']} of n={views['switch_samples']} restored, "
        f"{views['warm_new_tokens']:,.0f} new tokens, snapshots {views['warm_kv_ms']:.0f} ms) "
        "vs cold",
        _seconds(f("ttft_view_warm_s")),
        _seconds(f("ttft_view_cold_s")),
        _number(f("view_switch_ratio"), 3),
        _verdict(f("view_switch_ratio"), VIEW_SWITCH_TARGET),
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _verdict(value: float | None, target: float, *, floor: bool = False) -> str:
    if value is None:
        return "[yellow]not measured[/]"
    met = value >= target if floor else value <= target
    return f"{'≥' if floor else '≤'} {target:g} {'[green]met[/]' if met else '[red]not met[/]'}"
