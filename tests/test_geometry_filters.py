"""The page geometry filters (orientation, deskew): what they find, what they do to
a page, how word boxes map back, what the results record and how the searchable
PDF shows a turned page (issue 14, "page geometry stage")."""

from __future__ import annotations

import functools
import math
import stat
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest
from PIL import Image

from tair_ocr.filters import DeskewFilter, OrientationFilter
from tair_ocr.filters.deskew import level
from tair_ocr.filters.orientation import DEFAULT_THRESHOLD, OrientationOptions, decide
from tair_ocr.filters.osd import Osd, OsdAnswer, parse_osd
from tair_ocr.filters.reading_check import ReadingAnswer, line_strip
from tair_ocr.filters.textlines import (
    LinesOrientation,
    SkewEstimate,
    estimate_skew,
    read_orientation,
    sample_ink,
)
from tair_ocr.geometry import Affine, quarter_turn
from tair_ocr.page import Page
from tair_ocr.pipeline import Pipeline
from tair_ocr.plugins import PluginManager
from tair_ocr.results import (
    BBox,
    Block,
    DocumentResult,
    Line,
    PageGeometry,
    PageResult,
    Word,
)
from tair_ocr.writers.pdf import build_searchable_pdf
from tair_workbench.synthetic import render_page

from .conftest import SAMPLES, requires_tesseract

#: PIL's transposition that turns an image counter-clockwise by the key's degrees
#: (as a page fed sideways comes out): the filter must turn it back clockwise.
CCW = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _osd_available() -> bool:
    return Osd().available()[0]


requires_osd = pytest.mark.skipif(
    not _osd_available(), reason="tesseract with the osd data is not installed"
)


@functools.cache
def text_page() -> Image.Image:
    """A small clean page of paragraphs (200 dpi, 1300×900), gray."""
    return render_page(5, size_px=(1300, 900), dpi=200, font_pt=11, layout="paragraphs").image


@functools.cache
def memo() -> Image.Image:
    """The faxed memo sample (1-bit, 200 dpi, US Letter), as the loader delivers it."""
    with Image.open(SAMPLES / "faxed_memo.png") as image:
        return image.convert("L")


def rotated(image: Image.Image, degrees: float) -> tuple[Image.Image, Affine]:
    """``image`` rotated counter-clockwise by ``degrees`` onto a canvas that holds it
    (white corners), with OpenCV; and the affine from its pixels to ``image``'s
    (edge coordinates). Made without the code under test."""
    w, h = image.size
    t = math.radians(degrees)
    nw = math.ceil(w * abs(math.cos(t)) + h * abs(math.sin(t)))
    nh = math.ceil(w * abs(math.sin(t)) + h * abs(math.cos(t)))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)  # pixel-edge centre
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    # OpenCV's matrix maps pixel centres; in edge coordinates (x + 0.5) the
    # rotation part is the same and the shift changes by (I - R)·0.5.
    r = m[:, :2]
    shift = m[:, 2] + 0.5 - r @ np.array([0.5, 0.5])
    forward = Affine(a=r[0, 0], b=r[0, 1], c=shift[0], d=r[1, 0], e=r[1, 1], f=shift[1])
    out = cv2.warpAffine(np.asarray(image), m, (nw, nh), flags=cv2.INTER_CUBIC, borderValue=255)
    return Image.fromarray(out, image.mode), forward.inverse()


def page_of(image: Image.Image, dpi: float = 200.0) -> Page:
    return Page(source=Path("<test>"), index=0, image=image, dpi=dpi)


# ---------------------------------------------------------------------- geometry


