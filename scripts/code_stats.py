"""Print the largest modules and the longest functions of voxgate's packages.

Usage: ``python scripts/code_stats.py [--top N] [PACKAGE ...]`` (default: protocol engines
realtime). Lines are physical lines; a function's length runs from its ``def`` to its last
line, docstring included.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def modules(packages: list[str]) -> list[Path]:
    """Every Python file under the given package folders."""
    return sorted(p for package in packages for p in (REPO / package).rglob("*.py"))


def functions(path: Path) -> list[tuple[int, str]]:
    """(length, qualified name) of every function and method in ``path``."""
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                found.append((length, name))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return found


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("packages", nargs="*", default=["protocol", "engines", "realtime"])
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    paths = modules(args.packages)
    sized = sorted(((len(p.read_text().splitlines()), p) for p in paths), reverse=True)
    print(f"{len(paths)} modules, {sum(n for n, _ in sized)} lines")
    print("largest modules:")
    for lines, path in sized[: args.top]:
        print(f"  {lines:5d}  {path.relative_to(REPO)}")
    longest = sorted(
        ((n, f"{p.relative_to(REPO)}:{name}") for p in paths for n, name in functions(p)),
        reverse=True,
    )
    print("longest functions:")
    for lines, name in longest[: args.top]:
        print(f"  {lines:5d}  {name}")


if __name__ == "__main__":
    main()
