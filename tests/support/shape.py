"""The shape of the code, counted: `python -m tests.support.shape` prints modules over 300 lines,
functions over 60, every `type: ignore`, import circles and imports that run up the layers.

Imports are read from the source (ast), wherever they sit (top, function, TYPE_CHECKING); an
import of a package counts as one of its `__init__`. Layers, lowest first: a module may import
its own layer and the ones below."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "worker", "pushgate_cli")
MAX_MODULE, MAX_FUNCTION = 300, 60
# (layer, module prefixes); the longest matching prefix decides.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("worker", "worker.errors", "worker.settings", "worker.policies", "worker.reference")),
    (0, ("worker.redaction", "worker.logs", "worker.redisconn", "worker.multiprocess")),
    (0, ("worker.liveness", "worker.chatops.settings", "worker.secret")),
    (0, ("worker.loops", "worker.timestamps", "worker.durations", "worker.waits")),
    (1, ("worker.registry", "worker.daemon", "worker.prometheus_metrics")),
    (2, ("worker.targets", "worker.targets_file", "worker.apps_file", "worker.engines")),
    (2, ("worker.apps", "worker.jobs")),
    (3, ("worker.webhooks", "worker.chatops")),
    (4, ("worker.startup", "worker.context", "worker.gunicorn_conf", "worker.schema_rules")),
    (5, ("worker.celery", "worker.tasks", "worker.facade")),
    (6, ("api", "pushgate_cli")),
]


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def layer(module: str) -> int:
    """The layer of `module` (its longest matching prefix)."""
    best, chosen = -1, 0
    for number, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, chosen = len(prefix), number
    return chosen


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `module` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` loads the module; a name from the package itself
            # counts as the package's __init__.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def long_functions(path: Path) -> Iterator[tuple[str, int]]:
    """(name, lines) of every function over MAX_FUNCTION lines."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION:
                yield node.name, lines


def main() -> int:
    """Print the counts; exit 1 when any rule is broken."""
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    big = [(n, len(p.read_text().splitlines())) for n, p in known.items()]
    big = [(n, lines) for n, lines in big if lines > MAX_MODULE]
    long = [(n, f, lines) for n, p in known.items() for f, lines in long_functions(p)]
    ignores = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in known.values()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    upward = sorted(
        f"{a} ({layer(a)}) -> {b} ({layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer(b) > layer(a)
    )
    found = circles(graph)
    print(f"modules: {len(known)}, over {MAX_MODULE} lines: {len(big)} {big}")
    print(f"functions over {MAX_FUNCTION} lines: {len(long)} {long}")
    print(f"type: ignore: {len(ignores)}")
    for line in ignores:
        print("  " + line)
    print(f"import circles: {len(found)}")
    for group in found:
        print("  " + " <-> ".join(group))
    print(f"upward imports: {len(upward)}")
    for line in upward:
        print("  " + line)
    return 1 if big or long or found or upward else 0


if __name__ == "__main__":
    sys.exit(main())
