"""ruff is part of the suite: lint and format checks over the whole repository."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
    )


def test_ruff_check_is_clean():
    result = run_ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run_ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_streamlit():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "core").rglob("*.py")
        if any(
            line.strip().startswith(("import streamlit", "from streamlit"))
            for line in path.read_text().splitlines()
        )
    ]
    assert not offenders


def test_mypy_is_clean():
    """Type hints are checked over core/ and ui/ (config in pyproject.toml)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_type_ignore_names_its_code_and_reason():
    """``# type: ignore[code]  # why`` (mypy checks the code; this checks the reason)."""
    lacking = []
    for folder in ("core", "ui", "views"):
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if "type: ignore" not in line:
                    continue
                rest = line.split("type: ignore", 1)[1]
                if not re.match(r"\[[\w,-]+\]\s*(#|-)\s*\w", rest):
                    lacking.append(f"{path.relative_to(REPO)}:{number}")
    assert not lacking, lacking
