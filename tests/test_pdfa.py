"""The PDF/A-2b writer.

:func:`pdfa_violations` checks the PDF/A-2b requirements a validator checks
(and the writer's stricter no-transparency rule) with PyMuPDF, independently of
the writer's own audit; it is shown to fail on the plain searchable PDF. When a
real validator is installed (veraPDF, or PDFBox Preflight from Debian), the last
test runs it too (``benchmarks/pdfa_validate.py``).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from tair_ocr.errors import OutputError
from tair_ocr.outputs import plan_outputs
from tair_ocr.plugins import PluginManager
from tair_ocr.results import DocumentResult
from tair_ocr.writers.pdf import PdfWriter
from tair_ocr.writers.pdfa import (
    PdfAWriter,
    content_problems,
    parse_pdf_date,
    scan_content,
    srgb_profile,
)

from .conftest import ROOT
from .test_writers import (
    DPI,
    assert_words_selectable,
    make_scan_pdf,
    page_of,
    render_gray,
    result_from_ink,
    scan_image,
    sha256,
    word,
)

sys.path.insert(0, str(ROOT / "benchmarks"))

import pdfa_validate

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


# ---------------------------------------------------------------------- the checker


def _xmp_properties(packet: bytes) -> dict[str, str]:
    """``prefix:Name`` -> text of the XMP properties (x-default / first item of
    Alt, Seq and Bag values)."""
    root = ET.fromstring(packet)  # the xpacket processing instructions are allowed around it
    prefixes = {uri: prefix for prefix, uri in NS.items()}
    found: dict[str, str] = {}
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        for element in description:
            uri, _, local = element.tag[1:].partition("}")
            key = f"{prefixes.get(uri, uri)}:{local}"
            items = element.findall(".//rdf:li", NS)
            if items:
                default = [i for i in items if i.get(XML_LANG) == "x-default"]
                found[key] = (default or items)[0].text or ""
                found[key + "#count"] = str(len(items))
            else:
                found[key] = element.text or ""
        for name, value in description.attrib.items():
            uri, _, local = name[1:].partition("}")
            found[f"{prefixes.get(uri, uri)}:{local}"] = value
    return found


def _same_instant(pdf_date: str, xmp_date: str) -> bool:
    parsed = parse_pdf_date(pdf_date)
    return parsed is not None and parsed == dt.datetime.fromisoformat(xmp_date)


def pdfa_violations(path: Path) -> list[str]:
    """What keeps the file at ``path`` from PDF/A-2b without transparency."""
    data = path.read_bytes()
    found: list[str] = []
    if not re.match(rb"%PDF-1\.[0-7]\r?\n", data):
        found.append(f"header {data[:9]!r}")
    second = data.split(b"\n", 2)[1]
    if not (second[:1] == b"%" and all(b > 127 for b in second[1:5]) and len(second) >= 5):
        found.append("no binary comment after the header")
    with pymupdf.open(path) as doc:
        mupdf = pymupdf.mupdf
        trailer = mupdf.pdf_trailer(mupdf.pdf_document_from_fz_document(doc.this))
        ids = mupdf.pdf_dict_gets(trailer, "ID")
        strings = [mupdf.pdf_array_get(ids, i) for i in range(mupdf.pdf_array_len(ids))]
        if len(strings) != 2 or not all(mupdf.pdf_is_string(s) for s in strings):
            found.append("no trailer ID")
        if doc.xref_get_key(-1, "Encrypt")[0] != "null" or doc.is_encrypted:
            found.append("encrypted")
        catalog = doc.pdf_catalog()
        intents = re.findall(r"(\d+) 0 R", doc.xref_get_key(catalog, "OutputIntents")[1])
        if len(intents) != 1:
            found.append(f"{len(intents)} output intents")
        for intent in map(int, intents):
            if doc.xref_get_key(intent, "S") != ("name", "/GTS_PDFA1"):
                found.append("output intent not GTS_PDFA1")
            kind, ref = doc.xref_get_key(intent, "DestOutputProfile")
            profile = int(ref.split()[0]) if kind == "xref" else 0
            icc = doc.xref_stream(profile) if profile and doc.xref_is_stream(profile) else b""
            if doc.xref_get_key(profile, "N") != ("int", "3") or icc[36:40] != b"acsp":
                found.append("output intent without an ICC stream of 3 components")
            elif icc[12:20] not in (b"mntrRGB ", b"prtrRGB ") or icc[8] >= 5:
                found.append("output intent profile not an RGB output profile of version < 5")
        kind, ref = doc.xref_get_key(catalog, "Metadata")
        if kind != "xref":
            found.append("no XMP metadata")
            return found
        metadata = int(ref.split()[0])
        if (
            doc.xref_get_key(metadata, "Type") != ("name", "/Metadata")
            or doc.xref_get_key(metadata, "Subtype") != ("name", "/XML")
            or doc.xref_get_key(metadata, "Filter")[0] != "null"
        ):
            found.append("metadata stream dictionary")
        packet = doc.xref_stream(metadata)
        header = re.match(
            rb'<\?xpacket begin="(\xef\xbb\xbf)?" id="W5M0MpCehiHzreSzNTczkc9d"\?>', packet
        )
        if header is None or not packet.rstrip().endswith(b'<?xpacket end="w"?>'):
            found.append("XMP packet wrapper")
        xmp = _xmp_properties(packet)
        if (xmp.get("pdfaid:part"), xmp.get("pdfaid:conformance")) != ("2", "B"):
            found.append(f"pdfaid {xmp.get('pdfaid:part')}/{xmp.get('pdfaid:conformance')}")
        info = doc.metadata or {}
        pairs = {
            "title": "dc:title",
            "author": "dc:creator",
            "subject": "dc:description",
            "keywords": "pdf:Keywords",
            "creator": "xmp:CreatorTool",
            "producer": "pdf:Producer",
        }
        for key, prop in pairs.items():
            if (info.get(key) or None) != xmp.get(prop):
                found.append(f"Info {key} {info.get(key)!r} != XMP {prop} {xmp.get(prop)!r}")
        if xmp.get("dc:creator#count", "1") != "1":
            found.append("dc:creator with several entries")
        for key, prop in (("creationDate", "xmp:CreateDate"), ("modDate", "xmp:ModifyDate")):
            if not info.get(key) or not _same_instant(info[key], xmp.get(prop, "")):
                found.append(f"Info {key} {info.get(key)!r} != XMP {prop} {xmp.get(prop)!r}")
        if "xmp:MetadataDate" not in xmp:
            found.append("no xmp:MetadataDate")

        for xref in range(1, doc.xref_length()):
            source = doc.xref_object(xref, compressed=True)
            if re.search(r"/SMask(?!/None)\b", source):
                found.append(f"object {xref}: soft mask")
            if re.search(r"/S/Transparency\b", source):
                found.append(f"object {xref}: transparency group")
            for alpha in re.findall(r"/(?:CA|ca) ?([0-9.]+)", source):
                if float(alpha) < 1:
                    found.append(f"object {xref}: constant alpha {alpha}")
            for mode in re.findall(r"/BM ?/(\w+)", source):
                if mode not in ("Normal", "Compatible"):
                    found.append(f"object {xref}: blend mode {mode}")
            for bad in ("/JavaScript", "/Launch", "/AA", "/EmbeddedFile", "/Encrypt", "CMYK"):
                if re.search(re.escape(bad) + r"\b", source):
                    found.append(f"object {xref}: {bad}")
            if re.search(r"/Interpolate ?true", source):
                found.append(f"object {xref}: interpolation")
            if doc.xref_get_key(xref, "Type") == ("name", "/Font"):
                subtype = doc.xref_get_key(xref, "Subtype")[1]
                if subtype in ("/Type3", "/Type0"):
                    continue  # nothing to embed / checked as its CIDFont
                descriptor = doc.xref_get_key(xref, "FontDescriptor")
                files = [
                    doc.xref_get_key(int(descriptor[1].split()[0]), key)[0]
                    for key in ("FontFile", "FontFile2", "FontFile3")
                    if descriptor[0] == "xref"
                ]
                if "xref" not in files:
                    found.append(f"font {doc.xref_get_key(xref, 'BaseFont')[1]} not embedded")
        for page in doc:
            for stream in page.get_contents():
                if re.search(rb"(^|\s)[kK](\s|$)", doc.xref_stream(stream)):
                    found.append(f"page {page.number + 1}: DeviceCMYK operator")
            for annot in page.annots():
                flags = annot.flags
                if not flags & 4 or flags & (1 | 2 | 32 | 256):
                    found.append(f"page {page.number + 1}: annotation flags {flags}")
                kind, _ = doc.xref_get_key(annot.xref, "AP/N")
                if kind == "null" and annot.type[1] not in ("Popup", "Link"):
                    found.append(f"page {page.number + 1}: annotation without appearance")
    return found


def write_both(result: DocumentResult, tmp_path: Path) -> tuple[Path, Path]:
    stem = Path(result.source).stem
    plain, archival = tmp_path / f"{stem}.ocr.pdf", tmp_path / f"{stem}.pdfa.pdf"
    PdfWriter().write(result, plain)
    PdfAWriter().write(result, archival)
    return plain, archival


# ---------------------------------------------------------------------- basics


def test_pdfa_is_registered_and_named_apart_from_pdf(tmp_path):
    writers = PluginManager(autoload=False).writers
    chosen = [writers.get("pdf"), writers.get("pdfa")]
    assert chosen[1].suffix == ".pdfa.pdf"
    plan = plan_outputs([tmp_path / "scan.pdf"], tmp_path / "out", chosen, force=False)
    paths = plan[tmp_path / "scan.pdf"]
    assert paths == {"pdf": tmp_path / "out/scan.ocr.pdf", "pdfa": tmp_path / "out/scan.pdfa.pdf"}


def test_pdfa_checker_rejects_the_plain_searchable_pdf(tmp_path):
    source = tmp_path / "scan.png"
    image = scan_image()
    image.save(source, dpi=(DPI, DPI))
    plain, archival = write_both(
        result_from_ink(source, "image", [(0, np.asarray(image))]), tmp_path
    )
    assert "no XMP metadata" in pdfa_violations(plain)
    assert "0 output intents" in pdfa_violations(plain)
    assert pdfa_violations(archival) == []


def test_srgb_profile_is_an_rgb_display_profile():
    profile = srgb_profile()
    assert profile[36:40] == b"acsp" and profile[12:20] == b"mntrRGB "
    assert int.from_bytes(profile[:4], "big") == len(profile)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"0 0 0 1 k 0 0 10 10 re f", True),
        (b"1 0 0 0 K", True),
        (b"/DeviceCMYK cs 0 0 0 1 sc", True),
        (b"BI /W 1 /H 1 /CS /CMYK /BPC 8 ID \x00\x00\x00\x00 EI", True),
        (b"BI /W 1 /H 1 /CS [/I /DeviceCMYK 1 <00000000>] /BPC 8 ID \x00 EI", True),
        # "k" inside strings, comments and inline image data is no operator.
        (b"BT (0 0 0 1 k) Tj <6b> Tj ET % 1 k\n0 0 1 rg", False),
        (b"BT (nested (k) \\) k) Tj ET", False),
        (b"BI /W 2 /H 1 /CS /G /BPC 8 ID \n k EI Q 0 g", False),
        (b"/CS0 cs 1 sc /Fm0 Do", False),
    ],
)
def test_content_stream_cmyk_operators(stream, expected):
    assert (content_problems(stream) != set()) is expected


def test_content_stream_fonts_are_those_that_show_text():
    stream = (
        b"q BT /F1 12 Tf ET Q "  # selected, nothing shown: an OCR layer's Tj removed
        b"q BT /F2 9 Tf (a) Tj ET Q "
        b"BT [(b) 3 (c)] TJ ET "  # after Q: no font selected (a form's inherited one)
        b"BT /F#33 8 Tf (d) ' ET"  # #33 is "3"
    )
    assert scan_content(stream)[1] == {"F2", "F3"}
    assert scan_content(b"BT /F1 9 Tf ET q Q BT (x) Tj ET")[1] == {"F1"}  # kept across BT


def test_parse_pdf_date():
    utc = dt.timezone.utc
    assert parse_pdf_date("D:20200102030405+01'00'") == dt.datetime(2020, 1, 2, 2, 4, 5, tzinfo=utc)
    assert parse_pdf_date("D:20200102030405-0530") == dt.datetime(2020, 1, 2, 8, 34, 5, tzinfo=utc)
    assert parse_pdf_date("D:2020") == dt.datetime(2020, 1, 1, tzinfo=utc)
    assert parse_pdf_date("D:20201302") is None  # month 13
    assert parse_pdf_date("yesterday") is None


# ---------------------------------------------------------------------- sources


def test_pdfa_from_png(tmp_path):
    source = tmp_path / "fax page.png"
    image = scan_image().convert("RGB")
    image.save(source, dpi=(DPI, DPI))
    before = sha256(source)
    result = result_from_ink(source, "image", [(0, np.asarray(image.convert("L")))])
    out = tmp_path / "fax page.pdfa.pdf"
    PdfAWriter().write(result, out)
    assert sha256(source) == before
    assert pdfa_violations(out) == []
    with pymupdf.open(out) as doc:
        assert doc.metadata["title"] == "fax page"  # no title of its own: the file name
        assert doc.metadata["author"] == ""  # none invented
        assert_words_selectable(doc[0], result.pages[0])
        shown = render_gray(doc[0]).astype(np.int16)
        assert np.abs(shown - np.asarray(image.convert("L"))).mean() < 2


def test_pdfa_from_jpeg_keeps_the_jpeg(tmp_path):
    source = tmp_path / "photo.jpg"
    scan_image().convert("RGB").save(source, quality=80, dpi=(DPI, DPI))
    result = result_from_ink(source, "image", [(0, np.asarray(Image.open(source).convert("L")))])
    out = tmp_path / "photo.pdfa.pdf"
    PdfAWriter().write(result, out)
    assert pdfa_violations(out) == []
    with pymupdf.open(out) as doc:
        ((xref, *_),) = doc[0].get_images()
        assert doc.xref_stream_raw(xref) == source.read_bytes()


@pytest.mark.parametrize(
    ("rotation", "cropbox"), [(0, None), (270, (30, 24, 230, 400))], ids=["plain", "rotated-crop"]
)
def test_pdfa_from_pdf_keeps_pages_and_document_info(tmp_path, rotation, cropbox):
    source = tmp_path / "scan.pdf"
    make_scan_pdf(source, rotation, cropbox)
    with pymupdf.open(source) as doc:
        doc.set_metadata(
            {
                "title": "Rechnung Straße 42",
                "author": "Zoë Müller",
                "subject": "invoice",
                "keywords": "invoice, 2020",
                "creator": "Scanner 3000",
                "creationDate": "D:20200102030405+01'00'",
            }
        )
        doc.saveIncr()
    with pymupdf.open(source) as src:
        displayed = render_gray(src[0])
        before_pixels = [render_gray(p, 40) for p in src]
    result = result_from_ink(source, "pdf", [(0, displayed)])
    out = tmp_path / "scan.pdfa.pdf"
    PdfAWriter().write(result, out)
    assert pdfa_violations(out) == []
    with pymupdf.open(out) as doc:
        assert doc.page_count == 2 and doc[0].rotation == rotation
        assert_words_selectable(doc[0], result.pages[0])
        for page, pixels in zip(doc, before_pixels, strict=True):
            assert np.array_equal(render_gray(page, 40), pixels)
        info = doc.metadata
        assert (info["title"], info["author"], info["subject"]) == (
            "Rechnung Straße 42",
            "Zoë Müller",
            "invoice",
        )
        assert (info["keywords"], info["creator"]) == ("invoice, 2020", "Scanner 3000")
        assert parse_pdf_date(info["creationDate"]) == parse_pdf_date("D:20200102030405+01'00'")
        assert info["producer"].startswith("tair-ocr ")


def test_pdfa_from_pdf_20_has_a_pdf_17_header(tmp_path):
    source = tmp_path / "new.pdf"
    make_scan_pdf(source)
    data = source.read_bytes()
    assert data.startswith(b"%PDF-1.7")
    source.write_bytes(b"%PDF-2.0" + data[8:])
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "new.pdfa.pdf"
    PdfAWriter().write(result, out)
    assert out.read_bytes().startswith(b"%PDF-1.7\n")
    assert pdfa_violations(out) == []


def _scan_page(doc: pymupdf.Document) -> pymupdf.Page:
    """A page showing the test scan (what the OCR result's words are on)."""
    image = scan_image()
    page = doc.new_page(width=image.width * 72 / DPI, height=image.height * 72 / DPI)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    page.insert_image(page.rect, stream=buffer.getvalue())
    return page


def render_rgb(page: pymupdf.Page, dpi: int = 40) -> np.ndarray:
    # In colour: converting to grey, MuPDF treats DeviceRGB and the ICC-based
    # colour of a picture differently, though both show the same RGB.
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, alpha=False)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3).astype(np.int16)