def test_quarter_turn_is_exact_and_maps_the_corners() -> None:
    w, h = 30, 20
    for turn, top_left_goes_to in ((90, (h, 0)), (180, (w, h)), (270, (0, w))):
        t = quarter_turn(turn, w, h)
        assert t.point((0, 0)) == top_left_goes_to
        back = t.inverse()
        assert all(v == round(v) for v in (back.a, back.b, back.c, back.d, back.e, back.f))
        assert (t @ back).point((7.25, 3.5)) == (7.25, 3.5)
    # PIL's clockwise turn agrees: a pixel marked at (x, y) lands where the turn says.
    image = Image.new("L", (w, h), 0)
    image.putpixel((4, 2), 255)
    turned = image.transpose(Image.Transpose.ROTATE_270)  # clockwise by 90
    x, y = quarter_turn(90, w, h).point((4.5, 2.5))  # the pixel's centre
    assert turned.getpixel((int(x), int(y))) == 255
    with pytest.raises(ValueError):
        quarter_turn(45, w, h)


# ---------------------------------------------------------------------- measurements


@pytest.mark.parametrize("angle", [-7.5, -4.3, -1.1, 0.6, 2.0, 5.0])
def test_skew_is_estimated_within_a_third_of_a_degree(angle: float) -> None:
    skewed, _ = rotated(text_page(), angle)
    sample = sample_ink(skewed)
    assert sample is not None
    estimate = estimate_skew(sample, limit=11)
    assert abs(estimate.angle - angle) <= 0.3
    assert estimate.confidence >= 0.3


def test_a_page_without_lines_has_no_clear_skew() -> None:
    rng = np.random.default_rng(3)
    dots = np.full((600, 800), 255, np.uint8)
    for x, y in rng.integers(20, 580, size=(400, 2)):
        cv2.circle(dots, (int(x) + 100, int(y)), int(rng.integers(2, 6)), 0, -1)
    sample = sample_ink(dots)
    assert sample is not None  # letter-sized blobs, but no lines
    assert estimate_skew(sample).confidence < 0.3
    assert sample_ink(np.full((600, 800), 255, np.uint8)) is None  # blank: nothing


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_line_check_tells_which_way_up_a_page_is(turn: int) -> None:
    image = memo() if turn == 0 else memo().transpose(CCW[turn])
    sample = sample_ink(image)
    assert sample is not None
    found = read_orientation(sample)
    assert found.rotation == turn
    assert found.sure()


# ---------------------------------------------------------------------- orientation


def test_decide() -> None:
    sure90 = LinesOrientation(90, 0.6, 20, 2.0, SkewEstimate(0.0, 0.6, 3.0))
    unsure = LinesOrientation(90, 0.1, 3, 2.0, SkewEstimate(0.0, 0.6, 3.0))
    # Sure, but not by the wider margin the line check needs to act on its own.
    plain90 = LinesOrientation(90, 0.35, 6, 1.4, SkewEstimate(0.0, 0.6, 3.0))
    assert plain90.sure() and not plain90.sure(strict=True) and sure90.sure(strict=True)
    t = DEFAULT_THRESHOLD
    assert decide(sure90, OsdAnswer(90, 1.0), t) == (90, "osd+lines")  # agree: any confidence
    assert decide(plain90, OsdAnswer(90, 1.0), t) == (90, "osd+lines")
    assert decide(unsure, OsdAnswer(180, t), t) == (180, "osd")
    assert decide(unsure, OsdAnswer(180, t - 0.1), t) == (0, "unsure")
    assert decide(sure90, OsdAnswer(270, 30.0), t) == (90, "lines")  # OSD errs, lines sure
    assert decide(plain90, OsdAnswer(270, 30.0), t) == (0, "unsure")  # a conflict
    assert decide(sure90, None, t) == (90, "lines")  # OSD saw too few letters
    assert decide(plain90, None, t) == (0, "unsure")
    assert decide(unsure, None, t) == (0, "unsure")
    assert decide(None, OsdAnswer(90, 20.0), t) == (90, "osd")
    # A leaning (a table, a receipt): only with OSD's agreement, at a confidence >= 1.
    leaning = LinesOrientation(180, 0.7, 2, 1.2, SkewEstimate(0.0, 0.45, 3.0))
    assert leaning.leaning() and not leaning.sure()
    assert decide(leaning, OsdAnswer(180, 1.7), t) == (180, "osd+lines")
    assert decide(leaning, OsdAnswer(180, 0.5), t) == (0, "unsure")
    assert decide(leaning, None, t) == (0, "unsure")
    # OSD alone, confident, but the lines lean another way: not turned.
    assert decide(leaning, OsdAnswer(90, 25.0), t) == (0, "unsure")


