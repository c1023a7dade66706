"""Architecture rules that a review would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_library_imports_no_dagster():
    offenders = [p.name for p in (ROOT / "gongshi").rglob("*.py") if p.name != "cli.py" and "dagster" in _imports(p)]
    assert offenders == []


def test_the_library_does_not_import_the_wiring():
    offenders = [p.name for p in (ROOT / "gongshi").rglob("*.py") if p.name != "cli.py" and "assets" in _imports(p)]
    assert offenders == []


def test_assets_are_thin():
    """Assets call the library; no file format or SQL handling in the wiring."""
    for path in (ROOT / "assets").glob("*.py"):
        imports = _imports(path)
        assert not imports & {"pyarrow", "pandas", "duckdb", "python_calamine", "frictionless"}, path.name


def test_every_module_says_what_it_is_for():
    for path in [*(ROOT / "gongshi").rglob("*.py"), *(ROOT / "assets").glob("*.py")]:
        assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), path


def test_top_level_layout():
    for name in ("assets", "site_templates", "datasets", "workspace.yaml", "tests", "pyproject.toml", "gongshi"):
        assert (ROOT / name).exists(), name