def make_unarchivable_pdf(path: Path) -> None:
    """Six pages: four that cannot be made PDF/A in place (2, 3, 4, 6), one with a
    stale unembedded font resource (1) and a clean one (5)."""
    doc = pymupdf.open()
    page = _scan_page(doc)  # 1: an unembedded font in its resources that nothing uses
    page.insert_font(fontname="helv")
    page = doc.new_page(width=300, height=300)  # 2: constant alpha
    page.draw_rect(
        pymupdf.Rect(20, 20, 200, 200), color=(1, 0, 0), fill=(0, 0, 1), fill_opacity=0.5
    )
    page = doc.new_page(width=300, height=300)  # 3: an image with alpha
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (255, 0, 0, 128)).save(buffer, format="PNG")
    page.insert_image(pymupdf.Rect(50, 50, 150, 150), stream=buffer.getvalue())
    page = doc.new_page(width=300, height=300)  # 4: DeviceCMYK colour
    page.draw_rect(pymupdf.Rect(20, 20, 100, 100), color=(0, 0, 0), fill=(0.2, 0.2, 0.2))
    (content,) = page.get_contents()
    doc.update_stream(content, doc.xref_stream(content) + b"\n0 1 1 0 k 120 120 50 50 re f\n")
    page = doc.new_page(width=300, height=300)  # 5: fine as it is
    page.draw_rect(pymupdf.Rect(20, 20, 100, 100), color=(0, 0, 0), fill=(0, 0.5, 0))
    page = doc.new_page(width=300, height=300)  # 6: an unembedded font draws (no text)
    page.draw_rect(pymupdf.Rect(20, 20, 100, 100), color=(0, 0, 0), fill=(0.5, 0, 0))
    page.insert_text((20, 200), "   ", fontname="helv")
    doc.save(path)


