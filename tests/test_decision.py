"""The decide step (tair_ocr.decision): which regions of a page are read unsurely
and go to restoration, on pages drawn here with known word boxes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.decision import DecisionParams, decide, merge_boxes
from tair_ocr.results import BBox, Word

FONTS = (
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
)
LINES = ("Quarterly report for the", "northern district office", "Total amount 4125 dollars")


def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONTS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    pytest.skip("no TrueType font found")


def draw_page(
    lines=LINES, *, size=(900, 480), font_size=32, fills=None
) -> tuple[np.ndarray, list[list[Word]]]:
    """A page of ``lines`` (one every 150 px) and, per line, its words with exact
    boxes, read with confidence 0.95."""
    face = _font(font_size)
    image = Image.new("L", size, "white")
    draw = ImageDraw.Draw(image)
    per_line = []
    for i, line in enumerate(lines):
        y = 60 + 150 * i
        draw.text((40, y), line, font=face, fill=0 if fills is None else fills[i])
        words, x = [], 40.0
        for text in line.split():
            x0, y0, x1, y1 = draw.textbbox((x, y), text, font=face)
            words.append(
                Word(
                    text=text,
                    confidence=0.95,
                    bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
                    source="test",
                )
            )
            x += draw.textlength(text + " ", font=face)
        per_line.append(words)
    return np.asarray(image), per_line


def enclosing(words: list[Word]) -> BBox:
    return BBox.enclosing([w.bbox for w in words])


def contains(outer: BBox, inner: BBox) -> bool:
    return (
        outer.x0 <= inner.x0
        and outer.y0 <= inner.y0
        and outer.x1 >= inner.x1
        and outer.y1 >= inner.y1
    )


def test_a_page_read_confidently_needs_no_restoration():
    page, lines = draw_page()
    decision = decide(page, [w for line in lines for w in line])
    assert decision.regions == [] and not decision.needed
    assert sum(decision.reasons.values()) == 0
    # The typical word height of the page (what re-read crops get as context).
    assert 20 <= decision.line_height <= 35


def test_a_low_confidence_word_gets_a_region_around_it():
    page, lines = draw_page()
    words = [w for line in lines for w in line]
    unsure = next(w for w in words if w.text == "district")
    words = [w.model_copy(update={"confidence": 0.3}) if w is unsure else w for w in words]
    decision = decide(page, words)
    assert decision.needed
    assert dict(decision.reasons) == {"low_confidence": 1}
    (region,) = decision.regions
    # The word and about a line height of context, grown over the words that
    # context cuts (a crop never cuts a word), not its whole line.
    assert contains(region, unsure.bbox)
    line = next(line for line in lines if unsure in line or any(w.text == "district" for w in line))
    i = [w.text for w in line].index("district")
    neighbours = line[max(0, i - 1) : i + 2]
    assert region.x0 >= min(w.bbox.x0 for w in neighbours) - decision.line_height
    assert region.x1 <= max(w.bbox.x1 for w in neighbours) + decision.line_height
    for word in words:  # no word is cut
        inter = region.intersection(word.bbox)
        assert inter == 0 or inter == pytest.approx(word.bbox.area)
    assert region.y1 < lines[2][0].bbox.y0  # the next line is not unsure
    others = [w for w in words if w.text in ("Quarterly", "dollars")]
    assert not any(contains(region, w.bbox) for w in others)


def test_small_text_not_read_near_certainly_is_unsure():
    """Small for the engine that read it: tesseract's 16 px, not rapidocr's 0."""
    params = DecisionParams(small_text_height=16.0)
    word = Word(text="tiny", confidence=0.9, bbox=BBox(x0=50, y0=50, x1=80, y1=60), source="test")
    page = np.full((200, 300), 255, np.uint8)
    assert word.bbox.height < params.small_text_height
    assert dict(decide(page, [word], params).reasons) == {"small_text": 1}
    sure = word.model_copy(update={"confidence": 0.99})
    assert decide(page, [sure], params).regions == []
    # An engine that copes with small text (the default, 0) is not second-guessed.
    assert decide(page, [word]).regions == []


def test_ink_no_word_covers_is_unread():
    page, lines = draw_page()
    # The engine read the first two lines and missed the third.
    decision = decide(page, lines[0] + lines[1])
    assert dict(decision.reasons) == {"unread_ink": 1}
    (region,) = decision.regions
    assert contains(region, enclosing(lines[2]))
    # The lines that were read are not in it.
    assert not any(contains(region, w.bbox) for w in lines[0] + lines[1])


def test_a_faint_line_no_word_covers_is_unread():
    # Mid-grey text (150/255) beside black text: a line an engine dropped.
    page, lines = draw_page(size=(1400, 420), font_size=40, fills=(0, 0, 150))
    decision = decide(page, lines[0] + lines[1])
    assert decision.reasons.get("unread_ink") == 1, (
        "grey text lighter than the page's Otsu threshold (set by the black text) "
        "is not counted as ink, so a dropped faint line goes unnoticed"
    )
    assert any(contains(r, enclosing(lines[2])) for r in decision.regions)


def test_merge_boxes_merges_overlapping_boxes_and_leaves_disjoint_ones():
    a = BBox(x0=0, y0=0, x1=50, y1=50)
    b = BBox(x0=40, y0=40, x1=100, y1=80)  # overlaps a
    c = BBox(x0=90, y0=75, x1=120, y1=120)  # overlaps b only: chained into one
    far = BBox(x0=300, y0=300, x1=350, y1=350)
    merged = merge_boxes([far, c, a, b])
    assert sorted(merged, key=lambda r: r.x0) == [BBox(x0=0, y0=0, x1=120, y1=120), far]
    # Touching is not overlapping.
    touching = BBox(x0=50, y0=0, x1=80, y1=50)
    assert len(merge_boxes([a, touching])) == 2
    assert merge_boxes([]) == []
    # Merging repeats until no two regions overlap (the union of two may reach a third).
    d = BBox(x0=0, y0=100, x1=10, y1=110)
    e = BBox(x0=0, y0=0, x1=10, y1=10)
    f = BBox(x0=5, y0=5, x1=10, y1=105)
    out = merge_boxes([d, e, f])
    assert out == [BBox(x0=0, y0=0, x1=10, y1=110)]


def test_a_region_over_most_of_the_page_becomes_the_whole_page():
    page = np.full((100, 200), 255, np.uint8)
    big = Word(text="big", confidence=0.3, bbox=BBox(x0=30, y0=30, x1=170, y1=70), source="t")
    decision = decide(page, [big])
    # Grown by a line height (40 px), the region covers over 60 % of the page.
    assert decision.regions == [BBox(x0=0, y0=0, x1=200, y1=100)]
    assert dict(decision.reasons) == {"low_confidence": 1}
    # A smaller one stays a region.
    page = np.full((400, 800), 255, np.uint8)
    decision = decide(page, [big])
    (region,) = decision.regions
    assert region != BBox(x0=0, y0=0, x1=800, y1=400) and contains(region, big.bbox)
