"""Test documents for batch jobs: small PDFs and PNGs whose pages carry a mark the
``batch-fault`` engine (tests/plugins/batch_faults.py) reads, or faults on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw

from .conftest import TEST_PLUGINS

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


#: A run with the batch-fault engine, no restorer, at the PDFs' own resolution.
FAULT_ARGS = ("--plugin", BATCH_FAULTS, "--engine", "batch-fault", "--restorer", "none")
FAULT_ARGS += ("--dpi", "72", "--no-rotate-pages", "--no-deskew", "--no-perspective")
