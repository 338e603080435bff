"""The README's compatibility table, generated from the suite's ``compat`` markers.

Usage (from the repository root): ``python -m tests.conformance.compat_table`` rewrites the
table in README.md; ``--check`` changes nothing and exits 1 when the README is out of date
(``make compat-table`` regenerates it; ``test_compat_table.py`` fails until it does).

Every ``pytest.mark.compat("<client>", "<capability>")`` call in the test files under
tests/conformance/ (``test_*.py``, subfolders included; virtualenvs, ``node_modules`` and
hidden folders skipped) is read statically with :mod:`ast`: nothing is imported, so no
third-party client is needed. Both arguments must be string literals, given positionally;
anything else is a :class:`MarkerError` naming the file and line. The table has one row per
(client, capability): clients in alphabetical order, each client's capabilities in the order
the suite first marks them, and the test files that mark the pair. It goes between
:data:`START` and :data:`END` in README.md, which must each appear exactly once.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).resolve().parent
REPO = SUITE.parents[1]
README = REPO / "README.md"
START = "<!-- compat-table:start -->"
END = "<!-- compat-table:end -->"
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


class MarkerError(ValueError):
    """A compat marker that cannot be read statically, or a README without the markers."""


@dataclass(frozen=True)
class Compat:
    """One ``compat`` marker: who was tested doing what, and where."""

    client: str
    capability: str
    path: str  # relative to the repository root, with forward slashes
    line: int


def marker_args(args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[str, str]:
    """(client, capability) of a marker's arguments; the one rule for both readers.

    Raises:
        MarkerError: not exactly two non-empty strings given positionally.
    """
    if kwargs or len(args) != 2 or not all(isinstance(a, str) and a.strip() for a in args):
        raise MarkerError(
            'compat takes two non-empty strings: pytest.mark.compat("<client>", "<capability>")'
        )
    client, capability = args
    assert isinstance(client, str) and isinstance(capability, str)
    return client.strip(), capability.strip()


def suite_files(root: Path = SUITE) -> list[Path]:
    """The suite's test files, sorted; virtualenvs and package folders are not walked."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not d.startswith((".", "_"))
            and not (Path(folder) / d / "pyvenv.cfg").exists()
        ]
        found += [Path(folder) / f for f in files if f.startswith("test_") and f.endswith(".py")]
    return sorted(found)


def _is_compat(func: ast.expr) -> bool:
    """``pytest.mark.compat`` or ``mark.compat`` (``from pytest import mark``)."""
    if not (isinstance(func, ast.Attribute) and func.attr == "compat"):
        return False
    owner = func.value
    if isinstance(owner, ast.Name):
        return owner.id == "mark"
    return (
        isinstance(owner, ast.Attribute)
        and owner.attr == "mark"
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "pytest"
    )


def markers_in(path: Path, root: Path = REPO) -> Iterator[Compat]:
    """Every compat marker call in ``path``, wherever it stands, in source order."""
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    calls = [
        node
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call) and _is_compat(node.func)
    ]
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        if not all(isinstance(a, ast.Constant) for a in call.args) or call.keywords:
            raise MarkerError(f"{rel}:{call.lineno}: compat arguments must be string literals")
        args = tuple(a.value for a in call.args if isinstance(a, ast.Constant))
        try:
            client, capability = marker_args(args, {})
        except MarkerError as exc:
            raise MarkerError(f"{rel}:{call.lineno}: {exc}") from None
        yield Compat(client, capability, rel, call.lineno)


def collect(root: Path = SUITE) -> list[Compat]:
    """Every compat marker of the suite under ``root``."""
    return [found for path in suite_files(root) for found in markers_in(path)]


def table(markers: list[Compat]) -> str:
    """The Markdown table: one row per (client, capability), with the files that test it."""
    where: dict[tuple[str, str], list[str]] = {}
    for m in markers:
        files = where.setdefault((m.client, m.capability), [])
        if m.path not in files:
            files.append(m.path)
    clients = sorted({client for client, _ in where}, key=str.casefold)
    rows = ["| Client | Capability | Status |", "|---|---|---|"]
    for client in clients:
        for (who, capability), files in where.items():
            if who == client:
                tested = ", ".join(f"`{f}`" for f in files)
                rows.append(f"| {_cell(client)} | {_cell(capability)} | ✅ tested in {tested} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def with_table(readme: str, rendered: str) -> str:
    """``readme`` with the text between :data:`START` and :data:`END` replaced by ``rendered``.

    Raises:
        MarkerError: either marker is missing or repeated, or END comes before START.
    """
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise MarkerError(f"README.md must hold {START} and {END} once each")
    head, rest = readme.split(START)
    if END not in rest:
        raise MarkerError(f"{END} comes before {START} in README.md")
    _, tail = rest.split(END)
    return f"{head}{START}\n{rendered}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's table, or with ``--check`` report whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = with_table(current, table(collect()))
    if args.check:
        if wanted != current:
            print("README.md's compatibility table is out of date: run `make compat-table`")
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted)
        print("README.md: compatibility table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
