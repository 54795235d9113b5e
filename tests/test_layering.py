"""Layering of the portal: blueprints → services → models, with search a lower layer that services call.

Imports are read from the source with ``ast`` (nothing is imported), so an import hidden inside a function counts
too; only imports under ``if TYPE_CHECKING:`` (type hints, never run) are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"
SEARCH = PORTAL / "search"
FORBIDDEN_FROM_SEARCH = ("portal.services", "portal.blueprints")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) for every import of the file that can run, relative imports resolved against
    ``package`` (by default the file's own package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            found.append((node.lineno, node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _dynamic_import(node: ast.Call) -> bool:
    """``__import__("x")`` / ``importlib.import_module("x")`` with a literal name."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return (
        name in ("__import__", "import_module")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _violates(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN_FROM_SEARCH)


def test_search_imports_nothing_from_services_or_blueprints():
    modules = sorted(SEARCH.rglob("*.py"))
    assert modules, f"no modules under {SEARCH}"
    offending = [
        f"{path.relative_to(PORTAL.parent)}:{line} imports {module}"
        for path in modules
        for line, module in _imports(path)
        if _violates(module)
    ]
    assert not offending, "portal.search is below the services and blueprints:\n" + "\n".join(offending)


def test_the_import_reader_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from portal.services.access import visible_tickets\n"
        "def f():\n"
        "    from portal.services import tickets\n"
        "    from ..blueprints import common\n"
        "    __import__('portal.blueprints.kb')\n"
    )
    found = {module for _line, module in _imports(path, package="portal.search")}
    assert "portal.services.access" not in found and "portal.services.access.visible_tickets" not in found
    assert {"portal.services", "portal.blueprints", "portal.blueprints.common", "portal.blueprints.kb"} <= found
    assert all(_violates(m) for m in ("portal.services", "portal.blueprints.common", "portal.blueprints.kb"))
    assert not _violates("portal.servicesx") and not _violates("portal.search.query")
