"""The layout ARCHITECTURE.md describes, checked on the code's own imports (read with `ast`, nothing run).

- no import circle between our modules (a package's `__init__` counts: importing
  `handlers.crisis.x` runs `handlers/crisis/__init__.py` first; imports for the type checker
  count too, as `farm-studio look` counts them);
- storage/ imports neither bot/ nor handlers/; bot/ imports handlers/ only from the
  composition root (bot/app.py);
- no import of our own modules inside a function, except where the order of imports or the
  memory of a process is the point (listed below, with why).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")
COMPOSITION_ROOT = "bot.app"
LAZY_IMPORTS_ALLOWED = {
    # PTB must not be imported before _without_ptb_webhook_server() runs, and a demo run never
    # loads the runner (nor the runner the demo).
    "bot.__main__",
    # aiohttp's web server: 2 MiB that a polling process never needs.
    "bot.runner",
}


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:  # Alembic scripts: run by Alembic, not imported
                continue
            name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
    return found


MODULES = _modules()


def _imported(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    """Our modules this statement imports, each with the packages whose `__init__` it runs."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".")
            if importer not in {m for m in MODULES if (ROOT / m.replace(".", "/") / "__init__.py").exists()}:
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            # A module's own packages are already being imported: no arrow back up to them.
            if target in MODULES and target != importer and not importer.startswith(target + "."):
                yield target


def _walk(tree: ast.AST, inside_function: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, inside_function
        else:
            yield from _walk(child, inside_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))


def _arrows() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in MODULES.items():
        for node, _ in _walk(tree):
            arrows[name].update(_imported(node, name))
    return arrows


def _circles(arrows: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(arrows[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(arrows):
        if v not in index:
            visit(v)
    return circles


def test_the_modules_are_found() -> None:
    assert {"bot.app", "handlers", "handlers.core.feature", "storage.db"} <= MODULES.keys()


def test_no_import_circle() -> None:
    assert _circles(_arrows()) == []


def test_a_circle_would_be_seen() -> None:
    arrows = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(arrows) == [["a", "b", "c"]]


def test_storage_stands_alone_and_bot_reaches_features_only_from_the_composition_root() -> None:
    arrows = _arrows()
    upward = sorted(
        (importer, target)
        for importer, targets in arrows.items()
        for target in targets
        if (importer.startswith("storage") and not target.startswith("storage"))
        or (importer.startswith("bot") and target.startswith("handlers") and importer != COMPOSITION_ROOT)
    )
    assert upward == []
    assert "handlers" in arrows[COMPOSITION_ROOT]


def test_no_import_of_our_modules_inside_a_function() -> None:
    lazy = sorted(
        (name, target)
        for name, tree in MODULES.items()
        if name not in LAZY_IMPORTS_ALLOWED
        for node, inside in _walk(tree)
        if inside
        for target in _imported(node, name)
    )
    assert lazy == []
