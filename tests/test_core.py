"""Data model, geometry, settings, layout and atomic outputs."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tair_ocr.components import Writer
from tair_ocr.errors import EmptyInputError, OutputExistsError, UsageError
from tair_ocr.geometry import Affine
from tair_ocr.layout import build_blocks, group_lines, table_regions
from tair_ocr.outputs import atomic_destination, plan_outputs
from tair_ocr.results import BBox, DocumentResult, PageError, PageResult, Word
from tair_ocr.settings import Settings, parse_page_ranges


class TextWriter(Writer):
    name = "txt"
    suffix = ".txt"

    def write(self, result, destination):
        destination.write_text(result.text)


def word(text, x0, y0, x1, y1, **kw):
    return Word(
        text=text, confidence=0.8, bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1), source="test", **kw
    )


def test_document_result_json_round_trip():
    page = PageResult(
        index=0,
        width=100,
        height=50,
        dpi=300,
        blocks=build_blocks([word("a", 1, 1, 5, 5, block_id=0, line_id=0)]),
        timings={"ocr": 0.5},
        counters={"tiles_skipped": 3},
    )
    failed = PageResult(
        index=1,
        width=100,
        height=50,
        dpi=300,
        error=PageError(kind="RuntimeError", message="ocr: boom"),
    )
    doc = DocumentResult(source="x.pdf", kind="pdf", pages=[page, failed], engine="tesseract")
    back = DocumentResult.model_validate_json(doc.model_dump_json())
    assert back == doc
    assert not back.ok and back.failed_pages[0].page_number == 2


def test_confidence_is_clamped_but_type_checked():
    assert word("a", 0, 0, 1, 1).model_copy(update={}).confidence == 0.8
    w = Word(text="a", confidence=1.0000001, bbox=BBox(x0=0, y0=0, x1=1, y1=1), source="t")
    assert w.confidence == 1.0
    with pytest.raises(ValueError):
        Word(text="a", confidence="high", bbox=BBox(x0=0, y0=0, x1=1, y1=1), source="t")


@given(
    st.floats(0.1, 8),
    st.floats(-50, 50),
    st.floats(-50, 50),
    st.floats(-30, 30),
    st.floats(0, 500),
    st.floats(0, 500),
)
def test_affine_inverse_and_composition(s, tx, ty, deg, x, y):
    t = Affine.translation(tx, ty) @ Affine.rotation(deg, (10, 20)) @ Affine.scaling(s)
    px, py = t.inverse().point(t.point((x, y)))
    assert px == pytest.approx(x, abs=1e-6) and py == pytest.approx(y, abs=1e-6)


def test_affine_maps_boxes():
    box = BBox(x0=10, y0=20, x1=30, y1=40)
    assert Affine.scaling(0.5).box(box) == BBox(x0=5, y0=10, x1=15, y1=20)
    rotated = Affine.rotation(90, (0, 0)).box(box)
    assert rotated.width == pytest.approx(20) and rotated.height == pytest.approx(20)


@pytest.mark.parametrize(
    ("spec", "count", "expected"),
    [
        ("1-3", 10, [0, 1, 2]),
        ("2,5-", 6, [1, 4, 5]),
        ("-2", 5, [0, 1]),
        ("3-100", 4, [2, 3]),
        ("4,1", 5, [3, 0]),
        ("1,1-2", 3, [0, 1]),
    ],
)
def test_page_ranges(spec, count, expected):
    assert parse_page_ranges(spec, count) == expected


@pytest.mark.parametrize("spec", ["", "a", "3-1", "0", "1--2", "1,,2"])
def test_bad_page_ranges(spec):
    with pytest.raises(UsageError):
        parse_page_ranges(spec, 10)


def test_page_selection_past_the_end_is_empty():
    with pytest.raises(EmptyInputError):
        parse_page_ranges("5-", 3)


def test_settings_validation():
    s = Settings(languages="eng+deu", output_types="pdf, txt")
    assert s.languages == ["eng", "deu"] and s.output_types == ["pdf", "txt"]
    with pytest.raises(ValueError):
        Settings(languages="eng;rm -rf")
    with pytest.raises(ValueError):
        Settings(jobs=0)


def test_layout_moves_a_block_before_the_text_below_it():
    # Tesseract put a right-aligned date after the text under it.
    words = [
        word("Letterhead", 0, 0, 100, 10, block_id=0, line_id=0),
        word("Subject", 0, 60, 70, 70, block_id=1, line_id=1),
        word("Paragraph", 0, 90, 300, 100, block_id=2, line_id=2),
        word("Date", 250, 30, 300, 40, block_id=3, line_id=3),
    ]
    # The date has no block beside it: a row of its own, read between the rows
    # above and below it.
    assert [b.text for b in build_blocks(words)] == ["Letterhead", "Date", "Subject", "Paragraph"]


def test_layout_keeps_the_engines_column_order():
    # Left column, then right column, although the right column's first block is
    # above the left column's second: paragraph breaks line up across columns.
    words = [
        word("title", 0, 0, 260, 10, block_id=0, line_id=0),
        word("left1", 0, 100, 60, 110, block_id=1, line_id=1),
        word("left2", 0, 200, 60, 210, block_id=2, line_id=2),
        word("right1", 200, 100, 260, 110, block_id=3, line_id=3),
        word("right2", 200, 200, 260, 210, block_id=4, line_id=4),
        word("footer", 0, 300, 260, 310, block_id=5, line_id=5),
    ]
    assert [b.text for b in build_blocks(words)] == [
        "title",
        "left1",
        "left2",
        "right1",
        "right2",
        "footer",
    ]


def test_layout_keeps_engine_order_of_blocks_side_by_side():
    # Two blocks whose boxes interleave both ways: no cut applies.
    words = [
        word("b", 50, 0, 150, 100, block_id=1, line_id=1),
        word("a", 0, 50, 100, 150, block_id=0, line_id=0),
    ]
    assert [b.text for b in build_blocks(words)] == ["b", "a"]


def test_layout_joins_a_paragraph_split_into_false_columns():
    # Tesseract cut wide-spaced lines after "war." and "field,": the right halves
    # came as a block of their own, one word space to the right.
    words = [
        word("We", 0, 0, 40, 20, block_id=0, line_id=0),
        word("are", 70, 0, 110, 20, block_id=0, line_id=0),
        word("war.", 140, 0, 200, 20, block_id=0, line_id=0),
        word("of", 0, 30, 40, 50, block_id=0, line_id=1),
        word("field,", 70, 30, 150, 50, block_id=0, line_id=1),
        word("last", 0, 60, 60, 80, block_id=0, line_id=2),
        word("We", 228, 0, 268, 20, block_id=1, line_id=3),
        word("have", 298, 0, 360, 20, block_id=1, line_id=3),
        word("as", 178, 31, 210, 51, block_id=1, line_id=4),
    ]
    blocks = build_blocks(words)
    assert [b.text for b in blocks] == ["We are war. We have\nof field, as\nlast"]


def test_layout_joins_line_tails_split_off_lines_of_several_blocks():
    # Each line is a block of its own (tesseract's paragraphs) and the tails of all
    # three come after them as one more block, to their right.
    lines = (("one two", "three"), ("four five", "six"), ("a b", "c"))
    words, tails = [], []
    for row, (head, tail) in enumerate(lines):
        y = 40 * row
        for k, text in enumerate(head.split()):
            words.append(word(text, 60 * k, y, 60 * k + 50, y + 20, block_id=row, line_id=row))
        tails.append(word(tail, 130, y, 180, y + 20, block_id=9, line_id=9 + row))
    joined = build_blocks(words + tails)
    assert [b.text for b in joined] == ["one two three", "four five six", "a b c"]


def test_layout_keeps_real_columns_apart():
    # Same rows, but a gutter of several word spaces: two columns.
    left = [("one", "two"), ("three", "four")]
    words = []
    for row, pair in enumerate(left):
        y = 30 * row
        words.append(word(pair[0], 0, y, 50, y + 20, block_id=0, line_id=row))
        words.append(word(pair[1], 60, y, 110, y + 20, block_id=0, line_id=row))
        words.append(word(f"r{row}", 180, y, 230, y + 20, block_id=1, line_id=10 + row))
    assert [b.text for b in build_blocks(words)] == ["one two\nthree four", "r0\nr1"]


def _table_as_columns(rows: int = 5) -> list:
    """A table read the way tesseract's automatic segmentation reads many: the item
    numbers taken for one line of vertical text, the descriptions one block, the
    amounts another, plus a title above and a paragraph below."""
    words = [word("Invoice", 0, 0, 120, 20, block_id=0, line_id=0)]
    words.append(word("12345", 10, 40, 30, 40 + 30 * rows - 10, block_id=1, line_id=1))
    for r in range(rows):
        y = 40 + 30 * r
        words.append(word("Blue", 60, y, 100, y + 20, block_id=2, line_id=2 + r))
        words.append(word("widget", 110, y, 170, y + 20, block_id=2, line_id=2 + r))
        words.append(word(f"{r}.50", 300, y, 350, y + 20, block_id=3, line_id=20 + r))
    y = 40 + 30 * rows + 60
    words.append(word("Thank", 0, y, 60, y + 20, block_id=4, line_id=40))
    words.append(word("you", 70, y, 110, y + 20, block_id=4, line_id=40))
    return words


def test_table_read_as_columns_is_found_without_the_text_around_it():
    (region,) = table_regions(_table_as_columns())
    assert (region.x0, region.y0, region.x1, region.y1) == (10, 40, 350, 180)


def test_table_region_takes_in_its_header_and_totals_rows():
    words = [w for w in _table_as_columns() if w.text != "Invoice"]
    words += [
        word("No.", 10, 10, 40, 28, block_id=5, line_id=50),
        word("Amount", 290, 10, 350, 28, block_id=6, line_id=51),
        word("Total", 60, 190, 110, 210, block_id=7, line_id=52),
        word("9.99", 300, 190, 350, 210, block_id=8, line_id=53),
    ]
    (region,) = table_regions(words)
    assert (region.y0, region.y1) == (10, 210)


def test_form_whose_label_column_is_cut_into_blocks_is_one_table():
    # Automatic segmentation cuts the labels into blocks of 2, 1 and 2 rows (blank
    # rows between them) and the values into blocks of their own: no two blocks
    # share three rows, yet the labels are one column beside the values.
    words = [word("INVOICE", 10, 0, 120, 20, block_id=0, line_id=0)]
    labels = [(0, 2, "Date:"), (0, 3, "Name:"), (1, 5, "Phone:"), (2, 7, "Due:"), (2, 8, "VAT:")]
    for k, (block, row, text) in enumerate(labels):
        y = 30 * row
        words.append(word(text, 10, y, 70, y + 20, block_id=1 + block, line_id=1 + k))
        words.append(word("value", 300, y, 360, y + 20, block_id=10 + block, line_id=20 + k))
    (region,) = table_regions(words)
    # The one-line heading above, aligned and as close, starts no column (y0 60, not 0).
    assert (region.x0, region.y0, region.x1, region.y1) == (10, 60, 360, 260)


def test_two_columns_of_running_text_are_not_a_table():
    words = []
    for r in range(6):
        y = 30 * r
        for c, x in enumerate((0, 400)):
            for k in range(6):
                box = (x + 50 * k, y, x + 50 * k + 40, y + 20)
                words.append(word("text", *box, block_id=c, line_id=10 * c + r))
    assert table_regions(words) == []
    # Without the engine's ids there is nothing to judge.
    assert table_regions([w.model_copy(update={"block_id": None}) for w in words]) == []


def test_table_region_widens_over_a_column_the_engine_did_not_read():
    import numpy as np

    gray = np.full((330, 800), 240, np.uint8)
    gray[40:180, 10:30] = 20  # item numbers
    gray[40:180, 60:170] = 20  # descriptions
    gray[40:180, 300:350] = 20  # amounts
    gray[40:180, 420:470] = 20  # a column nobody read
    gray[40:180, 660:690] = 20  # beyond a gap of more than eight line heights
    words = [w for w in _table_as_columns() if w.bbox.y1 <= 180]
    words.append(word("Thank", 0, 300, 60, 320, block_id=4, line_id=40))
    (region,) = table_regions(words, lambda: gray)
    assert (region.x0, region.x1) == (10, 470)
    # Running text beside the table fences it in; a stray cell does not.
    fence = [
        word(t, 380 + 12 * k, 100, 390 + 12 * k, 120, block_id=9, line_id=60)
        for k, t in enumerate("abc")
    ]
    assert table_regions(words + fence, lambda: gray)[0].x1 == 350
    cell = word("7", 380, 100, 390, 120, block_id=9, line_id=60)
    assert table_regions([*words, cell], lambda: gray)[0].x1 == 470
    # Without contrast (a blank band) it is not widened.
    assert table_regions(words, lambda: np.full((330, 800), 200, np.uint8))[0].x1 == 350


def test_layout_geometry_groups_lines_and_blocks():
    words = [
        word("world", 60, 2, 100, 22),
        word("hello", 0, 0, 50, 20),
        word("next", 0, 30, 40, 50),
        word("far", 0, 400, 30, 420),
    ]
    assert [[w.text for w in ln] for ln in group_lines(words)] == [
        ["hello", "world"],
        ["next"],
        ["far"],
    ]
    blocks = build_blocks(words)
    assert [b.text for b in blocks] == ["hello world\nnext", "far"]


def test_plan_outputs_refuses_existing_and_clashes(tmp_path):
    writer = TextWriter()
    a, b = tmp_path / "x" / "doc.pdf", tmp_path / "y" / "doc.pdf"
    with pytest.raises(UsageError, match="both write"):
        plan_outputs([a, b], tmp_path, [writer], force=False)
    (tmp_path / "doc.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--force"):
        plan_outputs([a], tmp_path, [writer], force=False)
    assert plan_outputs([a], tmp_path, [writer], force=True)[a]["txt"] == tmp_path / "doc.txt"


def test_atomic_destination_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_destination(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]
    with atomic_destination(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)
