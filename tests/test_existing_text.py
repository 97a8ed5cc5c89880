"""Pages that already have text: found, kept, replaced or rasterised, never doubled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.cli import main
from tair_ocr.existing_text import (
    FROM_PDF_OCR_LAYER,
    FROM_PDF_TEXT,
    ExistingText,
    outside_text,
    page_action,
)
from tair_ocr.loaders.pdf import PdfDocument
from tair_ocr.pipeline import Pipeline
from tair_ocr.results import BBox, Word
from tair_ocr.writers.pdf_content import content_tokens, strip_invisible_text, strip_text_stream

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract")

SCAN_LINES = ["Quarterly report", "Revenue rose sharply", "Costs fell again"]
TYPED = "Invoice 4711 payable"


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _scan_image(lines: list[str] = SCAN_LINES) -> Image.Image:
    """A clean 200-dpi 'scan' of a few lines, 5 × 2.5 inches."""
    image = Image.new("L", (1000, 500), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 60 + 120 * i), line, fill=0, font=_font(56))
    return image


def _scan_pdf(path: Path, *, typed: str | None = None, invisible: str | None = None) -> Path:
    """A PDF page showing the scan; optionally with born-digital ``typed`` text below
    it and an invisible (render mode 3) OCR layer drawing ``invisible``."""
    doc = pymupdf.open()
    page = doc.new_page(width=360, height=260)
    png = path.with_suffix(".png")
    _scan_image().save(png)
    page.insert_image(pymupdf.Rect(0, 0, 360, 180), filename=str(png))
    if typed:
        page.insert_text((30, 230), typed, fontsize=14)
    if invisible:
        page.insert_text((22, 45), invisible, fontsize=18, render_mode=3)
    page.insert_link(
        {"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(0, 0, 50, 20), "uri": "https://a.example"}
    )
    doc.set_toc([[1, "Report", 1]])
    doc.save(path)
    return path


def _born_digital_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    for text in ("Terms and conditions apply", "Second page of terms"):
        page = doc.new_page(width=300, height=200)
        page.insert_text((30, 60), text, fontsize=14)
        page.insert_link(
            {
                "kind": pymupdf.LINK_URI,
                "from": pymupdf.Rect(30, 45, 200, 65),
                "uri": "https://example.org",
            }
        )
    doc.set_toc([[1, "Terms", 1], [1, "Second", 2]])
    doc.set_metadata({"title": "Terms", "author": "Legal"})
    doc.save(path)
    return path


def _words(path: Path) -> list[list[str]]:
    with pymupdf.open(path) as doc:
        return [[w[4] for w in page.get_text("words")] for page in doc]


def _pipeline(**settings) -> Pipeline:
    return Pipeline(
        engine="tesseract", restore="never", output_types=["pdf", "txt", "json"], **settings
    )


# ---------------------------------------------------------------------- content streams


def test_content_tokens_keep_strings_arrays_dicts_and_inline_images_whole() -> None:
    data = (
        b"q /F1 12 Tf (a (nested) \\) paren) Tj [(A) -120 <4142>] TJ % comment Tj\n"
        b"<< /MCID 3 >> BDC EMC BI /W 2 /H 1 /BPC 8 /CS /G ID \x00EI\xff EI Q"
    )
    tokens = list(content_tokens(data))
    ops = [t.value for t in tokens if t.kind == "op"]
    assert ops == [b"q", b"Tf", b"Tj", b"TJ", b"BDC", b"EMC", b"Q"]
    assert tokens[4].value == b"(a (nested) \\) paren)"
    assert tokens[6].value == b"[(A) -120 <4142>]"
    assert [t.kind for t in tokens].count("inline-image") == 1
    assert b"".join(data[t.start : t.end] for t in tokens).count(b"EI\xff") == 1


def test_strip_removes_only_invisible_text_following_q_and_Q() -> None:
    data = (
        b"BT /F1 10 Tf 3 Tr (hidden) Tj 0 Tr (shown) Tj ET\n"
        b"q BT 3 Tr [(h) 5 (x)] TJ (next) ' 1 2 (more) \" ET Q\n"
        b"BT (after restore) Tj ET"
    )
    out, removed, _ = strip_text_stream(data)
    assert removed == 4
    assert b"hidden" not in out and b"(h)" not in out and b"next" not in out
    assert b"more" not in out
    assert b"(shown) Tj" in out and b"(after restore) Tj" in out
    # The line moves of ' and " stay (visible text after them keeps its place).
    assert b"T*" in out and b"1 Tw 2 Tc T*" in out


def test_strip_invisible_text_reaches_forms_and_keeps_visible_text(tmp_path: Path) -> None:
    layer = pymupdf.open()
    layer_page = layer.new_page(width=300, height=200)
    layer_page.insert_text((20, 50), "grafted ocr layer", fontsize=12, render_mode=3)
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    page.insert_text((20, 150), "visible words here", fontsize=12)
    page.show_pdf_page(page.rect, layer, 0)  # the layer as a form XObject
    assert len(page.get_text("words")) == 6 and page.get_xobjects()
    assert strip_invisible_text(doc, page) >= 1
    assert [w[4] for w in page.get_text("words")] == ["visible", "words", "here"]


# ---------------------------------------------------------------------- found text


def test_loader_tells_born_digital_text_from_ocr_layers(tmp_path: Path) -> None:
    path = _scan_pdf(tmp_path / "mixed.pdf", typed=TYPED, invisible="Quarterly report")
    with PdfDocument(path, dpi=144) as doc:
        page = next(doc.pages([0]))
    found = page.existing_text
    assert found is not None and found.kind == "mixed"
    assert [w.text for w in found.visible] == TYPED.split()
    assert [w.text for w in found.invisible] == ["Quarterly", "report"]
    assert 0.6 < found.image_share < 0.75  # the scan covers 180 of 260 points
    # Boxes are pixels of the page as rendered (2 px per point here).
    invoice = found.visible[0].bbox
    assert 55 < invoice.x0 < 65 and 420 < invoice.y0 < invoice.y1 < 470
    with PdfDocument(_scan_pdf(tmp_path / "plain.pdf"), dpi=72) as doc:
        assert next(doc.pages([0])).existing_text is None


def test_loader_maps_text_of_rotated_pages_to_the_displayed_page(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    page.insert_text((40, 60), "Turned", fontsize=20)
    page.set_rotation(90)
    doc.save(tmp_path / "turned.pdf")
    with PdfDocument(tmp_path / "turned.pdf", dpi=72) as loaded:
        page = next(loaded.pages([0]))
    box = page.existing_text.words[0].bbox
    gray = page.image.convert("L")
    ink = gray.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert ink is not None
    assert box.x0 - 2 <= ink[0] and ink[2] <= box.x1 + 2
    assert box.y0 - 2 <= ink[1] and ink[3] <= box.y1 + 2


def _word(text: str, x0: float, x1: float, source: str = "tesseract") -> Word:
    return Word(text=text, confidence=0.9, bbox=BBox(x0=x0, y0=10, x1=x1, y1=30), source=source)


def test_page_action_per_mode() -> None:
    typed = ExistingText(words=[_word("a", 0, 10, FROM_PDF_TEXT)])
    layer = ExistingText(words=[_word("a", 0, 10, FROM_PDF_OCR_LAYER)], image_share=1.0)
    scan_with_typing = ExistingText(words=typed.words, image_share=0.9)
    assert page_action(None, "auto") == "ocr"
    assert page_action(ExistingText(), "force") == "ocr"
    assert page_action(typed, "auto") == "skip"
    assert page_action(layer, "auto") == "redo"
    assert page_action(scan_with_typing, "auto") == "redo"
    for mode in ("skip", "redo", "force"):
        assert page_action(layer, mode) == mode
    with pytest.raises(ValueError):
        page_action(layer, "sometimes")


def test_outside_text_drops_what_the_typed_text_says() -> None:
    typed = [_word("Invoice", 100, 180, FROM_PDF_TEXT), _word("4711", 190, 230, FROM_PDF_TEXT)]
    ocr = [
        _word("Invoice", 101, 179),  # the same word read again
        _word("Invoice4711", 99, 231),  # two typed words read as one
        _word("Total", 300, 350),  # not typed: kept
    ]
    assert [w.text for w in outside_text(ocr, typed)] == ["Total"]
    assert outside_text(ocr, []) == ocr


# ---------------------------------------------------------------------- end to end


@needs_tesseract
def test_own_output_gets_one_layer_in_auto_and_redo(tmp_path: Path) -> None:
    scan = _scan_pdf(tmp_path / "scan.pdf")
    first = _pipeline().run(scan, output_dir=tmp_path / "first")
    own = tmp_path / "first" / "scan.ocr.pdf"
    words = _words(own)[0]
    assert words == [w.text for w in first.pages[0].words()] and len(words) >= 6
    for mode in ("auto", "redo"):
        out = tmp_path / mode
        result = _pipeline(existing_text=mode).run(own, output_dir=out)
        record = result.pages[0].existing_text
        assert record is not None and (record.found, record.action) == ("ocr-layer", "redo")
        again = _words(out / "scan.ocr.ocr.pdf")[0]
        assert sorted(again) == sorted(words)  # one layer, not two
        with pymupdf.open(out / "scan.ocr.ocr.pdf") as doc:
            assert doc[0].get_images()  # the scan is still shown
            # What is not replaced stays: links, outline.
            assert [link["uri"] for link in doc[0].get_links()] == ["https://a.example"]
            assert doc.get_toc() == [[1, "Report", 1]]


@needs_tesseract
def test_born_digital_pages_pass_through_exactly(tmp_path: Path) -> None:
    source = _born_digital_pdf(tmp_path / "terms.pdf")
    result = _pipeline().run(source, output_dir=tmp_path / "out")
    assert [p.existing_text.action for p in result.pages] == ["skip", "skip"]
    assert all("ocr" not in p.timings for p in result.pages)  # nothing was read
    out = tmp_path / "out" / "terms.ocr.pdf"
    assert _words(out) == _words(source)
    with pymupdf.open(source) as before, pymupdf.open(out) as after:
        for a, b in zip(before, after, strict=True):
            assert a.read_contents() == b.read_contents()
            assert [link["uri"] for link in a.get_links()] == [
                link["uri"] for link in b.get_links()
            ]
        assert after.get_toc() == before.get_toc()
        assert after.metadata["title"] == "Terms" and after.metadata["author"] == "Legal"
    # The text outputs still hold the page's text.
    text = (tmp_path / "out" / "terms.txt").read_text(encoding="utf-8")
    assert "Terms and conditions apply" in text and "Second page of terms" in text
    page = json.loads((tmp_path / "out" / "terms.json").read_text())["pages"][0]
    assert page["existing_text"]["found"] == "born-digital"


@needs_tesseract
def test_scan_with_typed_text_gets_ocr_only_where_the_typing_is_not(tmp_path: Path) -> None:
    source = _scan_pdf(tmp_path / "form.pdf", typed=TYPED)
    result = _pipeline().run(source, output_dir=tmp_path / "out")
    record = result.pages[0].existing_text
    assert record is not None and record.action == "redo" and record.kept == 3
    words = _words(tmp_path / "out" / "form.ocr.pdf")[0]
    for typed in TYPED.split():
        assert words.count(typed) == 1  # the typed words once: theirs, not OCR's
    assert "Revenue" in words  # the scan is read


@needs_tesseract
def test_force_rasterises_and_skip_leaves_layers_alone(tmp_path: Path) -> None:
    source = _scan_pdf(tmp_path / "form.pdf", typed=TYPED, invisible="Quarterly report")
    forced = _pipeline(existing_text="force").run(source, output_dir=tmp_path / "force")
    assert forced.pages[0].existing_text.action == "force"
    with pymupdf.open(tmp_path / "force" / "form.ocr.pdf") as doc:
        spans = doc[0].get_texttrace()
        assert spans and all(span["type"] == 3 for span in spans)  # no visible text left
        words = [w[4] for w in doc[0].get_text("words")]
    assert words.count("Quarterly") == 1 and "Invoice" in words
    skipped = _pipeline(existing_text="skip").run(source, output_dir=tmp_path / "skip")
    assert skipped.pages[0].existing_text.action == "skip"
    assert _words(tmp_path / "skip" / "form.ocr.pdf") == _words(source)


def test_cli_flags_choose_the_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _born_digital_pdf(tmp_path / "terms.pdf")
    code = main([str(source), "--skip-text", "-o", str(tmp_path / "o"), "-t", "txt"])
    assert code == 0
    assert "2 pages kept as they were" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(source), "--skip-text", "--force-ocr", "-o", str(tmp_path / "p")])
