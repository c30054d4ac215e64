"""The code keeps its shape: no production module over 800 lines, no function over 80.

Long functions hide their steps and long modules their concepts (the issue that split
``dispatch/lifecycle.py``). This walks every module of the three packages with ``ast`` and
fails naming each one over the limits. ``python tests/test_code_shape.py`` prints the same list.

``ALLOWED`` names what other work in progress is still breaking up; it only shrinks: an entry
that is no longer over the limit fails the test too, so it is removed once fixed.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("whistle", "dispatch", "grids")
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80

# What may stay over the limits for now, by path or path:qualname. Empty: keep it so.
ALLOWED: frozenset[str] = frozenset()


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """Every function and method (nested ones too) by qualified name, with its length in
    lines from ``def`` to its last line."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = prefix + node.name
            assert node.end_lineno is not None
            yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def oversized() -> dict[str, int]:
    """Modules over 800 lines (by path) and functions over 80 (``path:qualname``), with their
    length in lines."""
    found: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            text = path.read_text(encoding="utf-8")
            lines = len(text.splitlines())
            if lines > MAX_MODULE_LINES:
                found[where] = lines
            for name, length in _functions(ast.parse(text, filename=where)):
                if length > MAX_FUNCTION_LINES:
                    found[f"{where}:{name}"] = length
    return found


def test_no_module_over_800_lines_and_no_function_over_80() -> None:
    too_long = {name: n for name, n in oversized().items() if name not in ALLOWED}
    assert not too_long, "break these up:\n" + "\n".join(
        f"  {name}: {n} lines" for name, n in sorted(too_long.items())
    )


def test_the_allow_list_names_only_what_is_still_too_long() -> None:
    fixed = ALLOWED - oversized().keys()
    assert not fixed, f"no longer too long, remove from ALLOWED: {sorted(fixed)}"


def test_the_walk_measures_methods_and_nested_functions_by_their_qualified_name() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = (
        f"class C:\n    async def long(self):\n{body}\n        def inner():\n            pass\n"
    )
    assert dict(_functions(ast.parse(source))) == {
        "C.long": MAX_FUNCTION_LINES + 3,
        "C.long.inner": 2,
    }


if __name__ == "__main__":
    for name, length in sorted(oversized().items()):
        print(f"{name}: {length} lines{' (allowed for now)' if name in ALLOWED else ''}")
    sys.exit(0)