def test_pdfa_rasterises_pages_it_cannot_fix(tmp_path, caplog):
    source = tmp_path / "mixed.pdf"
    make_unarchivable_pdf(source)
    with pymupdf.open(source) as src:
        displayed = render_gray(src[0])
        before = [render_rgb(p) for p in src]
        scan_xref = src[0].get_images()[0][0]
    result = result_from_ink(source, "pdf", [(0, displayed)])
    out = tmp_path / "mixed.pdfa.pdf"
    with caplog.at_level(logging.WARNING, logger="tair_ocr.writers.pdfa"):
        PdfAWriter().write(result, out)
    assert pdfa_violations(out) == []
    warnings = [r.getMessage() for r in caplog.records]
    expected = {
        2: "transparency",
        3: "transparency",
        4: "DeviceCMYK colour",
        6: "font Helvetica not embedded",
    }
    for number, reason in expected.items():
        assert any(f"page {number}: {reason}" in w and "picture" in w for w in warnings), warnings
    assert not any(re.search(r"page [15]\b", w) for w in warnings)
    with pymupdf.open(out) as doc, pymupdf.open(source) as src:
        assert doc.page_count == 6
        for number in expected:  # a picture each, and no font
            page = doc[number - 1]
            assert len(page.get_images()) == 1
            assert page.get_fonts() == []
        # Page 1 keeps its scan; its unused font resource is gone.
        ((xref, *_),) = doc[0].get_images()
        assert doc.xref_stream(xref) == src.xref_stream(scan_xref)
        assert {f[3] for f in doc[0].get_fonts()} == {"TairOcrGlyphless"}
        assert_words_selectable(doc[0], result.pages[0])
        assert doc[4].get_images() == [] and doc[4].get_drawings()  # untouched vectors
        for number, (page, pixels) in enumerate(zip(doc, before, strict=True)):
            shown = render_rgb(page)
            assert shown.shape == pixels.shape
            assert np.abs(shown - pixels).mean() < 2, number + 1


