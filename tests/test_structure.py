"""The shape of the code: a Discord-free core, no import cycles, services above the engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "cogs")


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports (at any depth of its code, lazy imports too)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {name: path for package in PACKAGES for name, path in _modules(package)}
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> list[str] | None:
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done and (found := visit(target)):
                return found
        stack.pop()
        on_stack.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (found := visit(module)):
            return found
    return None


def test_no_import_cycle_in_bot_or_cogs() -> None:
    graph = _graph()
    assert "bot.core" in graph and "cogs.bot" in graph  # the walk saw the real tree
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_importing_every_core_module_loads_no_discord() -> None:
    names = [name for name, _ in _modules("bot") if not name.endswith("__main__")]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(len([n for n in sys.modules if n == 'discord' or n.startswith('discord.')]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert len(names) > 30
    assert result.stdout.strip() == "0"


def test_the_core_reaches_the_adapter_only_to_run_the_bot() -> None:
    graph = _graph()
    reaching = {(m, t) for m, targets in graph.items() if m.startswith("bot") for t in targets}
    assert {(m, t) for m, t in reaching if t.startswith("cogs")} == {("bot.cli", "cogs.bot")}


def test_services_and_cogs_never_touch_the_engine() -> None:
    graph = _graph()
    for module, targets in graph.items():
        if module.startswith(("bot.channel", "bot.terminal", "cogs")) or module.endswith(
            ".service"
        ):
            assert not any(t.startswith("bot.engine") for t in targets), module


def test_nothing_imports_the_cli_or_the_composition_root_back() -> None:
    graph = _graph()
    cli_users = {m for m, targets in graph.items() if "bot.cli" in targets}
    assert cli_users == {"bot.__main__"}
    core_users = {m for m, targets in graph.items() if "bot.core" in targets}
    # The bench is an entry point too: it composes its own core over a scratch database.
    entry_points = {m for m in core_users if m == "bot.bench" or m.startswith("bot.bench.")}
    assert core_users - entry_points <= {"bot.cli", "cogs.bot"}, core_users


def test_features_and_front_ends_stay_apart() -> None:
    """The runtime knows no feature; no feature knows a front end; the terminal is no cog."""
    graph = _graph()
    features = {m for m in graph if m.endswith((".service", ".wording"))}
    assert {"bot.characters.service", "bot.lore.service", "bot.memory.service"} <= features
    for module, targets in graph.items():
        if module.startswith("bot.channel"):
            assert not targets & features, module
        if module in features:
            assert not any(t.startswith(("bot.terminal", "cogs")) for t in targets), module
    assert not any(t.startswith("cogs") for t in graph["bot.terminal.chat"])
