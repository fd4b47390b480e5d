"""The layering rules of docs/conventions.md, read from the source's imports with `ast`.

Every import counts, function-level ones included; only imports under `if TYPE_CHECKING:` do
not, since they never run. Each rule names the offending files, so a failure says what to move.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = "artisan"
SOURCE = Path(__file__).resolve().parents[2] / "src" / PACKAGE
# Layers below the domains, and the modules that assemble the domains into processes.
FOUNDATION = ("core", "models", "migrations")
CONFIG = f"{PACKAGE}.config"
ASSEMBLERS = tuple(f"{PACKAGE}.{name}" for name in ("app", "worker", "cli", "bootstrap"))
MAX_LINES = 600


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, resolved to a module of the package."""

    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import node, skipping the bodies of `if TYPE_CHECKING:` blocks."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def _resolve(name: str) -> str | None:
    """The package module a dotted name refers to (its longest known prefix)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """The package modules `module` imports."""
    path = modules()[module]
    return imports_in(module, path.read_text(), is_package=path.name == "__init__.py")


def imports_in(module: str, source: str, *, is_package: bool = False) -> tuple[Import, ...]:
    """The package modules that `source`, the text of `module`, imports."""
    tree = ast.parse(source)
    found: set[Import] = set()
    for node in _import_nodes(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports that module; `from module import name`, the
            # module that defines the name.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base
                for alias in node.names
            ]
        for name in names:
            target = _resolve(name) if name.split(".")[0] == PACKAGE else None
            if target is not None and target != module:
                found.add(Import(module, target, node.lineno))
    return tuple(sorted(found, key=lambda i: (i.line, i.target)))


def _layer(module: str) -> str:
    """`core`, `models`, `migrations`, a domain's name, or the top-level module's own name."""
    parts = module.split(".")
    if len(parts) == 1:
        return PACKAGE
    if (SOURCE / parts[1]).is_dir():
        return parts[1]
    return module


def _is_domain(module: str) -> bool:
    layer = _layer(module)
    return layer not in FOUNDATION and (SOURCE / layer).is_dir()


def _report(rule: str, offending: list[str]) -> str:
    return "\n  ".join([f"{rule}:", *offending])


def _all_imports() -> list[Import]:
    return [found for module in modules() for found in imports_of(module)]


def test_the_reader_sees_every_kind_of_import() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import artisan.core.db
from artisan.core import errors
from artisan.config import Settings
from . import service
from .schemas import LeadOut
if TYPE_CHECKING:
    from artisan.audit.recorder import Actor
def later() -> None:
    from artisan.webhooks.emit import emit_event
"""
    targets = {i.target for i in imports_in("artisan.leads.routes", source)}
    assert targets == {
        "artisan.core.db",
        "artisan.core.errors",
        "artisan.config",
        "artisan.leads.service",
        "artisan.leads.schemas",
        "artisan.webhooks.emit",
    }
    assert len(modules()) > 50
    assert "artisan.app" in modules()


def test_core_and_config_import_no_domain() -> None:
    offending = [
        str(i)
        for i in _all_imports()
        if (_layer(i.source) == "core" or i.source == CONFIG)
        and _layer(i.target) != "core"
        and i.target != CONFIG
    ]
    assert not offending, _report(
        "core/ and config.py may import only core/ and config.py", offending
    )


def test_models_import_only_core_and_config() -> None:
    offending = [
        str(i)
        for i in _all_imports()
        if _layer(i.source) == "models"
        and _layer(i.target) not in ("models", "core")
        and i.target != CONFIG
    ]
    assert not offending, _report("models/ may import only models/, core/ and config.py", offending)


def test_no_routes_module_imports_another_domains_routes() -> None:
    offending = [
        str(i)
        for i in _all_imports()
        if i.source.endswith(".routes")
        and i.target.endswith(".routes")
        and _layer(i.source) != _layer(i.target)
    ]
    assert not offending, _report(
        "a domain's routes.py calls other domains' services, not their routes", offending
    )


def test_routes_and_tasks_are_imported_only_by_their_assembler() -> None:
    # Routers and Celery tasks are entry points: app.py mounts the routers and worker.py loads
    # the tasks; another domain reaches the work through the owning domain's service.
    entry_points = {"routes": f"{PACKAGE}.app", "tasks": f"{PACKAGE}.worker"}
    offending = [
        str(i)
        for i in _all_imports()
        for kind, assembler in entry_points.items()
        if i.target.endswith(f".{kind}")
        and i.source != assembler
        and _layer(i.source) != _layer(i.target)
    ]
    assert not offending, _report(
        "only app.py imports routes and only worker.py imports tasks", offending
    )


def test_only_domain_events_modules_emit_webhooks() -> None:
    # A domain's facts are announced from one place, its domain_events.py, with typed payloads;
    # inside webhooks/, endpoint health announces its own.
    emit = f"{PACKAGE}.webhooks.emit"
    offending = [
        str(i)
        for i in _all_imports()
        if i.target == emit
        and _layer(i.source) != "webhooks"
        and not i.source.endswith(".domain_events")
        and i.source not in ASSEMBLERS
    ]
    assert not offending, _report(
        "outside webhooks/, only a domain's domain_events.py imports webhooks.emit", offending
    )


def test_no_domain_imports_the_assemblers() -> None:
    offending = [
        str(i)
        for i in _all_imports()
        if (_is_domain(i.source) or _layer(i.source) in FOUNDATION) and i.target in ASSEMBLERS
    ]
    assert not offending, _report(
        f"app, worker, cli and bootstrap assemble the domains: {ASSEMBLERS}", offending
    )


def import_graph() -> dict[str, set[str]]:
    """Each module and the package modules it imports."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for found in _all_imports():
        graph[found.source].add(found.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def test_no_import_cycles() -> None:
    described = []
    for component in cycles(import_graph()):
        members = set(component)
        ties = [str(i) for m in component for i in imports_of(m) if i.target in members]
        described.append(f"{' <-> '.join(component)}: {'; '.join(ties)}")
    assert not described, _report(
        "modules that import each other (function-level imports count)", described
    )


def test_cycle_finder_on_a_graph_built_by_hand() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}, "f": {"f", "g"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_source_file_over_the_limit() -> None:
    lengths = {
        module: len(path.read_text().splitlines())
        for module, path in modules().items()
        if _layer(module) != "migrations"
    }
    too_long = sorted(f"{m}: {n} lines" for m, n in lengths.items() if n > MAX_LINES)
    assert not too_long, _report(
        f"split these along their seams (the limit is {MAX_LINES} lines)", too_long
    )