def test_pdfa_refuses_to_rasterise_a_page_with_text_of_its_own(tmp_path):
    source = tmp_path / "typed.pdf"
    make_scan_pdf(source)
    with pymupdf.open(source) as doc:  # page 2 gets typed text in an unembedded font
        doc[1].insert_text((20, 200), "Typed words", fontname="helv")
        doc.saveIncr()
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "typed.pdfa.pdf"
    with pytest.raises(OutputError, match=r"page 2 has font Helvetica not embedded.*--force-ocr"):
        PdfAWriter().write(result, out)
    assert not out.exists()
    PdfWriter().write(result, tmp_path / "typed.ocr.pdf")  # the plain PDF keeps it as it is


def test_pdfa_removes_forbidden_actions_and_fixes_annotations(tmp_path, caplog):
    source = tmp_path / "active.pdf"
    with pymupdf.open() as doc:
        page = _scan_page(doc)
        page.insert_link(
            {"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(0, 0, 30, 30), "uri": "https://a.test"}
        )
        page.insert_link(
            {"kind": pymupdf.LINK_LAUNCH, "from": pymupdf.Rect(40, 0, 70, 30), "file": "run.exe"}
        )
        shown = page.add_rect_annot(pymupdf.Rect(300, 150, 340, 190))
        shown.set_flags(0)  # not printable
        shown.update()
        shown_rect = shown.rect
        hidden = page.add_rect_annot(pymupdf.Rect(350, 150, 390, 190))
        hidden.set_flags(pymupdf.PDF_ANNOT_IS_HIDDEN)
        hidden.update()
        script = doc.get_new_xref()
        doc.update_object(script, "<</S/JavaScript/JS(app.alert\\(1\\))>>")
        doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{script} 0 R")
        doc.xref_set_key(page.xref, "AA", f"<</O {script} 0 R>>")
        doc.save(source)
    with pymupdf.open(source) as src:
        displayed = render_gray(src[0])
    result = result_from_ink(source, "pdf", [(0, displayed)])
    out = tmp_path / "active.pdfa.pdf"
    with caplog.at_level(logging.WARNING, logger="tair_ocr.writers.pdfa"):
        PdfAWriter().write(result, out)
    assert pdfa_violations(out) == []
    assert any("JavaScript" in r.getMessage() for r in caplog.records)
    with pymupdf.open(out) as doc:
        page = doc[0]
        # The launch link stays a link area without an action.
        assert [link.get("uri") for link in page.get_links()] == ["https://a.test"]
        assert [(a.type[1], a.rect) for a in page.annots()] == [("Square", shown_rect)]
        assert doc.xref_get_key(doc.pdf_catalog(), "OpenAction")[0] == "null"
        assert_words_selectable(page, result.pages[0])


def test_pdfa_refuses_an_encrypted_pdf(tmp_path):
    source = tmp_path / "locked.pdf"
    make_scan_pdf(source)
    with pymupdf.open(source) as doc:  # opens without a password; printing restricted
        doc.save(
            tmp_path / "locked2.pdf",
            encryption=pymupdf.PDF_ENCRYPT_AES_256,
            owner_pw="owner",
            permissions=pymupdf.PDF_PERM_ACCESSIBILITY,
        )
    locked = tmp_path / "locked2.pdf"
    with pymupdf.open(locked) as doc:
        assert not doc.needs_pass
        result = result_from_ink(locked, "pdf", [(0, render_gray(doc[0]))])
    out = tmp_path / "locked2.pdfa.pdf"
    with pytest.raises(OutputError, match="encrypted"):
        PdfAWriter().write(result, out)
    assert not out.exists()


def test_pdfa_refuses_a_pdf_with_attachments(tmp_path):
    source = tmp_path / "attached.pdf"
    make_scan_pdf(source)
    with pymupdf.open(source) as doc:
        doc.embfile_add("data.csv", b"a,b\n1,2\n")
        doc.saveIncr()
    result = DocumentResult(
        source=str(source), kind="pdf", pages=[page_of(0, [[word("x", (10, 10, 40, 30))]])]
    )
    with pytest.raises(OutputError, match="embedded file"):
        PdfAWriter().write(result, tmp_path / "attached.pdfa.pdf")


def test_pdfa_needs_a_source_file(tmp_path):
    in_memory = DocumentResult(source="<image>", kind="image", pages=[page_of(0, [])])
    with pytest.raises(OutputError, match="source file"):
        PdfAWriter().write(in_memory, tmp_path / "x.pdfa.pdf")


# ---------------------------------------------------------------------- real validators


@pytest.mark.skipif(
    pdfa_validate.preflight_classpath() is None and pdfa_validate.shutil.which("verapdf") is None,
    reason="no PDF/A validator installed (verapdf, or Debian libpdfbox2-java with Java)",
)
def test_pdfa_output_passes_the_installed_validators(tmp_path, capsys):
    png = tmp_path / "scan.png"
    scan_image().save(png, dpi=(DPI, DPI))
    plain, from_png = write_both(
        result_from_ink(png, "image", [(0, np.asarray(Image.open(png)))]), tmp_path
    )
    mixed = tmp_path / "mixed.pdf"
    make_unarchivable_pdf(mixed)
    with pymupdf.open(mixed) as src:
        from_pdf = tmp_path / "mixed.pdfa.pdf"
        PdfAWriter().write(result_from_ink(mixed, "pdf", [(0, render_gray(src[0]))]), from_pdf)
    assert pdfa_validate.validate([from_png, from_pdf]) == 0, capsys.readouterr().out
    # The validators do find what the plain searchable PDF and the source lack.
    assert pdfa_validate.validate([plain]) == 1
    assert pdfa_validate.validate([mixed]) == 1
