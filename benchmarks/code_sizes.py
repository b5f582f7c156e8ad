"""Module and function sizes of the package, for the size table in docs/architecture.md.

Run: ``python benchmarks/code_sizes.py [ROOT] [--top N] [--function NAME ...]``. ``ROOT`` is a
checkout (default: this one), so an older revision unpacked with ``git archive`` is measured the
same way. Lines are physical lines; a function's size runs from its ``def`` line to its last line,
docstring included (decorators excluded), which is what an editor shows a reader.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

#: The functions the renovation (issue 12) shortened, reported whatever their rank.
TRACKED = ("simulate_city", "FeatureBuilder.transform", "activity_features", "load_shift_forecast")


def functions(path: Path) -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function and method in one file (nested ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                out.append((name, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def measure(root: Path, package: str = "forecasting") -> dict:
    """Files, lines and every function's length of ``root/package`` (``.py`` files only)."""
    files = sorted((root / package).rglob("*.py"))
    sizes = []
    for f in files:  # a hundred files or so
        rel = f.relative_to(root).as_posix()
        sizes += [(rel, name, n) for name, n in functions(f)]
    return {"files": len(files), "lines": sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files),
            "functions": sorted(sizes, key=lambda s: -s[2])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--top", type=int, default=10, help="longest functions listed")
    ap.add_argument("--function", action="append", default=None,
                    help=f"a function to report by qualified name (default: {', '.join(TRACKED)})")
    a = ap.parse_args(argv)
    root = Path(a.root)
    parts = {package: measure(root, package) for package in ("forecasting", "dashboards")}
    for package, m in parts.items():
        print(f"{package}/: {m['files']} files, {m['lines']:,} lines, {len(m['functions'])} functions")
    print(f"package (both): {sum(m['files'] for m in parts.values())} files, "
          f"{sum(m['lines'] for m in parts.values()):,} lines")
    modules = sorted(((len(f.read_text(encoding="utf-8").splitlines()), f.relative_to(root).as_posix())
                      for package in parts for f in (root / package).rglob("*.py")), reverse=True)
    print("\nlongest modules (lines):")
    for n, rel in modules[:a.top]:
        print(f"  {n:5d}  {rel}")
    m = parts["forecasting"]
    print("\nlongest functions in forecasting/ (lines, def to last line):")
    for rel, name, n in m["functions"][:a.top]:
        print(f"  {n:4d}  {name}  ({rel})")
    print("\ntracked:")
    for want in a.function or TRACKED:
        hits = [(rel, n) for rel, name, n in m["functions"] if name == want]
        print(f"  {want}: " + (", ".join(f"{n} ({rel})" for rel, n in hits) if hits else "not found"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
