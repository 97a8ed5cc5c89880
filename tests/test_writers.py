"""Built-in writers: JSON, text, hOCR, ALTO and the searchable PDF.

The PDF tests make "scans" in tmp_path (text drawn with Pillow, put into PDF
pages or image files), take the true word boxes from the ink of the page as
displayed, and check that the invisible text layer of the output selects
exactly those boxes, that the visible page is unchanged and that the input
file is untouched.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tair_ocr.errors import OutputError
from tair_ocr.plugins import PluginManager
from tair_ocr.results import (
    Alternative,
    BBox,
    Block,
    DocumentResult,
    Line,
    PageError,
    PageResult,
    Word,
)
from tair_ocr.writers._glyphless import ADVANCE, ASCENT, DESCENT, FONT_NAME, build_font
from tair_ocr.writers.alto import AltoWriter
from tair_ocr.writers.hocr import HocrWriter
from tair_ocr.writers.json import JsonWriter
from tair_ocr.writers.pdf import PdfWriter
from tair_ocr.writers.text import TextWriter

HTML = "{http://www.w3.org/1999/xhtml}"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
DPI = 150
TRICKY = '<&>"'


def word(text: str, box: tuple[float, float, float, float], conf: float = 0.9, **kw) -> Word:
    x0, y0, x1, y1 = box
    return Word(
        text=text,
        confidence=conf,
        bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
        source=kw.pop("source", "tesseract"),
        **kw,
    )


def page_of(index: int, lines: list[list[Word]], size=(1000, 800), dpi: float = DPI) -> PageResult:
    """A page holding one block made of ``lines`` (lists of words)."""
    built = [Line(bbox=BBox.enclosing([w.bbox for w in ws]), words=ws) for ws in lines]
    blocks = [Block(bbox=BBox.enclosing([ln.bbox for ln in built]), lines=built)] if built else []
    return PageResult(index=index, width=size[0], height=size[1], dpi=dpi, blocks=blocks)


def sample_result() -> DocumentResult:
    """Two blocks on page 1, a failed page 2, one word on page 3."""
    first = page_of(
        0,
        [
            [word("Hello", (10, 20, 60, 40), 0.934), word("wörld", (70, 20, 130, 40), 0.5)],
            [word(TRICKY, (10, 50, 50, 70), 1.0, source="spotter:terediff")],
        ],
    )
    second_block = page_of(
        0, [[word("Total:", (10, 300, 70, 320)), word("€17", (80, 300, 120, 320))]]
    )
    first.blocks.append(second_block.blocks[0])
    fused = word(
        "Straße",
        (5, 5, 80, 30),
        0.75,
        source="fused",
        alternatives=[Alternative(text="Strafse", confidence=0.6, source="tesseract")],
        flags=["uncertain"],
        polygon=[(5, 5), (80, 5), (80, 30), (5, 30)],
    )
    failed = PageResult(
        index=1,
        width=1000,
        height=800,
        dpi=DPI,
        error=PageError(kind="TimeoutError", message="ocr: timed out after 180 s"),
    )
    return DocumentResult(
        source="/scans/in.pdf",
        kind="pdf",
        pages=[first, failed, page_of(2, [[fused]])],
        engine="tesseract",
        restorer="none",
        languages=["eng", "deu"],
        tair_ocr_version="0.1.0",
    )


# ---------------------------------------------------------------------- registration


def test_writers_are_registered_with_their_suffixes():
    writers = PluginManager(autoload=False).writers
    assert {w.name: w.suffix for w in writers} == {
        "pdf": ".ocr.pdf",
        "pdfa": ".pdfa.pdf",
        "txt": ".txt",
        "hocr": ".hocr",
        "alto": ".alto.xml",
        "json": ".json",
    }
    assert all(w.description for w in writers)


# ---------------------------------------------------------------------- json / txt


def test_json_round_trip(tmp_path):
    result = sample_result()
    out = tmp_path / "r.json"
    JsonWriter().write(result, out)
    raw = out.read_bytes()
    assert raw.endswith(b"}\n")
    assert "Straße".encode() in raw  # UTF-8, not \u escapes
    assert DocumentResult.model_validate_json(raw) == result


def test_txt_pages_blocks_lines(tmp_path):
    out = tmp_path / "r.txt"
    TextWriter().write(sample_result(), out)
    expected = f"Hello wörld\n{TRICKY}\n\nTotal: €17\f\fStraße\n"
    assert out.read_bytes() == expected.encode("utf-8")


def test_txt_of_a_document_without_text_is_one_newline(tmp_path):
    out = tmp_path / "r.txt"
    result = DocumentResult(source="a.png", kind="image", pages=[page_of(0, [])])
    TextWriter().write(result, out)
    assert out.read_bytes() == b"\n"


# ---------------------------------------------------------------------- hOCR


def _title(element: ET.Element) -> dict[str, str]:
    props = {}
    for part in element.get("title", "").split(";"):
        key, _, value = part.strip().partition(" ")
        props[key] = value
    return props


def test_hocr_structure_values_and_escaping(tmp_path):
    out = tmp_path / "r.hocr"
    HocrWriter().write(sample_result(), out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html')
    assert "&lt;&amp;&gt;" in text
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{HTML}html"
    metas = {m.get("name"): m.get("content") for m in root.iter(f"{HTML}meta") if m.get("name")}
    assert metas["ocr-system"] == "tair-ocr 0.1.0"
    assert "ocrx_word" in metas["ocr-capabilities"].split()
    assert metas["ocr-number-of-pages"] == "3"

    pages = [e for e in root.iter(f"{HTML}div") if e.get("class") == "ocr_page"]
    assert len(pages) == 3  # the failed page is kept, empty
    props = _title(pages[0])
    assert props["bbox"] == "0 0 1000 800"
    assert props["ppageno"] == "0"
    assert props["scan_res"] == "150 150"
    assert props["image"] == '"/scans/in.pdf"'
    assert _title(pages[2])["ppageno"] == "2"
    assert not list(pages[1].iter(f"{HTML}span"))

    def classes(page, name):
        return [e for e in page.iter() if e.get("class") == name]

    assert len(classes(pages[0], "ocr_carea")) == 2
    assert len(classes(pages[0], "ocr_par")) == 2
    assert len(classes(pages[0], "ocr_line")) == 3
    words = classes(pages[0], "ocrx_word")
    assert [w.text for w in words] == ["Hello", "wörld", TRICKY, "Total:", "€17"]
    first = _title(words[0])
    assert first == {"bbox": "10 20 60 40", "x_wconf": "93", "x_source": "tesseract"}
    assert _title(words[2])["x_wconf"] == "100"
    assert _title(words[2])["x_source"] == "spotter:terediff"
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_xml_writers_drop_characters_xml_cannot_hold(tmp_path):
    result = DocumentResult(
        source="a.png", kind="image", pages=[page_of(0, [[word("a\x0cb\x00", (1, 1, 9, 9))]])]
    )
    HocrWriter().write(result, tmp_path / "r.hocr")
    AltoWriter().write(result, tmp_path / "r.alto.xml")
    hocr = ET.parse(tmp_path / "r.hocr").getroot()
    alto = ET.parse(tmp_path / "r.alto.xml").getroot()
    assert [e.text for e in hocr.iter() if e.get("class") == "ocrx_word"] == ["ab"]
    assert [e.get("CONTENT") for e in alto.iter(f"{ALTO}String")] == ["ab"]


# ---------------------------------------------------------------------- ALTO


def test_alto_structure_values_and_escaping(tmp_path):
    out = tmp_path / "r.alto.xml"
    AltoWriter().write(sample_result(), out)
    text = out.read_text(encoding="utf-8")
    assert "&lt;&amp;&gt;&quot;" in text
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{ALTO}alto"
    assert root.find(f"{ALTO}Description/{ALTO}MeasurementUnit").text == "pixel"
    software = root.find(f".//{ALTO}processingSoftware")
    assert software.find(f"{ALTO}softwareName").text == "tair-ocr"
    pages = root.findall(f"{ALTO}Layout/{ALTO}Page")
    assert [p.get("PHYSICAL_IMG_NR") for p in pages] == ["1", "2", "3"]
    assert (pages[0].get("WIDTH"), pages[0].get("HEIGHT")) == ("1000", "800")
    assert pages[1].find(f".//{ALTO}TextBlock") is None  # failed page: no blocks

    space = pages[0].find(f"{ALTO}PrintSpace")
    assert len(space.findall(f"{ALTO}TextBlock")) == 2
    lines = space.findall(f".//{ALTO}TextLine")
    assert len(lines) == 3
    strings = space.findall(f".//{ALTO}String")
    assert [s.get("CONTENT") for s in strings] == ["Hello", "wörld", TRICKY, "Total:", "€17"]
    hello = strings[0].attrib
    assert {k: hello[k] for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT", "WC")} == {
        "HPOS": "10",
        "VPOS": "20",
        "WIDTH": "50",
        "HEIGHT": "20",
        "WC": "0.934",
    }
    assert strings[2].get("WC") == "1"
    # One SP between the two words of the first line, spanning the gap.
    children = [c.tag.removeprefix(ALTO) for c in lines[0]]
    assert children == ["String", "SP", "String"]
    sp = lines[0].find(f"{ALTO}SP")
    assert (sp.get("HPOS"), sp.get("WIDTH")) == ("60", "10")
    ids = [e.get("ID") for e in root.iter() if e.get("ID")]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------- PDF helpers

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
ROWS = [["Invoice", "Straße", "42"], ["café", "total:", "€17"], ["the", "quick", "brown"]]


def _font(size: int) -> ImageFont.ImageFont:
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size=size)


def scan_image(rows=ROWS, size=(900, 520)) -> Image.Image:
    """An upright grey "scan" with words well apart (rows 120 px, columns 250 px)."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = _font(30)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            draw.text((60 + 250 * c, 60 + 120 * r), text, font=font, fill=0)
    return image


