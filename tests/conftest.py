"""Shared fixtures. Tests are hermetic: entry-point plugins are not auto-loaded
unless a test asks for them."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"
#: Data beside the repository (evaluation pages, reference files): absent in a clean
#: clone. Tests that read it carry ``@pytest.mark.shared_data("PATH")`` (PATH under
#: this folder) and are skipped, saying what is missing, where it is absent.
SHARED = ROOT.parent / "shared"
#: Evaluation data beside the repository.
SHARED_DATA = SHARED / "data" / "real"

requires_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None and shutil.which("tesseract", path="/usr/bin") is None,
    reason="tesseract is not installed",
)


def shared_skip_reason(relative: str) -> str | None:
    """Why a test that reads ``../shared/<relative>`` cannot run, or None when it can."""
    if (SHARED / relative).exists():
        return None
    return f"needs ../shared/{relative} (not in a clean clone)"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests marked ``shared_data`` whose data is missing, before their fixtures
    (which may read it) run."""
    for marker in item.iter_markers("shared_data"):
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.shared_data('PATH')")
        reason = shared_skip_reason(marker.args[0])
        if reason:
            pytest.skip(reason)


@pytest.fixture
def plugin_file() -> Path:
    return TEST_PLUGINS / "fault_engines.py"


@pytest.fixture(autouse=True)
def _restore_tair_ocr_logger() -> Iterator[None]:
    """``cli.main`` points the ``tair_ocr`` logger at the test's stderr capture; put
    it back after every test, so later tests' records never go to a closed capture."""
    logger = logging.getLogger("tair_ocr")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
