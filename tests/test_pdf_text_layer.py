"""The searchable PDF's text layer as text extractors see it: lines and paragraphs
come out whole (issue 14). Extractors group text into lines by baseline and font
size (poppler's ``pdftotext``, MuPDF), so the words of a line share a baseline and
the lines of a block a size, however much the word boxes differ."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest

from tair_ocr import Pipeline
from tair_ocr.results import BBox, Block, DocumentResult, Line, PageResult, Word
from tair_ocr.writers.pdf import PdfWriter

from .conftest import SAMPLES, requires_tesseract

DPI = 300.0

#: Two lines of a paragraph as tesseract boxes them on ``samples/letter_scan.pdf``:
#: word heights and bottoms differ (descenders, a tall "8", a slight skew).
PARAGRAPH = [
    [
        ("Readers", 203, 1094, 348, 1126),
        ("may", 361, 1105, 439, 1137),
        ("borrow", 451, 1095, 582, 1128),
        ("up", 595, 1106, 639, 1138),
        ("to", 653, 1102, 687, 1128),
        ("8", 693, 1090, 708, 1146),
        ("items", 734, 1098, 831, 1129),
        ("at", 846, 1103, 877, 1129),
        ("a", 890, 1108, 908, 1129),
        ("time", 921, 1099, 1000, 1130),
    ],
    [
        ("desk,", 203, 1150, 290, 1184),
        ("(ref.", 305, 1148, 390, 1190),
        ("32277-V)", 404, 1149, 560, 1185),
        ("unless", 575, 1151, 690, 1183),
        ("another", 705, 1152, 850, 1184),
        ("reader", 865, 1151, 980, 1183),
    ],
]


def _paragraph_result(source: Path) -> DocumentResult:
    """A result holding :data:`PARAGRAPH` as one block on page 1 of ``source``."""
    lines = []
    for number, row in enumerate(PARAGRAPH):
        words = [
            Word(
                text=text,
                confidence=0.9,
                bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
                source="test",
                line_id=number,
                block_id=0,
            )
            for text, x0, y0, x1, y1 in row
        ]
        lines.append(Line(bbox=BBox.enclosing([w.bbox for w in words]), words=words))
    block = Block(bbox=BBox.enclosing([line.bbox for line in lines]), lines=lines)
    page = PageResult(index=0, width=2480, height=3508, dpi=DPI, blocks=[block])
    return DocumentResult(source=str(source), kind="pdf", pages=[page])


def _blank_pdf(path: Path) -> Path:
    with pymupdf.open() as doc:
        doc.new_page(width=2480 * 72 / DPI, height=3508 * 72 / DPI)
        doc.save(path)
    return path


def _pdftotext(path: Path) -> str | None:
    """``pdftotext`` (reading order, no ``-layout``) of ``path``; None when absent."""
    binary = shutil.which("pdftotext")
    if binary is None:
        return None
    run = subprocess.run(
        [binary, "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _text_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_words_of_a_line_share_baseline_and_size(tmp_path: Path) -> None:
    source = _blank_pdf(tmp_path / "blank.pdf")
    result = _paragraph_result(source)
    out = tmp_path / "out.pdf"
    PdfWriter().write(result, out)
    expected = [" ".join(w[0] for w in row) for row in PARAGRAPH]

    with pymupdf.open(out) as doc:
        page = doc[0]
        # MuPDF: each line whole, and the lines of the paragraph in order.
        assert _text_lines(page.get_text())[:2] == expected
        sizes, baselines = set(), []
        for block in page.get_text("dict")["blocks"]:
            for line in block["lines"]:
                spans = [s for s in line["spans"] if s["text"].strip()]
                # The text box height: the font size (MuPDF's "size" folds in Tz).
                sizes |= {round(s["bbox"][3] - s["bbox"][1], 2) for s in spans}
                baselines.append({round(s["origin"][1], 3) for s in spans})
    assert len(sizes) == 1, sizes  # one size for the block
    assert len(baselines) == 2 and all(len(b) == 1 for b in baselines), baselines

    extracted = _pdftotext(out)
    if extracted is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; MuPDF checked")
    # poppler: each line whole, the paragraph's lines adjacent (no block break).
    assert _text_lines(extracted)[:2] == expected


@requires_tesseract
def test_sample_lines_come_out_whole(tmp_path: Path) -> None:
    """End to end on the sample letter: the lines tesseract read exactly as the
    ground truth has them come out of the searchable PDF as whole lines."""
    pipeline = Pipeline(
        engine="tesseract", restorer="none", output_types=["pdf"], pages="1", autoload=False
    )
    result = pipeline.run(SAMPLES / "letter_scan.pdf", output_dir=tmp_path)
    read = {line.text for page in result.pages for block in page.blocks for line in block.lines}
    truth = (SAMPLES / "letter_scan.gt.txt").read_text(encoding="utf-8").splitlines()
    # Lines of several words that tesseract read right (its reading may vary by
    # version); the writer must keep each one whole.
    known = [line for line in truth if len(line.split()) >= 4 and line in read]
    assert len(known) >= 5, known
    assert any(line.startswith("Readers may borrow up to 8 items at a time") for line in known)

    out = tmp_path / "letter_scan.ocr.pdf"
    with pymupdf.open(out) as doc:
        mupdf_lines = _text_lines(doc[0].get_text())
    assert [line for line in known if line not in mupdf_lines] == []
    extracted = _pdftotext(out)
    if extracted is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; MuPDF checked")
    poppler_lines = _text_lines(extracted)
    assert [line for line in known if line not in poppler_lines] == []