def ink_words(gray: np.ndarray, rows=ROWS) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The word boxes of a displayed page, from its ink, labelled with ``rows``' texts."""
    ink = gray < 128
    labels, _count = ndimage.label(ndimage.binary_dilation(ink, np.ones((15, 25), bool)))
    boxes = []
    for region in ndimage.find_objects(np.where(ink, labels, 0)):
        if region is not None:
            ys, xs = region
            boxes.append((xs.start, ys.start, xs.stop, ys.stop))
    texts = [t for row in rows for t in row]
    assert len(boxes) == len(texts), "the test scan should have one ink blob per word"
    # Reading order: rows (120 px apart) top to bottom, then left to right.
    boxes.sort(key=lambda b: (round(((b[1] + b[3]) / 2 - 60) / 120), b[0]))
    return list(zip(texts, boxes, strict=True))


def render_gray(page: pymupdf.Page, dpi: int = DPI) -> np.ndarray:
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width).copy()


def result_from_ink(source: Path, kind: str, pages: list[tuple[int, np.ndarray]]) -> DocumentResult:
    """What a perfect OCR run would return: the ink boxes as words, one line per row."""
    page_results = []
    for index, gray in pages:
        found = ink_words(gray)
        per_row = len(ROWS[0])
        lines = [
            [word(t, b) for t, b in found[i : i + per_row]] for i in range(0, len(found), per_row)
        ]
        page_results.append(page_of(index, lines, size=(gray.shape[1], gray.shape[0])))
    return DocumentResult(source=str(source), kind=kind, pages=page_results)


