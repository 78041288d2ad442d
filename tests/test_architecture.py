"""Rules that keep the code easy to change, checked where import-linter cannot look."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).parents[1] / "image_finder"
WIDGET_MODULES = ("PySide6.QtWidgets", "PySide6.QtGui")
MAX_MODULE_LINES = 600


def _qt_imports(module: str) -> set[str]:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith(WIDGET_MODULES)}


def test_the_controller_and_workers_import_no_widgets_even_indirectly():
    graph = grimp.build_graph("image_finder")
    for source in ("image_finder.ui.controller", "image_finder.ui.workers"):
        reached = {source} | graph.find_upstream_modules(source)
        offending = {m: _qt_imports(m) for m in reached if _qt_imports(m)}
        assert not offending, f"{source} reaches widget modules: {offending}"


def test_the_rule_sees_a_widget_import(tmp_path):
    assert _qt_imports("image_finder.ui.main_window")  # the check is not blind


def test_no_module_grows_past_the_size_that_stays_readable():
    sizes = {
        str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    too_long = {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, too_long
