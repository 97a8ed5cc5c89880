"""Test documents for batch jobs: small PDFs and PNGs whose pages carry a mark the
``batch-fault`` engine (tests/plugins/batch_faults.py) reads, or faults on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw

from tair_ocr import Pipeline
from tair_ocr.batch import LEDGER_NAME

from .conftest import ROOT, TEST_PLUGINS

BATCH_FAULTS = str(TEST_PLUGINS / "batch_faults.py")
RED = (255, 0, 0)
BLUE = (0, 0, 255)

Mark = tuple[int, int, int]


def page_image(mark: Mark, size: tuple[int, int] = (200, 150)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 60, 150, 80), fill="black")  # some ink
    draw.rectangle((0, 0, 3, 3), fill=mark)
    return image


def gray(n: int) -> Mark:
    return (n, n, n)


def make_pdf(path: Path, marks: Sequence[Mark]) -> Path:
    """A PDF of picture pages, page k marked ``marks[k]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pymupdf.open() as doc:
        for mark in marks:
            image = page_image(mark)
            page = doc.new_page(width=200, height=150)
            pixmap = pymupdf.Pixmap(pymupdf.csRGB, image.width, image.height, image.tobytes(), 0)
            page.insert_image(page.rect, pixmap=pixmap)
        doc.save(path)
    return path


def make_png(path: Path, mark: Mark) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page_image(mark).save(path, dpi=(150, 150))
    return path


#: The batch-fault engine at the PDFs' own resolution, no page filters.
FAULT_ENGINE = ("--plugin", BATCH_FAULTS, "--engine", "batch-fault", "--dpi", "72")
FAULT_ENGINE += ("--no-rotate-pages", "--no-deskew", "--no-perspective")
#: ... and no restorer.
FAULT_ARGS = (*FAULT_ENGINE, "--restorer", "none")


def texts(folder: Path) -> dict[str, str]:
    """Every text output under ``folder``, by path relative to it."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.txt"))}


def mtimes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LEDGER_NAME
    }


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of interrupted writes (``.<name>.XXXX.tmp``)."""
    return sorted(folder.rglob(".*.tmp"))


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def fault_pipeline(restorer: str = "none", **settings: object) -> Pipeline:
    """A pipeline with the batch-fault engine (no plugin autoloading)."""
    return Pipeline(
        engine="batch-fault", restorer=restorer, plugins=[BATCH_FAULTS], autoload=False, **settings
    )


def job_args(inputs: Path, out: Path, *extra: str) -> list[str]:
    """The command line of a resumable batch-fault job writing txt and json."""
    args = [str(inputs), *FAULT_ARGS, "-o", str(out), "-t", "txt,json", "--resume", "-q"]
    return [*args, "--no-plugin-autoload", *extra]


def start_job(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """``tair-ocr ARGS`` in a process of its own, Ctrl-C as in a terminal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "tair_ocr", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, preexec_fn=_ctrl_c_as_in_a_terminal
    )


def _ctrl_c_as_in_a_terminal() -> None:
    """Not ignored: a test run started in the background of a script ignores
    SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