def iou(a, b) -> float:
    return BBox(x0=a[0], y0=a[1], x1=a[2], y1=a[3]).iou(BBox(x0=b[0], y0=b[1], x1=b[2], y1=b[3]))


def assert_words_selectable(page: pymupdf.Page, page_result: PageResult, dpi: float = DPI):
    """Every word is in the text layer, at its box (compared as displayed, in points)."""
    found: dict[str, list[pymupdf.Rect]] = {}
    for *rect, text, _b, _l, _w in page.get_text("words"):
        found.setdefault(text, []).append(pymupdf.Rect(rect) * page.rotation_matrix)
    scale = 72 / dpi
    expected = list(page_result.words())
    assert sum(len(v) for v in found.values()) == len(expected)
    for w in expected:
        truth = pymupdf.Rect(*(v * scale for v in w.bbox.as_tuple()))
        rect = max(found[w.text], key=lambda r: iou(tuple(r), tuple(truth)))
        # Across, the text box is the word box; down, it sits on its line's baseline
        # at its block's font size (for text extractors), covering most of the word.
        assert abs(rect.x0 - truth.x0) < 0.5 and abs(rect.x1 - truth.x1) < 0.5, (w.text, rect)
        overlap = min(rect.y1, truth.y1) - max(rect.y0, truth.y0)
        assert overlap > 0.75 * truth.height, (w.text, rect, truth)
    lines = [" ".join(x.text for x in ln.words) for b in page_result.blocks for ln in b.lines]
    text = page.get_text()
    for line in lines:
        assert line in text


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_scan_pdf(path: Path, rotation: int = 0, cropbox=None) -> None:
    """A 2-page PDF; page 1 shows the scan upright once ``rotation`` is applied."""
    upright = scan_image()
    stored = upright.rotate(rotation, expand=True)  # counter-clockwise; /Rotate turns it back
    doc = pymupdf.open()
    page = doc.new_page(width=stored.width * 72 / DPI, height=stored.height * 72 / DPI)
    buffer = io.BytesIO()
    stored.save(buffer, format="PNG")
    page.insert_image(page.rect, stream=buffer.getvalue())
    if cropbox is not None:
        page.set_cropbox(pymupdf.Rect(cropbox))
    page.set_rotation(rotation)
    second = doc.new_page(width=300, height=300)
    second.draw_rect(pymupdf.Rect(20, 20, 120, 120), color=(0, 0, 0), fill=(0.5, 0.5, 0.5))
    doc.save(path)


