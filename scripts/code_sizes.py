"""The largest files and functions of a source tree, by lines (``ast``: a function's lines run
from its ``def`` (decorators left out) to its last line, nested functions counted in their
parent too).

    python scripts/code_sizes.py vlkd --top 5 [--over 60]
    python scripts/code_sizes.py vlkd --rev 158bac5   # as of a commit (read with git show)
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path


def sources(root: str, rev: str | None) -> Iterator[tuple[str, str]]:
    """(path, text) of every .py file under ``root``, in the work tree or at ``rev``."""
    if rev is None:
        for path in sorted(Path(root).rglob("*.py")):
            yield str(path), path.read_text(encoding="utf-8")
        return
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", root], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in sorted(n for n in names if n.endswith(".py")):
        text = subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True, text=True, check=True)
        yield name, text.stdout


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """(qualified name, first line, lines) of every function and method."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            yield f"{prefix}{node.name}", node.lineno, end - node.lineno + 1
            yield from functions(node, f"{prefix}{node.name}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    parser.add_argument("--rev", help="a git revision instead of the work tree")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--over", type=int, default=60, help="count functions longer than this")
    args = parser.parse_args()
    files: list[tuple[int, str]] = []
    funcs: list[tuple[int, str]] = []
    for path, text in sources(args.root, args.rev):
        files.append((text.count("\n"), path))
        funcs += [(n, f"{path}:{line} {name}") for name, line, n in functions(ast.parse(text))]
    files.sort(reverse=True)
    funcs.sort(reverse=True)
    print(
        f"{len(files)} files, {sum(n for n, _ in files):,} lines; "
        f"{sum(1 for n, _ in funcs if n > args.over)} functions over {args.over} lines"
    )
    print("largest files:")
    for n, path in files[: args.top]:
        print(f"  {n:6,}  {path}")
    print("largest functions:")
    for n, where in funcs[: args.top]:
        print(f"  {n:6,}  {where}")


if __name__ == "__main__":
    main()