def test_osd_report_parsing() -> None:
    report = (
        "Page number: 0\nOrientation in degrees: 270\nRotate: 90\n"
        "Orientation confidence: 16.91\nScript: Latin\nScript confidence: 15.19\n"
    )
    assert parse_osd(report) == OsdAnswer(rotation=90, confidence=16.91)
    assert parse_osd("") is None


@requires_osd
@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_page_comes_back_upright(turn: int) -> None:
    upright = memo()
    page = page_of(upright.transpose(CCW[turn]))
    out = OrientationFilter().apply(page)
    assert out.geometry is not None
    assert out.geometry.rotation == turn
    assert out.geometry.orientation == "osd+lines"  # both agree on the memo
    assert out.geometry.osd_rotation == turn
    # Turned back exactly: the very pixels of the upright page.
    assert out.image.size == upright.size
    assert np.array_equal(np.asarray(out.image), np.asarray(upright))
    # ... and the transform maps them onto the turned page as loaded.
    w, h = page.image.size
    assert out.to_original == quarter_turn(turn, w, h).inverse()
    assert out.original_size == (w, h)


def test_an_upright_page_is_left_alone() -> None:
    page = page_of(memo())
    out = OrientationFilter().apply(page)
    assert out.geometry is not None
    assert out.geometry.rotation == 0
    assert out.geometry.orientation == "upright"  # sure without asking OSD
    assert out.geometry.osd_confidence is None
    assert out.image is page.image
    assert out.to_original.is_identity
    # A page with no text is left alone too, and says why.
    blank = OrientationFilter().apply(page_of(Image.new("L", (400, 300), 255)))
    assert blank.geometry is not None
    assert (blank.geometry.rotation, blank.geometry.orientation) == (0, "no-text")


def _fake_tesseract(folder: Path) -> str:
    """A 'tesseract' that runs and has English but no osd data."""
    script = folder / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "tesseract 5.3.0" ;;\n'
        "  --list-langs) echo 'List of available languages in \"/nowhere/\" (1):'; echo eng ;;\n"
        "  *) exit 1 ;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_without_osd_a_turned_page_is_not_turned_and_the_run_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TAIR_OCR_TESSERACT", _fake_tesseract(tmp_path))
    orientation = OrientationFilter()
    assert orientation.availability().ok  # runnable: it only cannot turn pages
    assert "no OSD" in orientation.availability().reason
    turned = memo().transpose(CCW[90])
    first = orientation.apply(page_of(turned))
    second = orientation.apply(page_of(turned))
    for out in (first, second):
        assert out.geometry is not None
        assert (out.geometry.rotation, out.geometry.orientation) == (0, "no-osd")
        assert out.image is not None and out.image.size == turned.size
    assert len(first.warnings) == 1
    assert "osd" in first.warnings[0] and "apt-get install tesseract-ocr-osd" in first.warnings[0]
    assert second.warnings == []  # once per run
    assert sum("orientation detection" in r.getMessage() for r in caplog.records) == 1


