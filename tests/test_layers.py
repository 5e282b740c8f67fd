"""Imports point down: a module may import its own layer and the ones below, never one above.

The order, lowest first — each line says why it sits where it does. A new upward import (or an
import cycle between modules) fails this test; move the code down or invert the call (the run-end
listeners registered in ``app.py`` are the example: the runner does not call retries or schedules).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1] / "backend"
LAYERS: list[tuple[str, ...]] = [
    # settings, errors, the db handle, the key box, the run-side SDK: imported by everyone
    ("backend", "backend.config", "backend.errors", "backend.extensions", "backend.secretbox", "backend.sdk"),
    ("backend.models",),  # tables
    ("backend.database",),  # connection rules and migrations over the models
    # pure rules without a database, which request schemas validate with
    ("backend.services.params", "backend.services.scheduler.cron"),
    ("backend.schemas",),  # request and response shapes
    ("backend.services",),  # what the product does
    ("backend.policies", "backend.security"),  # who may do it
    ("backend.api",),  # HTTP: parse, authorise, call a service, serialise
    ("backend.openapi_doc", "backend.app"),  # composition: the app wires the layers together
    ("backend.cli", "backend.cli_run", "backend.server", "backend.server_worker"),  # entry points
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(BACKEND.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, length = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Backend modules ``path`` imports anywhere (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("backend"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("backend")}
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module(p): p for p in BACKEND.rglob("*.py")}
    return {module: _imports(path, set(paths)) for module, path in paths.items()}


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            connect(module)
    assert cycles == []


def test_the_check_sees_an_upward_import() -> None:
    """The walk itself works: a model importing the API would be reported."""
    assert _layer("backend.models.execution") < _layer("backend.api.logs")
    assert "backend.services.executor" in {t.rsplit(".", 1)[0] for t in _graph()["backend.services.executor.runner"]}
    counts: dict[int, int] = defaultdict(int)
    for module in _graph():
        counts[_layer(module)] += 1
    assert all(counts[i] for i in range(len(LAYERS))), counts