# ---------------------------------------------------------------------- PDF from PDF


@pytest.mark.parametrize(
    ("rotation", "cropbox"),
    [(0, None), (90, None), (0, (30, 24, 400, 230)), (270, (30, 24, 230, 400)), (180, None)],
    ids=["plain", "rotate90", "cropbox", "rotate270-cropbox", "rotate180"],
)
def test_pdf_source_text_layer_matches_word_boxes(tmp_path, rotation, cropbox):
    source = tmp_path / "scan.pdf"
    make_scan_pdf(source, rotation, cropbox)
    before = sha256(source)
    with pymupdf.open(source) as src:
        displayed = render_gray(src[0])  # what the PDF loader would hand to OCR
        if cropbox is None:  # the test scan itself is upright as displayed
            upright = np.asarray(scan_image(), dtype=np.int16)
            assert displayed.shape == upright.shape
            assert np.abs(displayed - upright).mean() < 3
        before_pixels = [render_gray(p, 40) for p in src]
    result = result_from_ink(source, "pdf", [(0, displayed)])

    out = tmp_path / "scan.ocr.pdf"
    PdfWriter().write(result, out)

    assert sha256(source) == before
    with pymupdf.open(out) as doc:
        assert doc.page_count == 2
        assert doc[0].rotation == rotation
        assert_words_selectable(doc[0], result.pages[0])
        assert doc[1].get_text() == ""  # not processed: nothing added
        assert doc[1].get_fonts() == []
        # The text layer is invisible: both pages look exactly as before.
        for page, pixels in zip(doc, before_pixels, strict=True):
            assert np.array_equal(render_gray(page, 40), pixels)


def test_pdf_unicode_text_and_many_distinct_characters(tmp_path):
    source = tmp_path / "blank.pdf"
    with pymupdf.open() as doc:
        doc.new_page(width=612, height=792)
        doc.save(source)
    cjk = "".join(chr(0x4E00 + i) for i in range(150))  # more than one bfchar block
    texts = ["Straße", "café", "€", "中文", "😀ok", TRICKY, cjk]
    words = [
        word(t, (100, 100 + 60 * i, 100 + min(40 * len(t), 1100), 140 + 60 * i))
        for i, t in enumerate(texts)
    ]
    result = DocumentResult(
        source=str(source), kind="pdf", pages=[page_of(0, [[w] for w in words], size=(1275, 1650))]
    )
    out = tmp_path / "blank.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        page = doc[0]
        assert page.get_text().split("\n")[: len(texts)] == texts
        assert_words_selectable(page, result.pages[0])
        fonts = page.get_fonts()
        assert [(f[2], f[5]) for f in fonts] == [("Type0", "Identity-H")]


def test_pdf_with_inherited_resources_and_unbalanced_graphics_state(tmp_path):
    """The page's resources live on the page tree and its content leaves the CTM
    scaled (no q/Q): the image must keep showing and the text must not move."""
    source = tmp_path / "odd.pdf"
    with pymupdf.open() as doc:
        page = doc.new_page(width=432, height=432)
        buffer = io.BytesIO()
        scan_image(size=(900, 900)).save(buffer, format="PNG")
        page.insert_image(page.rect, stream=buffer.getvalue())
        _kind, resources = doc.xref_get_key(page.xref, "Resources")
        pages_root = int(doc.xref_get_key(doc.pdf_catalog(), "Pages")[1].split()[0])
        doc.xref_set_key(pages_root, "Resources", resources)
        doc.xref_set_key(page.xref, "Resources", "null")
        (content,) = page.get_contents()
        doc.update_stream(content, doc.xref_stream(content) + b"\n0.5 0 0 0.5 0 0 cm\n")
        doc.save(source)
    with pymupdf.open(source) as src:
        assert src.xref_get_key(src[0].xref, "Resources")[0] == "null"
        displayed = render_gray(src[0])
    result = result_from_ink(source, "pdf", [(0, displayed)])
    out = tmp_path / "odd.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        assert_words_selectable(doc[0], result.pages[0])
        assert np.array_equal(render_gray(doc[0]), displayed)