@functools.cache
def capitals_form() -> Image.Image:
    """A form-like page: labels in capitals, values of a name, a number and a word in
    capitals, in two columns. Too few x-height bands for the text-line check to tell
    which way up it is (as on the real FUNSD forms)."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(11)
    words = [
        "INVOICE",
        "NUMBER",
        "DATE",
        "TOTAL",
        "AMOUNT",
        "DUE",
        "ACCOUNT",
        "CUSTOMER",
        "ADDRESS",
        "STREET",
        "PHONE",
        "ORDER",
        "QUANTITY",
        "PRICE",
        "TAX",
        "PAID",
    ]
    names = ["Smith", "Warren", "Hudson", "Baker", "Morton", "Ellis", "Newman", "Carter"]
    image = Image.new("L", (1400, 1000), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for row in range(16):
        label = " ".join(rng.choice(words, size=2))
        value = f"{rng.choice(names)} {rng.integers(100, 99999)} {rng.choice(words)}"
        draw.text((60, 50 + row * 56), label, fill=0, font=font)
        draw.text((760, 50 + row * 56), value, fill=0, font=font)
    return image


def test_a_reading_answer_is_decisive_only_by_a_wide_margin() -> None:
    assert ReadingAnswer(180, chars=40, other_chars=5).decisive()
    assert not ReadingAnswer(180, chars=40, other_chars=14).decisive()  # 40 < 3 × 15
    assert not ReadingAnswer(180, chars=19, other_chars=0).decisive()  # too few letters
    assert ReadingAnswer(0, chars=20, other_chars=0).decisive()


def test_the_line_strip_stacks_text_lines_at_the_reading_size() -> None:
    page = text_page()  # 200 dpi, 11 pt: letters about 20 px
    sample = sample_ink(page)
    assert sample is not None
    strip = line_strip(page, sample.letter_height / sample.scale)
    assert strip is not None and strip.mode == "L"
    rows = np.asarray(strip).min(axis=1) < 128
    starts = np.flatnonzero(np.diff(np.concatenate([[0], rows.view(np.int8)])) == 1)
    assert 5 <= len(starts) <= 12  # separate lines, at most MAX_BANDS
    assert strip.height < page.height  # a few lines, not the page
    # Nothing that looks like a text line: no strip.
    assert line_strip(Image.new("L", (600, 400), 255), 20.0) is None


@requires_tesseract
@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_reading_turns_a_capitals_form_that_neither_measurement_can_tell(
    turn: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    upright = capitals_form()
    image = upright if turn == 0 else upright.transpose(CCW[turn])
    lines = read_orientation(sample_ink(image))
    assert not lines.sure() and not lines.leaning()  # the line check cannot tell
    # ... and OSD has no answer (as on the real forms measured: 0.1-5, both ways).
    monkeypatch.setattr(Osd, "available", lambda self: (True, "test"))
    monkeypatch.setattr(Osd, "detect", lambda self, image, dpi: None)
    out = OrientationFilter().apply(page_of(image))
    assert out.geometry is not None
    assert out.geometry.orientation == "read"
    assert out.geometry.rotation == out.geometry.read_rotation == turn
    assert out.geometry.read_chars >= 3 * (out.geometry.read_other_chars + 1)
    assert np.array_equal(np.asarray(out.image), np.asarray(upright))
    # Without the reading check the page stays as it is.
    off = OrientationFilter()
    off.configure(OrientationOptions(reading=False))
    kept = off.apply(page_of(image))
    assert (kept.geometry.rotation, kept.geometry.orientation) == (0, "unsure")
    assert kept.geometry.read_rotation is None


# ---------------------------------------------------------------------- deskew


def test_deskew_levels_a_skewed_page_and_maps_back_exactly() -> None:
    skewed, _ = rotated(text_page(), -4.0)
    page = page_of(skewed)
    out = DeskewFilter().apply(page)
    assert out.geometry is not None
    assert abs(out.geometry.skew + 4.0) <= 0.3
    assert out.geometry.skew_corrected == out.geometry.skew
    # The levelled page's lines are level.
    again = estimate_skew(sample_ink(out.image), limit=11)
    assert abs(again.angle) <= 0.15
    # Its transform maps its pixels onto the skewed page: a dark pixel of the
    # levelled page lands on dark pixels of the skewed one.
    levelled = np.asarray(out.image)
    source = np.asarray(skewed)
    ys, xs = np.nonzero(levelled < 60)
    pick = np.linspace(0, len(xs) - 1, 300).astype(int)
    hits = 0
    for x, y in zip(xs[pick], ys[pick], strict=True):
        sx, sy = out.to_original.point((x + 0.5, y + 0.5))
        hits += source[int(sy), int(sx)] < 128
    assert hits >= 0.95 * len(pick)


def test_deskew_leaves_level_and_barely_skewed_pages_alone() -> None:
    level_page = page_of(text_page())
    out = DeskewFilter().apply(level_page)
    assert out.geometry is not None
    assert abs(out.geometry.skew) <= 0.1
    assert out.geometry.skew_corrected == 0.0
    assert out.image is level_page.image and out.to_original.is_identity
    slight, _ = rotated(text_page(), 0.6)  # under the default 1° minimum
    out = DeskewFilter().apply(page_of(slight))
    assert out.geometry.skew == pytest.approx(0.6, abs=0.3)
    assert out.geometry.skew_corrected == 0.0


def test_level_returns_the_exact_inverse_transform() -> None:
    image = Image.new("L", (300, 200), 255)
    out, to_previous = level(image, 3.0)
    w, h = out.size
    # The canvas holds the whole page: its corners map onto the page's edges.
    corners = [to_previous.point(p) for p in ((0, 0), (w, 0), (w, h), (0, h))]
    assert min(x for x, _ in corners) <= 0.5 and max(x for x, _ in corners) >= 299.5
    assert min(y for _, y in corners) <= 0.5 and max(y for _, y in corners) >= 199.5
    # Centre to centre, rotated by +3° (the levelled page is the page turned by -3°).
    assert to_previous.point((w / 2, h / 2)) == pytest.approx((150, 100))
    assert math.degrees(math.atan2(-to_previous.d, to_previous.a)) == pytest.approx(3.0)


# ---------------------------------------------------------------------- options


def test_each_filter_has_a_switch() -> None:
    pm = PluginManager(autoload=False)
    assert [f.name for f in pm.page_filters] == ["perspective", "orientation", "deskew"]
    assert all(f.enabled_by_default for f in pm.page_filters)
    from tair_ocr.cli import build_parser

    parser = build_parser(pm)
    args = parser.parse_args(["x.pdf", "--no-rotate-pages", "--no-deskew"])
    values = pm.option_models.values_from(args)
    assert values == {"orientation_enabled": False, "deskew_enabled": False}
    args = parser.parse_args(["x.pdf", "--rotate-pages-threshold", "9", "--deskew-min-angle", "1"])
    values = pm.option_models.values_from(args)
    assert values == {"orientation_threshold": 9.0, "deskew_min_angle": 1.0}
    off = Pipeline(
        engine="tesseract",
        restorer="none",
        plugin_manager=pm,
        options={
            "orientation": {"enabled": False},
            "deskew_enabled": False,
            "perspective_enabled": False,
        },
    )
    turned = page_of(memo().transpose(CCW[90]))
    for page_filter in off.filters:
        assert page_filter.apply(turned) is turned


# ---------------------------------------------------------------------- the pipeline


def _boxes(result: DocumentResult) -> list[tuple[str, BBox]]:
    return [(w.text, w.bbox) for w in result.pages[0].words()]


@requires_tesseract
@requires_osd
def test_words_of_a_turned_page_map_onto_the_page_as_loaded() -> None:
    pipeline = Pipeline(engine="tesseract", restorer="none", output_types=["json"])
    upright = text_page().convert("RGB")
    w, h = upright.size
    reference = pipeline.run(upright, write=False)
    turned = pipeline.run(upright.transpose(CCW[90]), write=False)
    page = turned.pages[0]
    assert page.geometry is not None and page.geometry.rotation == 90
    assert page.counters.get("rotated") == 1
    assert (page.width, page.height) == (h, w)  # the page as loaded
    # Read from the same pixels: the same words, their boxes turned as the page was.
    ccw = quarter_turn(270, w, h)  # the turn the page as loaded had
    expected = [(text, ccw.box(box)) for text, box in _boxes(reference)]
    got = _boxes(turned)
    assert [t for t, _ in got] == [t for t, _ in expected]
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert a.as_tuple() == pytest.approx(b.as_tuple(), abs=1e-6)
    assert turned.text == reference.text


@requires_tesseract
def test_words_of_a_skewed_page_map_onto_the_skewed_text() -> None:
    pipeline = Pipeline(engine="tesseract", restorer="none", output_types=["json"])
    upright = text_page().convert("RGB")
    reference = pipeline.run(upright, write=False)
    skewed_image, to_upright = rotated(text_page(), 3.0)
    skewed = pipeline.run(skewed_image.convert("RGB"), write=False)
    page = skewed.pages[0]
    assert page.geometry is not None and page.geometry.skew_corrected == pytest.approx(3.0, abs=0.3)
    assert page.counters.get("deskewed") == 1
    assert skewed.text == reference.text
    # Each word's box, mapped onto the upright page, lands on the same word there.
    to_skewed = to_upright.inverse()
    for (text, box), (ref_text, ref_box) in zip(_boxes(skewed), _boxes(reference), strict=True):
        assert text == ref_text
        cx, cy = to_upright.point(box.center)
        assert ref_box.x0 - 2 <= cx <= ref_box.x1 + 2 and ref_box.y0 - 2 <= cy <= ref_box.y1 + 2
        # The box encloses the skewed word: the upright box's corners, mapped.
        enclosing = to_skewed.box(ref_box)
        assert box.iou(enclosing) >= 0.6
    # Words keep their exact corners on a levelled page.
    word = next(skewed.pages[0].words())
    assert word.polygon is not None and len(word.polygon) == 4


@requires_tesseract
def test_geometry_is_recorded_in_the_json_output(tmp_path: Path) -> None:
    source = tmp_path / "skewed.png"
    rotated(text_page(), -2.5)[0].save(source, dpi=(200, 200))
    result = Pipeline(engine="tesseract", restorer="none", output_types=["json"]).run(
        source, output_dir=tmp_path
    )
    loaded = DocumentResult.model_validate_json((tmp_path / "skewed.json").read_text())
    geometry = loaded.pages[0].geometry
    assert geometry == result.pages[0].geometry
    assert geometry is not None
    assert geometry.orientation == "upright" and geometry.rotation == 0
    assert geometry.skew == pytest.approx(-2.5, abs=0.3) and geometry.skew_corrected != 0
    assert {"filter:orientation", "filter:deskew"} <= set(loaded.pages[0].timings)


# ---------------------------------------------------------------------- the PDF


def _displayed_words(page: pymupdf.Page) -> dict[str, pymupdf.Rect]:
    """The page's text-layer words, boxes in displayed (rotated) page points."""
    return {w[4]: pymupdf.Rect(w[:4]) * page.rotation_matrix for w in page.get_text("words")}


