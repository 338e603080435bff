"""The import graph of our packages: no cycles, and every layer imports only the ones below.

Layers, bottom up: ``protocol/`` (the wire format: imports none of our packages),
``engines/`` (models behind interfaces: may import ``protocol/``), ``realtime/`` (the
server: may import both). ``testkit/`` (helpers of the tests and benchmarks) may import
all three, and none of them may import it; ``bench/`` and ``testkit/`` never import
``tests/``.

Every ``import`` statement counts, wherever it stands: at module level, inside a function,
under ``if TYPE_CHECKING:`` (a dependency all the same). ``from X import Y`` is an edge to
``X.Y`` when that is one of our modules, else to ``X``; relative imports are resolved. The
parent packages that Python runs on the way to a module are not edges (what a module's
``__init__`` itself imports is).
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WALKED = ("protocol", "engines", "realtime", "testkit", "bench")
# What each walked package must not import (top-level names).
FORBIDDEN = {
    "protocol": {"engines", "realtime", "testkit", "bench", "tests"},
    "engines": {"realtime", "testkit", "bench", "tests"},
    "realtime": {"testkit", "bench", "tests"},
    "testkit": {"bench", "tests"},
    "bench": {"tests"},
}

Graph = Mapping[str, Iterable[str]]


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to an absolute module name."""

    source: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.source} imports {self.target}"


# --- collecting imports ---------------------------------------------------------------------


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Module name → file, for every ``.py`` file under ``packages`` (``__init__`` = package)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def resolve_from(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import …`` written in ``module``."""
    if level == 0:
        return target or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_in(
    source: str, module: str, is_package: bool, known: set[str]
) -> Iterator[tuple[str, int]]:
    """(absolute target, line) of every import statement in ``source``, however nested."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(module, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


def collect_imports(root: Path = REPO, packages: Iterable[str] = WALKED) -> list[Import]:
    """Every import statement of every module under ``packages``."""
    files = module_files(root, packages)
    known = set(files)
    return [
        Import(name, target, path, line)
        for name, path in files.items()
        for target, line in imports_in(path.read_text(), name, path.name == "__init__.py", known)
    ]


def graph_of(imports: Iterable[Import], known: set[str]) -> dict[str, set[str]]:
    """Module → the modules of ours it imports (an import of a name inside one counts as it)."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for edge in imports:
        target = edge.target
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            graph[edge.source].add(target)
    return graph


# --- cycles ---------------------------------------------------------------------------------


def cyclic_components(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module, or one that imports itself.

    Tarjan's algorithm without recursion; each component sorted, the list sorted.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph.get(succ, ()))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return sorted(found)


def one_cycle(graph: Graph, component: list[str]) -> list[str]:
    """A shortest import chain from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph.get(node, ())):
            if succ == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if succ in members and succ not in came_from:
                came_from[succ] = node
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")  # not a cyclic component


def describe_cycles(graph: Graph) -> list[str]:
    """One readable line per cyclic component: a cycle through it, then all its members."""
    return [
        " -> ".join(one_cycle(graph, component)) + f"   (component: {', '.join(component)})"
        for component in cyclic_components(graph)
    ]


# --- layers ---------------------------------------------------------------------------------


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """The imports that reach a package their own package must not import."""
    return [
        str(edge)
        for edge in imports
        if edge.target.split(".")[0] in FORBIDDEN.get(edge.source.split(".")[0], ())
    ]


# --- the checks themselves ----------------------------------------------------------------


def test_the_cycle_finder_reports_loops_and_self_imports_and_passes_a_dag():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"d"},
        "e": {"a", "f"},
        "f": set(),
    }
    assert cyclic_components(graph) == [["a", "b", "c"], ["d"]]
    assert describe_cycles(graph) == [
        "a -> b -> c -> a   (component: a, b, c)",
        "d -> d   (component: d)",
    ]
    assert cyclic_components({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_layer_check_reports_upward_imports():
    here = REPO / "x.py"
    imports = [
        Import("protocol.events", "engines.base", here, 1),
        Import("engines.asr.whisper", "realtime.server.settings", here, 2),
        Import("engines.asr.whisper", "protocol.events", here, 3),
        Import("realtime.server.app", "engines.base", here, 4),
        Import("bench.load", "tests.conftest", here, 5),
        Import("testkit.loadgen", "realtime.server.app", here, 6),
    ]
    assert layer_violations(imports) == [
        "x.py:1: protocol.events imports engines.base",
        "x.py:2: engines.asr.whisper imports realtime.server.settings",
        "x.py:5: bench.load imports tests.conftest",
    ]


def test_imports_are_resolved_to_our_modules():
    known = {"pkg", "pkg.sub", "pkg.sub.mod", "pkg.sub.other", "pkg.top"}
    source = """
import pkg.top
from . import other
from .other import NAME
from .. import top
from ..sub import mod
from pkg.sub import mod as alias, CONSTANT
if TYPE_CHECKING:
    from pkg.top import Type
def late():
    import json
"""
    found = sorted(imports_in(source, "pkg.sub.mod", False, known))
    assert found == [
        ("json", 11),
        ("pkg.sub", 7),
        ("pkg.sub.mod", 6),
        ("pkg.sub.mod", 7),
        ("pkg.sub.other", 3),
        ("pkg.sub.other", 4),
        ("pkg.top", 2),
        ("pkg.top", 5),
        ("pkg.top", 9),
    ]
    # In a package's __init__, one dot is the package itself.
    assert resolve_from("pkg.sub", True, 1, "mod") == "pkg.sub.mod"
    assert resolve_from("pkg.sub", True, 2, None) == "pkg"


# --- our packages ---------------------------------------------------------------------------


@functools.cache
def our_imports() -> tuple[Import, ...]:
    """Every import of the walked packages (parsed once per test run)."""
    return tuple(collect_imports())


def our_graph() -> dict[str, set[str]]:
    """The module graph of the walked packages."""
    return graph_of(our_imports(), set(module_files(REPO, WALKED)))


def test_every_package_is_walked():
    files = module_files(REPO, WALKED)
    for package in WALKED:
        assert package in files, f"{package}/__init__.py not found"
    graph = our_graph()
    assert any(  # the walk sees imports at all: the server uses the engines
        target.startswith("engines.")
        for source, targets in graph.items()
        if source.startswith("realtime.")
        for target in targets
    )


def test_no_import_cycles():
    cycles = describe_cycles(our_graph())
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_each_layer_imports_only_the_layers_below():
    wrong = layer_violations(our_imports())
    assert not wrong, "imports across layers:\n" + "\n".join(wrong)