def test_pdf_failed_page_and_missing_page_are_left_alone(tmp_path):
    source = tmp_path / "two.pdf"
    make_scan_pdf(source)
    result = DocumentResult(
        source=str(source),
        kind="pdf",
        pages=[
            PageResult(index=0, width=0, height=0, dpi=0, error=PageError(kind="X", message="x")),
            page_of(7, [[word("ghost", (1, 1, 50, 20))]]),  # no such page
        ],
    )
    out = tmp_path / "two.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        assert doc.page_count == 2
        assert all(p.get_text() == "" for p in doc)


def test_pdf_needs_a_source_file(tmp_path):
    writer = PdfWriter()
    in_memory = DocumentResult(source="<image>", kind="image", pages=[page_of(0, [])])
    with pytest.raises(OutputError, match="source file"):
        writer.write(in_memory, tmp_path / "x.ocr.pdf")
    other = DocumentResult(source=str(tmp_path), kind="djvu", pages=[])
    with pytest.raises(OutputError, match="PDF or image"):
        writer.write(other, tmp_path / "x.ocr.pdf")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really")
    with pytest.raises(OutputError):
        writer.write(DocumentResult(source=str(broken), kind="pdf"), tmp_path / "y.ocr.pdf")


# ---------------------------------------------------------------------- PDF from images


def test_png_source_becomes_a_page_showing_the_image(tmp_path):
    source = tmp_path / "scan.png"
    image = scan_image().convert("RGB")
    image.save(source, dpi=(DPI, DPI))
    before = sha256(source)
    result = result_from_ink(source, "image", [(0, np.asarray(image.convert("L")))])
    out = tmp_path / "scan.ocr.pdf"
    PdfWriter().write(result, out)
    assert sha256(source) == before
    with pymupdf.open(out) as doc:
        assert doc.page_count == 1
        page = doc[0]
        assert tuple(page.rect) == pytest.approx((0, 0, 900 * 72 / DPI, 520 * 72 / DPI))
        assert_words_selectable(page, result.pages[0])
        shown = render_gray(page).astype(np.int16)
        assert shown.shape == (520, 900)
        assert np.abs(shown - np.asarray(image.convert("L"))).mean() < 2


def test_two_frame_tiff_source(tmp_path):
    source = tmp_path / "fax.tif"
    first = scan_image()
    second = scan_image(size=(800, 600))  # same words, another page size
    first.save(source, save_all=True, append_images=[second], dpi=(DPI, DPI))
    result = result_from_ink(source, "image", [(0, np.asarray(first)), (1, np.asarray(second))])
    out = tmp_path / "fax.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        assert doc.page_count == 2
        assert tuple(doc[1].rect) == pytest.approx((0, 0, 800 * 72 / DPI, 600 * 72 / DPI))
        for page, page_result in zip(doc, result.pages, strict=True):
            assert_words_selectable(page, page_result)


def test_jpeg_source_is_embedded_unchanged(tmp_path):
    source = tmp_path / "photo.jpg"
    scan_image().convert("RGB").save(source, quality=80, dpi=(DPI, DPI))
    result = result_from_ink(source, "image", [(0, np.asarray(Image.open(source).convert("L")))])
    out = tmp_path / "photo.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        (xref, *_), *rest = doc[0].get_images()
        assert not rest
        assert doc.xref_stream_raw(xref) == source.read_bytes()
        assert_words_selectable(doc[0], result.pages[0])


def test_jpeg_with_exif_rotation_is_shown_upright(tmp_path):
    source = tmp_path / "phone.jpg"
    upright = scan_image().convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left; viewers turn it 90° clockwise
    upright.rotate(90, expand=True).save(source, quality=90, dpi=(DPI, DPI), exif=exif)
    result = result_from_ink(source, "image", [(0, np.asarray(upright.convert("L")))])
    out = tmp_path / "phone.ocr.pdf"
    PdfWriter().write(result, out)
    with pymupdf.open(out) as doc:
        page = doc[0]
        assert tuple(page.rect) == pytest.approx((0, 0, 900 * 72 / DPI, 520 * 72 / DPI))
        (xref, *_), *_rest = page.get_images()
        assert doc.xref_stream_raw(xref) != source.read_bytes()
        shown = render_gray(page).astype(np.int16)
        assert np.abs(shown - np.asarray(upright.convert("L"))).mean() < 4
        assert_words_selectable(page, result.pages[0])


def test_glyphless_font_metrics():
    font = pymupdf.Font(fontbuffer=build_font())
    assert font.name.startswith(FONT_NAME)
    assert font.ascender == pytest.approx(ASCENT / 1000)
    assert font.descender == pytest.approx(DESCENT / 1000)
    assert font.glyph_advance(ord(" ")) == pytest.approx(ADVANCE / 1000)
