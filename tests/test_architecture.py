"""The layering of docs/architecture.md, enforced: which package may import which.

``core.common`` <- ``core.models`` <- ``core.attribution`` <- the domain packages;
``views`` -> ``ui`` -> ``core``, never back. A new package gets a line in ``ALLOWED``
(and in docs/architecture.md) or this test fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# core package -> the other core packages it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "models": {"common"},
    "attribution": {"common", "models"},
    "arithmetic": {"common", "models"},
    "digits": {"common", "models", "attribution", "inside"},
    "playground": {"common"},
    "inside": {"common", "models"},
    "evaluation": {"common", "models", "attribution"},
    "pipeline": {"common", "models", "attribution"},
    "reports": {"common", "models", "attribution", "evaluation", "pipeline"},
    "cli": {"common", "models", "attribution", "evaluation", "pipeline"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module named by an import statement in a file (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from core import digits` names the package core.digits
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def core_package(path: Path) -> str | None:
    """``core/digits/net.py`` -> ``"digits"``; None for ``core/__init__.py``."""
    parts = path.relative_to(REPO / "core").parts
    return parts[0].removesuffix(".py") if parts != ("__init__.py",) else None


def test_every_core_module_lives_in_a_declared_package():
    undeclared = {
        str(path.relative_to(REPO))
        for path in python_files("core")
        if core_package(path) is not None and core_package(path) not in ALLOWED
    }
    assert not undeclared, f"add these packages to ALLOWED and docs/architecture.md: {undeclared}"


@pytest.mark.parametrize("path", python_files("core"), ids=lambda p: str(p.relative_to(REPO)))
def test_core_imports_follow_the_layers(path):
    package = core_package(path)
    if package is None:
        return
    allowed = ALLOWED.get(package, set()) | {package}
    wrong = set()
    for name in imported_modules(path):
        parts = name.split(".")
        outside = parts[0] in ("ui", "views", "tests", "bench", "scripts", "streamlit")
        lower_layer = parts[0] == "core" and len(parts) > 1 and parts[1] in ALLOWED.keys() - allowed
        if outside or lower_layer:
            wrong.add(name)
    assert not wrong, f"{package} may import only {sorted(allowed)}; found {sorted(wrong)}"


@pytest.mark.parametrize("path", python_files("ui"), ids=lambda p: str(p.relative_to(REPO)))
def test_ui_never_imports_views(path):
    wrong = {n for n in imported_modules(path) if n.split(".")[0] in ("views", "tests", "bench")}
    assert not wrong


def test_the_layer_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from core.digits import classify\nimport ui.common\n")
    assert {"core.digits", "core.digits.classify", "ui.common"} <= imported_modules(bad)