def _layer_result(kind: str, source: Path, size: tuple[int, int], rotation: int) -> DocumentResult:
    """A one-page result with two words, in pixels of the page as loaded (``size``)
    of a page the orientation filter turned by ``rotation``."""
    w, h = size
    # Two words on the upright page (h x w after a 90° turn), mapped to as loaded.
    upright_w, upright_h = (h, w) if rotation in (90, 270) else (w, h)
    to_loaded = quarter_turn(rotation, w, h).inverse()
    words = [
        Word(
            text=text,
            confidence=0.9,
            bbox=to_loaded.box(BBox(x0=x0, y0=40, x1=x0 + 120, y1=70)),
            source="test",
        )
        for text, x0 in (("Alpha", 30), ("Omega", 200))
    ]
    assert upright_w > 320 and upright_h > 70
    line = Line(bbox=BBox.enclosing([w.bbox for w in words]), words=words)
    page = PageResult(
        index=0,
        width=w,
        height=h,
        dpi=72.0,
        blocks=[Block(bbox=line.bbox, lines=[line])],
        geometry=PageGeometry(rotation=rotation),
    )
    return DocumentResult(source=str(source), kind=kind, pages=[page])


@pytest.mark.parametrize("kind", ["image", "pdf"])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_the_pdf_shows_a_turned_page_upright_with_its_words_in_place(
    tmp_path: Path, kind: str, rotation: int
) -> None:
    # The page as loaded: 400 x 300 px at 72 dpi (1 px = 1 pt), turned.
    loaded_size = (300, 400) if rotation in (90, 270) else (400, 300)
    image = Image.new("L", loaded_size, 255)
    if kind == "image":
        source = tmp_path / "turned.png"
        image.save(source, dpi=(72, 72))
    else:
        source = tmp_path / "turned.pdf"
        with pymupdf.open() as doc:
            doc.new_page(width=loaded_size[0], height=loaded_size[1])
            doc.save(source)
    result = _layer_result(kind, source, loaded_size, rotation)
    doc = build_searchable_pdf(result)
    try:
        page = doc[0]
        assert page.rotation == rotation
        assert (page.rect.width, page.rect.height) == (400, 300)  # shown upright
        words = _displayed_words(page)
        # Selecting a word highlights it where it is on the upright page.
        assert tuple(words["Alpha"]) == pytest.approx((30, 40, 150, 70), abs=1.0)
        assert tuple(words["Omega"]) == pytest.approx((200, 40, 320, 70), abs=1.0)
        assert page.get_text().split() == ["Alpha", "Omega"]
    finally:
        doc.close()


