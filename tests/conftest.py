"""Shared fixtures. Tests are hermetic: entry-point plugins are not auto-loaded
unless a test asks for them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"
#: Evaluation data beside the repository; absent in a user's clone.
SHARED_DATA = ROOT.parent / "shared" / "data" / "real"

requires_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None and shutil.which("tesseract", path="/usr/bin") is None,
    reason="tesseract is not installed",
)


@pytest.fixture
def plugin_file() -> Path:
    return TEST_PLUGINS / "fault_engines.py"
