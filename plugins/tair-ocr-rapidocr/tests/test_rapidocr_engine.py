"""Tests of the tair-ocr-rapidocr plugin: line splitting, availability, discovery
through the entry point, and real recognition with the bundled models."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

# Not installed: skip. Installed but broken (an import error inside it): fail.
if importlib.util.find_spec("tair_ocr_rapidocr") is None:
    pytest.skip(
        "the plugin is not installed: pip install -e plugins/tair-ocr-rapidocr",
        allow_module_level=True,
    )
from tair_ocr_rapidocr import RapidOcrEngine, RapidOcrOptions, split_line
from tair_ocr_rapidocr.engine import layout_ids, words_from_output

from tair_ocr import BBox, PluginManager, UsageError
from tair_ocr.cli import build_parser, main

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)

requires_models = pytest.mark.skipif(
    not RapidOcrEngine().availability().ok, reason="rapidocr or its models are missing"
)


def render(lines: list[str], size=(1300, 300), font_size=40) -> Image.Image:
    path = next((f for f in FONTS if os.path.exists(f)), None)
    if path is None:
        pytest.skip("no TrueType font found")
    font = ImageFont.truetype(path, font_size)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * 90), line, fill="black", font=font)
    return image


# ---------------------------------------------------------------------- splitting

QUAD = [(0.0, 0.0), (200.0, 0.0), (200.0, 20.0), (0.0, 20.0)]


def test_split_line_uses_word_pieces():
    pieces = [
        ("New", 0.9, [[0, 0], [60, 0], [60, 20], [0, 20]]),
        ("York", 0.7, [[80, 0], [160, 0], [160, 20], [80, 20]]),
    ]
    words = split_line("New York", 0.8, QUAD, pieces)
    assert [w.text for w in words] == ["New", "York"]
    assert words[0].bbox == BBox(x0=0, y0=0, x1=60, y1=20)
    assert words[1].bbox == BBox(x0=80, y0=0, x1=160, y1=20)
    assert [w.confidence for w in words] == pytest.approx([0.9, 0.7])
    assert all(w.source == "rapidocr" and w.polygon for w in words)


def test_split_line_groups_character_pieces_into_words():
    # CJK-style output: one piece per character; words come from the line's spaces.
    pieces = [(ch, 0.5 + i / 10, [[i * 10, 0], [i * 10 + 10, 0], [i * 10 + 10, 20], [i * 10, 20]])
              for i, ch in enumerate("abcd")]  # fmt: skip
    words = split_line("ab cd", 0.9, QUAD, pieces)
    assert [w.text for w in words] == ["ab", "cd"]
    assert words[0].bbox.as_tuple() == (0, 0, 20, 20)
    assert words[1].bbox.as_tuple() == (20, 0, 40, 20)
    assert words[1].confidence == pytest.approx(0.75)


def test_split_line_without_matching_pieces_shares_the_line_box():
    # Pieces that don't spell the line (or none): proportional boxes on the line quad.
    for pieces in ([], [("xyz", 0.9, QUAD)]):
        words = split_line("ab  cd", 0.6, QUAD, pieces)
        assert [w.text for w in words] == ["ab", "cd"]
        assert words[0].bbox.x0 == 0 and words[0].bbox.x1 == pytest.approx(200 * 2 / 6)
        assert words[1].bbox.x1 == pytest.approx(200)
        assert all(w.confidence == pytest.approx(0.6) for w in words)
    assert split_line("   ", 0.9, QUAD) == []


def test_split_line_follows_a_rotated_line():
    # A line going down-right at 45°: word polygons stay on the line.
    quad = [(0.0, 0.0), (100.0, 100.0), (90.0, 110.0), (-10.0, 10.0)]
    first, second = split_line("aaaa bbbb", 0.9, quad)
    assert first.polygon[0] == pytest.approx((0.0, 0.0))
    assert second.polygon[1] == pytest.approx((100.0, 100.0))
    assert first.bbox.y1 < second.bbox.y1


def test_layout_reads_prose_columns_one_after_the_other():
    h = 30
    lines = [
        BBox(x0=0, y0=0, x1=600, y1=h),  # left column (long lines: prose)
        BBox(x0=700, y0=0, x1=1300, y1=h),  # right column, same row
        BBox(x0=0, y0=40, x1=580, y1=40 + h),
        BBox(x0=700, y0=40, x1=1290, y1=40 + h),
        BBox(x0=0, y0=80, x1=200, y1=80 + h),  # short last lines of both paragraphs,
        BBox(x0=700, y0=80, x1=900, y1=80 + h),  # side by side: still prose, not a row
        BBox(x0=0, y0=400, x1=500, y1=400 + h),  # far below: a new block
    ]
    line_ids, block_ids = layout_ids(lines)
    assert line_ids == [0, 1, 2, 3, 4, 5, 6]
    assert block_ids == [0, 1, 0, 1, 0, 1, 2]


def test_layout_reads_narrow_justified_columns_one_after_the_other():
    # A magazine page: three justified columns, each line 10x as wide as high (too
    # short for PROSE_WIDTH), every row holding one line of each column.
    h = 40
    lines = [
        BBox(x0=x0, y0=row * 48, x1=x0 + 400, y1=row * 48 + h)
        for row in range(5)
        for x0 in (0, 450, 900)
    ]
    line_ids, block_ids = layout_ids(lines)
    assert len(set(line_ids)) == 15  # no row is read across the columns
    assert [block_ids[i] for i in range(0, 15, 3)] == [0] * 5  # left column
    assert [block_ids[i] for i in range(1, 15, 3)] == [1] * 5
    assert [block_ids[i] for i in range(2, 15, 3)] == [2] * 5


def test_layout_keeps_rows_where_a_justified_column_stands_beside_labels():
    # A form: labels of every length, values that happen to share both edges; and
    # lines a detector cut in two at varying places. Both stay rows.
    h = 20
    labels = [BBox(x0=0, y0=r * 30, x1=60 + 37 * r, y1=r * 30 + h) for r in range(4)]
    values = [BBox(x0=300, y0=r * 30, x1=440, y1=r * 30 + h) for r in range(4)]
    line_ids, _ = layout_ids([*labels, *values])
    assert line_ids[:4] == line_ids[4:]  # label and value share a line, row by row
    heads = [BBox(x0=0, y0=r * 30, x1=240, y1=r * 30 + h) for r in range(4)]
    tails = [BBox(x0=250 + 25 * r, y0=r * 30, x1=520, y1=r * 30 + h) for r in range(4)]
    line_ids, _ = layout_ids([*heads, *tails])
    assert line_ids[:4] == line_ids[4:]


def test_layout_reads_table_rows_across_cells():
    h = 30
    cells = [
        BBox(x0=0, y0=0, x1=40, y1=h),  # row 1: "1" | "Whiteboard markers" | "8.42"
        BBox(x0=100, y0=0, x1=400, y1=h),
        BBox(x0=800, y0=2, x1=900, y1=h + 2),
        BBox(x0=0, y0=40, x1=40, y1=40 + h),  # row 2
        BBox(x0=100, y0=40, x1=350, y1=40 + h),
        BBox(x0=800, y0=40, x1=900, y1=40 + h),
    ]
    line_ids, block_ids = layout_ids(cells)
    assert line_ids == [0, 0, 0, 1, 1, 1]  # one line per table row
    assert block_ids == [0] * 6  # one table


class _Output:
    """The attributes of a ``RapidOCROutput`` that the engine reads."""

    def __init__(self, txts, scores, boxes, word_results=()):
        self.txts, self.scores, self.boxes, self.word_results = txts, scores, boxes, word_results


def test_words_from_output_tags_lines_and_blocks():
    boxes = [QUAD, [(0, 40), (200, 40), (200, 60), (0, 60)]]
    words = words_from_output(_Output(("one two", "three"), (0.9, 0.8), boxes))
    assert [(w.text, w.line_id, w.block_id) for w in words] == [
        ("one", 0, 0),
        ("two", 0, 0),
        ("three", 1, 0),
    ]
    # Table cells of one row are read left to right as one line, whatever rapidocr's order.
    cells = [[(300, 0), (340, 0), (340, 20), (300, 20)], [(0, 0), (40, 0), (40, 20), (0, 20)]]
    words = words_from_output(_Output(("right", "left"), (0.9, 0.9), cells))
    assert [(w.text, w.line_id) for w in words] == [("left", 0), ("right", 0)]
    # Word results that don't match the lines one to one are not trusted.
    words = words_from_output(_Output(("one two", "three"), (0.9, 0.8), boxes, [()]))
    assert len(words) == 3
    assert words_from_output(_Output((), (), None)) == []


# ---------------------------------------------------------------------- the plugin


def test_availability_names_the_models():
    availability = RapidOcrEngine().availability()
    assert availability.ok, availability.reason
    assert "PP-OCRv6" in availability.reason


def test_entry_point_registers_the_engine():
    eps = importlib.metadata.entry_points(group="tair_ocr")
    assert any(ep.name == "rapidocr" and ep.value == "tair_ocr_rapidocr" for ep in eps)
    pm = PluginManager(autoload=True)
    assert "rapidocr" in pm.engines.names()
    assert pm.engines.plugin_of("rapidocr") == "rapidocr"
    # Discovery is what brings it in: without autoload it is absent.
    assert "rapidocr" not in PluginManager(autoload=False).engines.names()


def test_plugins_command_lists_it(capsys, monkeypatch):
    monkeypatch.delenv("TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = next(r for r in report["components"]["engines"] if r["name"] == "rapidocr")
    assert row["available"] and row["plugin"] == "rapidocr"
    dist = next(p for p in report["plugins"] if p["name"] == "rapidocr")
    assert dist["distribution"] == "tair-ocr-rapidocr"


def test_options_are_a_typed_model_with_generated_flags():
    """A third-party plugin's options: a model on the engine; tair-ocr makes the flag
    and validates both spellings."""
    pm = PluginManager(autoload=True)
    assert pm.option_models.get("rapidocr") is RapidOcrOptions
    assert pm.option_models.plugin_of("rapidocr") == "rapidocr"
    args = build_parser(pm).parse_args(["x.png", "--rapidocr-threads", "2"])
    options = pm.option_models.parse(pm.option_models.values_from(args))
    assert options["rapidocr"] == RapidOcrOptions(threads=2)
    assert pm.option_models.parse({"rapidocr": {"threads": 2}}) == options
    with pytest.raises(UsageError, match=r"--rapidocr-threads"):
        pm.option_models.parse({"rapidocr_threads": 0})
    engine = RapidOcrEngine()
    engine.configure(options.for_component(engine))
    assert engine.threads == 2
    engine.configure(RapidOcrOptions())  # None keeps the threads
    assert engine.threads == 2


def test_non_latin_language_warns_once(caplog):
    engine = RapidOcrEngine()
    with caplog.at_level(logging.WARNING, logger="tair_ocr_rapidocr"):
        engine._check_languages(["eng", "rus", "rus", "chi_sim"])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "'rus'" in warnings[0]


# ---------------------------------------------------------------------- recognition


@requires_models
def test_recognizes_words_with_boxes():
    image = render(["Invoice number 20417", "Total due: 318.40 EUR"])
    words = RapidOcrEngine().recognize(image, languages=["eng"], dpi=300, timeout=120)
    expected = ["Invoice", "number", "20417", "Total", "due:", "318.40", "EUR"]
    assert [w.text for w in words] == expected
    assert all(w.source == "rapidocr" and 0.5 < w.confidence <= 1.0 for w in words)
    assert [w.line_id for w in words] == [0, 0, 0, 1, 1, 1, 1]
    # Boxes sit on the rendered text: left to right, first line above the second.
    assert words[0].bbox.x0 == pytest.approx(30, abs=15)
    assert words[0].bbox.x1 < words[1].bbox.x0 < words[2].bbox.x0
    assert words[0].bbox.y1 < words[3].bbox.y0
    blank = Image.new("L", (300, 100), 255)
    assert RapidOcrEngine().recognize(blank, languages=["eng"], dpi=300) == []


@requires_models
def test_cli_reads_with_rapidocr(tmp_path, monkeypatch):
    monkeypatch.delenv("TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    source = tmp_path / "note.png"
    render(["Meeting moved to Friday"]).save(source, dpi=(300, 300))
    code = main([str(source), "--engine", "rapidocr", "-o", str(tmp_path), "-t", "txt,json", "-q"])
    assert code == 0
    assert (tmp_path / "note.txt").read_text().split() == ["Meeting", "moved", "to", "Friday"]
    result = json.loads(Path(tmp_path / "note.json").read_text())
    assert result["engine"] == "rapidocr"
    words = [w for b in result["pages"][0]["blocks"] for ln in b["lines"] for w in ln["words"]]
    assert {w["source"] for w in words} == {"rapidocr"}