@requires_tesseract
@requires_osd
def test_a_turned_scan_becomes_an_upright_searchable_pdf(tmp_path: Path) -> None:
    upright = text_page().convert("RGB")
    source = tmp_path / "sideways.png"
    upright.transpose(CCW[270]).save(source, dpi=(200, 200))
    pipeline = Pipeline(engine="tesseract", restorer="none", output_types=["pdf", "json"])
    result = pipeline.run(source, output_dir=tmp_path)
    assert result.pages[0].geometry.rotation == 270
    with pymupdf.open(tmp_path / "sideways.ocr.pdf") as doc:
        page = doc[0]
        assert page.rotation == 270
        # Displayed upright: the rendering is the upright page.
        pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
        shown = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width)
        reference = np.asarray(upright.convert("L")).astype(int)
        # (MuPDF's pixel grid may hold one more row and column, rounding up.)
        assert shown.shape[0] - reference.shape[0] in (0, 1)
        assert shown.shape[1] - reference.shape[1] in (0, 1)
        shown = shown[: reference.shape[0], : reference.shape[1]].astype(int)
        # (Resampled: compared with the upright page and with it upside down.)
        upright_diff = np.mean(np.abs(shown - reference))
        assert upright_diff < 0.3 * np.mean(np.abs(shown - reference[::-1, ::-1]))
        # The text layer's words sit on the words of the upright page.
        scale = 200 / 72
        ink = reference < 128
        inside = 0
        words = page.get_text("words")
        for x0, y0, x1, y1, *_ in words:
            r = pymupdf.Rect(x0, y0, x1, y1) * page.rotation_matrix
            box = ink[int(r.y0 * scale) : int(r.y1 * scale), int(r.x0 * scale) : int(r.x1 * scale)]
            inside += box.any()
        assert len(words) > 50 and inside == len(words)
        assert page.get_text().split()[:3] == result.text.split()[:3]


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_hocr_and_alto_say_at_what_angle_a_turned_page_s_lines_run(
    tmp_path: Path, rotation: int
) -> None:
    from xml.etree import ElementTree as ET

    from tair_ocr.writers.alto import build_alto
    from tair_ocr.writers.hocr import build_hocr

    size = (300, 400) if rotation else (400, 300)
    result = _layer_result("image", tmp_path / "x.png", size, rotation)
    hocr = ET.tostring(build_hocr(result), encoding="unicode")
    alto = ET.tostring(build_alto(result), encoding="unicode")
    if rotation:
        assert f"textangle {rotation}" in hocr
        assert f'ROTATION="{rotation}"' in alto
    else:
        assert "textangle" not in hocr and "ROTATION" not in alto
