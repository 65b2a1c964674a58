"""The shape of the code base: the longest functions and the import circles among glimmer modules.

Reads `src/glimmer` with `ast` (runs none of it) and prints

- the ten longest functions and methods (lines from `def` to the last line of the body), and
  beside each its code: the lines of the body after the docstring;
- every circle in the import graph of glimmer modules: strongly connected groups of modules
  that import each other, directly or through others. Imports under `if TYPE_CHECKING:` do not
  count (they never run); imports inside functions do (they run when the function does), and
  are marked `(lazy)`. A package's `__init__` re-exporting its own modules is not a circle.

Run: `python benchmarks/house.py [--top N]`. Compare the output before and after a clean-up.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


@dataclass(frozen=True)
class Edge:
    target: str
    line: int
    lazy: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "glimmer").rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    tree: ast.AST, typing: bool, lazy: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing:
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing, lazy)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, lazy
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _imports(node, typing, inner)


def edges(name: str, path: Path, known: dict[str, Path], typing: bool) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[Edge] = []
    for node, lazy in _imports(tree, typing):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            edge = Edge(target, node.lineno, lazy)
            if target and target != name and edge not in out:
                out.append(edge)
    return out


def graph(typing: bool = False) -> dict[str, list[Edge]]:
    known = modules()
    packages = {m for m, p in known.items() if p.name == "__init__.py"}
    result: dict[str, list[Edge]] = {}
    for name, path in known.items():
        # a package's __init__ importing its own children is a facade, not a circle
        result[name] = [
            e
            for e in edges(name, path, known, typing)
            if not (name in packages and e.target.startswith(name + "."))
            and not (e.target in packages and name.startswith(e.target + "."))
        ]
    return result


def circles(g: dict[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for e in g.get(v, []):
            if e.target not in index:
                visit(e.target)
                low[v] = min(low[v], low[e.target])
            elif e.target in on:
                low[v] = min(low[v], index[e.target])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(found)


def longest_functions(top: int) -> list[tuple[int, int, str]]:
    """``(lines, code lines, where)`` of the *top* longest functions."""
    rows: list[tuple[int, int, str]] = []
    for path in modules().values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(SRC)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                end = node.end_lineno or node.lineno
                body = node.body
                if ast.get_docstring(node) is not None and len(body) > 1:
                    body = body[1:]
                code = end - body[0].lineno + 1
                rows.append((end - node.lineno + 1, code, f"{rel}:{node.lineno} {node.name}"))
    return sorted(rows, key=lambda r: (-r[0], r[1]))[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=10, help="how many functions to list")
    args = parser.parse_args()
    print(f"the {args.top} longest functions (lines, and code lines after the docstring):")
    for length, code, where in longest_functions(args.top):
        print(f"  {length:4d} {code:4d}  {where}")
    g = graph()
    found = circles(g)
    print(f"import circles among glimmer modules: {len(found)}")
    report(g, found)
    typed = graph(typing=True)
    extra = [c for c in circles(typed) if c not in found]
    print(f"more circles when imports under TYPE_CHECKING count: {len(extra)}")
    report(typed, extra)


def report(g: dict[str, list[Edge]], found: list[list[str]]) -> None:
    for comp in found:
        members = set(comp)
        print("  " + " <-> ".join(comp))
        for m in comp:
            for e in g[m]:
                if e.target in members:
                    print(f"      {m}:{e.line} -> {e.target}{' (lazy)' if e.lazy else ''}")


if __name__ == "__main__":
    main()
