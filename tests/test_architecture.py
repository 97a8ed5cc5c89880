"""The architecture contracts of ``pyproject.toml`` (import-linter): layers, no
import cycles, the runtime apart from the workbench, model code below the pipeline,
writers apart from restorers and engines. CI also runs ``lint-imports``; this test
makes the same check part of the test command (in a subprocess: import-linter
reconfigures logging)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")  # a test extra, not the package under test

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    check = (
        "from importlinter.cli import lint_imports; "
        "raise SystemExit(lint_imports(config_filename='pyproject.toml', no_cache=True))"
    )
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
