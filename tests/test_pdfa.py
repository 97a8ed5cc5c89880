"""The PDF/A writer, in both flavours (PDF/A-2b, the default, and PDF/A-1b).

:func:`pdfa_violations` checks the PDF/A requirements a validator checks (and
the writer's stricter no-transparency rule) with PyMuPDF, independently of the
writer's own audit; it is shown to fail on the plain searchable PDF. When a real
validator is installed (veraPDF, or PDFBox Preflight from Debian), the last
tests run it too (``benchmarks/pdfa_validate.py``): the PDF/A-1b output must
pass PDFBox Preflight, a PDF/A-1b validator, with no message at all.
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
from PIL import Image, ImageCms

from tair_ocr import Pipeline
from tair_ocr.cli import main
from tair_ocr.errors import OutputError, UsageError
from tair_ocr.outputs import plan_outputs
from tair_ocr.plugins import PluginManager
from tair_ocr.results import DocumentResult
from tair_ocr.writers import _icc
from tair_ocr.writers.pdf import PdfWriter
from tair_ocr.writers.pdfa import (
    PDFA_1B,
    PDFA_2B,
    PdfAOptions,
    PdfAWriter,
    content_problems,
    parse_pdf_date,
    scan_content,
    srgb_profile,
)

from .conftest import ROOT, SAMPLES, TEST_PLUGINS
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
#: The writer's flavours, as the option names them, and their ISO 19005 parts.
VERSIONS = ("2b", "1b")
PART = {"2b": 2, "1b": 1}


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


def pdfa_violations(path: Path, part: int = 2) -> list[str]:
    """What keeps the file at ``path`` from PDF/A-2b (``part`` 2) or PDF/A-1b
    (``part`` 1) without transparency."""
    data = path.read_bytes()
    found: list[str] = []
    header = rb"%PDF-1\.4\r?\n" if part == 1 else rb"%PDF-1\.[0-7]\r?\n"
    if not re.match(header, data):
        found.append(f"header {data[:9]!r}")
    second = data.split(b"\n", 2)[1]
    if not (second[:1] == b"%" and all(b > 127 for b in second[1:5]) and len(second) >= 5):
        found.append("no binary comment after the header")
    if b"\nxref" not in data or b"\ntrailer" not in data[-1024:]:
        found.append("no cross-reference table and trailer")
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
            elif part == 1 and (icc[8] != 2 or icc[9] > 0x40):
                found.append(f"output intent profile of version {icc[8]}.{icc[9] >> 4} (> 2.4)")
        if part == 1 and doc.xref_get_key(catalog, "OCProperties")[0] != "null":
            found.append("optional content")
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
        if (xmp.get("pdfaid:part"), xmp.get("pdfaid:conformance")) != (str(part), "B"):
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
            if part == 1:
                for later in ("/ObjStm", "/XRef", "/JPXDecode", "/OC", "/Polygon", "/Redact"):
                    if re.search(re.escape(later) + r"\b", source):
                        found.append(f"object {xref}: {later} (not in PDF 1.4 / PDF/A-1)")
                if re.search(r"/BitsPerComponent ?16\b", source):
                    found.append(f"object {xref}: 16-bit image")
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


def write_both(result: DocumentResult, tmp_path: Path, version: str = "2b") -> tuple[Path, Path]:
    stem = Path(result.source).stem
    plain, archival = tmp_path / f"{stem}.ocr.pdf", tmp_path / f"{stem}.pdfa-{version}.pdf"
    PdfWriter().write(result, plain)
    PdfAWriter(version).write(result, archival)
    return plain, archival


# ---------------------------------------------------------------------- basics


def test_pdfa_is_registered_and_named_apart_from_pdf(tmp_path):
    writers = PluginManager(autoload=False).writers
    chosen = [writers.get("pdf"), writers.get("pdfa")]
    assert chosen[1].suffix == ".pdfa.pdf"
    plan = plan_outputs([tmp_path / "scan.pdf"], tmp_path / "out", chosen, force=False)
    paths = plan[tmp_path / "scan.pdf"]
    assert paths == {"pdf": tmp_path / "out/scan.ocr.pdf", "pdfa": tmp_path / "out/scan.pdfa.pdf"}


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_checker_rejects_the_plain_searchable_pdf(tmp_path, version):
    source = tmp_path / "scan.png"
    image = scan_image()
    image.save(source, dpi=(DPI, DPI))
    plain, archival = write_both(
        result_from_ink(source, "image", [(0, np.asarray(image))]), tmp_path, version
    )
    assert "no XMP metadata" in pdfa_violations(plain, PART[version])
    assert "0 output intents" in pdfa_violations(plain, PART[version])
    assert pdfa_violations(archival, PART[version]) == []
    other = 3 - PART[version]  # the other part: its pdfaid and header (or profile) differ
    assert f"pdfaid {PART[version]}/B" in pdfa_violations(archival, other)


@pytest.mark.parametrize("version", [4, 2])
def test_srgb_profile_is_an_rgb_display_profile(version):
    profile = srgb_profile(version)
    assert profile[36:40] == b"acsp" and profile[12:20] == b"mntrRGB "
    assert profile[8] == version
    assert int.from_bytes(profile[:4], "big") == len(profile)


def test_srgb_v2_profile_is_srgb_for_littlecms():
    data = srgb_profile(2)
    assert data == _icc.srgb_v2_profile()  # the same bytes every time
    profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    assert profile.profile.version == pytest.approx(2.1)  # PDF/A-1 takes up to 2.4
    assert profile.profile.profile_description == "sRGB IEC61966-2.1"
    assert (profile.profile.device_class, profile.profile.xcolor_space) == ("mntr", "RGB ")
    # The colourants are adapted to D50: together they make the white point.
    colourants = [profile.profile.red_colorant, profile.profile.green_colorant]
    colourants.append(profile.profile.blue_colorant)
    white = profile.profile.media_white_point[0]
    for axis in range(3):
        assert sum(c[0][axis] for c in colourants) == pytest.approx(white[axis], abs=2e-4)
    assert white == pytest.approx(_icc.D50, abs=1e-4)
    # Every 8-bit colour means the same through it as through LittleCMS's sRGB.
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(1, -1, 3)
    littlecms = ImageCms.createProfile("sRGB")
    for intent in (ImageCms.Intent.PERCEPTUAL, ImageCms.Intent.ABSOLUTE_COLORIMETRIC):
        transform = ImageCms.buildTransform(profile, littlecms, "RGB", "RGB", intent)
        shown = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform))
        assert np.abs(shown.astype(int) - grid).max() <= 1


def test_srgb_v2_profile_layout():
    data = _icc.srgb_v2_profile()
    assert data[8:12] == bytes((2, 0x10, 0, 0)) and data[64:68] == bytes(4)
    count = int.from_bytes(data[128:132], "big")
    tags = {}
    for i in range(count):
        entry = data[132 + 12 * i : 144 + 12 * i]
        offset, size = int.from_bytes(entry[4:8], "big"), int.from_bytes(entry[8:12], "big")
        assert offset % 4 == 0 and offset + size <= len(data)
        tags[entry[:4].decode()] = data[offset : offset + size]
    assert set(tags) == {"desc", "cprt", "wtpt", "rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC"}
    assert {tags[t][:4] for t in ("rTRC", "gTRC", "bTRC")} == {b"curv"}
    assert tags["desc"][:4] == b"desc" and tags["cprt"][:4] == b"text"
    curve = np.frombuffer(tags["rTRC"][12:], ">u2")
    assert len(curve) == _icc.CURVE_POINTS and curve[0] == 0 and curve[-1] == 65535
    assert np.all(np.diff(curve.astype(int)) >= 0)
    middle = _icc.srgb_decode(0.5)  # 0.214
    assert curve[len(curve) // 2] / 65535 == pytest.approx(middle, abs=2e-3)


def test_pdfa_version_is_a_writer_option():
    models = PluginManager(autoload=False).option_models
    assert models.get("pdfa") is PdfAOptions
    assert PdfAOptions.flag("version") == "--pdfa-version"
    options = models.parse({"pdfa_version": "1b"})
    writer = PdfAWriter()
    assert writer.flavour is PDFA_2B  # the default
    writer.configure(options.for_component(writer))
    assert writer.flavour is PDFA_1B
    assert models.parse({"pdfa": {"version": "2b"}})["pdfa"] == PdfAOptions()
    with pytest.raises(UsageError, match=r"--pdfa-version"):
        models.parse({"pdfa_version": "1a"})


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


@pytest.mark.parametrize(
    ("stream", "problem"),
    [
        (b"/OC /oc1 BDC 0 0 10 10 re f EMC", "optional content (PDF/A-1 has none)"),
        (b"BI /W 1 /H 1 /CS /G /BPC 8 /F /JPX ID \x00 EI", "a JPX filter (PDF 1.4 has none)"),
        (b"BI /W 1 /H 1 /CS /G /BPC 16 ID \x00\x00 EI", "a 16-bit image (PDF 1.4 has none)"),
        (b"BI /W 1 /H 1 /F [/AHx /LZW] /CS /G /BPC 8 ID 00> EI", "an LZW-compressed stream"),
        (b"BI /W 1 /H 1 /F [/A85 /Fl] /CS /G /BPC 8 ID ~> EI", None),
        (b"/Artifact BMC 0 0 10 10 re f EMC /P <</MCID 0>> BDC EMC", None),
    ],
)
def test_content_stream_pdf14_problems(stream, problem):
    assert content_problems(stream, PDFA_1B) == ({problem} if problem else set())
    if problem and "LZW" not in problem:
        assert content_problems(stream, PDFA_2B) == set()  # PDF/A-2 (PDF 1.7) has them


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


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_from_png(tmp_path, version):
    source = tmp_path / "fax page.png"
    image = scan_image().convert("RGB")
    image.save(source, dpi=(DPI, DPI))
    before = sha256(source)
    result = result_from_ink(source, "image", [(0, np.asarray(image.convert("L")))])
    out = tmp_path / "fax page.pdfa.pdf"
    PdfAWriter(version).write(result, out)
    assert sha256(source) == before
    assert pdfa_violations(out, PART[version]) == []
    with pymupdf.open(out) as doc:
        assert doc.metadata["title"] == "fax page"  # no title of its own: the file name
        assert doc.metadata["author"] == ""  # none invented
        assert_words_selectable(doc[0], result.pages[0])
        shown = render_gray(doc[0]).astype(np.int16)
        assert np.abs(shown - np.asarray(image.convert("L"))).mean() < 2


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_from_jpeg_keeps_the_jpeg(tmp_path, version):
    source = tmp_path / "photo.jpg"
    scan_image().convert("RGB").save(source, quality=80, dpi=(DPI, DPI))
    result = result_from_ink(source, "image", [(0, np.asarray(Image.open(source).convert("L")))])
    out = tmp_path / "photo.pdfa.pdf"
    PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
    with pymupdf.open(out) as doc:
        ((xref, *_),) = doc[0].get_images()
        assert doc.xref_stream_raw(xref) == source.read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("rotation", "cropbox"), [(0, None), (270, (30, 24, 230, 400))], ids=["plain", "rotated-crop"]
)
def test_pdfa_from_pdf_keeps_pages_and_document_info(tmp_path, rotation, cropbox, version):
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
    PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
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


@pytest.mark.parametrize(("version", "header"), [("2b", b"%PDF-1.7\n"), ("1b", b"%PDF-1.4\n")])
def test_pdfa_from_pdf_20_has_a_pdf_1x_header(tmp_path, version, header):
    source = tmp_path / "new.pdf"
    make_scan_pdf(source)
    data = source.read_bytes()
    assert data.startswith(b"%PDF-1.7")
    source.write_bytes(b"%PDF-2.0" + data[8:])
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "new.pdfa.pdf"
    PdfAWriter(version).write(result, out)
    assert out.read_bytes().startswith(header)
    assert pdfa_violations(out, PART[version]) == []


def test_pdfa_1b_is_pdf_14_with_a_cross_reference_table(tmp_path):
    # A source with object streams and a cross-reference stream (PDF 1.5 features).
    source = tmp_path / "compact.pdf"
    make_scan_pdf(source)
    with pymupdf.open(source) as doc:
        doc.save(tmp_path / "compact2.pdf", use_objstms=True, garbage=1)
    source = tmp_path / "compact2.pdf"
    assert b"/ObjStm" in source.read_bytes() and b"/XRef" in source.read_bytes()
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "compact2.pdfa.pdf"
    PdfAWriter("1b").write(result, out)
    data = out.read_bytes()
    assert re.match(rb"%PDF-1\.4\n%[\x80-\xff]{4}", data)
    assert b"/ObjStm" not in data and b"/XRef" not in data and b"\nxref\n0 " in data
    assert pdfa_violations(out, part=1) == []  # XMP part 1, Info and XMP agree, ICC 2.1
    with pymupdf.open(out) as doc:
        xmp = _xmp_properties(doc.get_xml_metadata().encode("utf-8"))
        assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("1", "B")
        assert doc.metadata["title"] == "compact2" == xmp["dc:title"]
        assert_words_selectable(doc[0], result.pages[0])


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


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_rasterises_pages_it_cannot_fix(tmp_path, caplog, version):
    source = tmp_path / "mixed.pdf"
    make_unarchivable_pdf(source)
    with pymupdf.open(source) as src:
        displayed = render_gray(src[0])
        before = [render_rgb(p) for p in src]
        scan_xref = src[0].get_images()[0][0]
    result = result_from_ink(source, "pdf", [(0, displayed)])
    out = tmp_path / "mixed.pdfa.pdf"
    with caplog.at_level(logging.WARNING, logger="tair_ocr.writers.pdfa"):
        PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
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


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_refuses_to_rasterise_a_page_with_text_of_its_own(tmp_path, version):
    source = tmp_path / "typed.pdf"
    make_scan_pdf(source)
    with pymupdf.open(source) as doc:  # page 2 gets typed text in an unembedded font
        doc[1].insert_text((20, 200), "Typed words", fontname="helv")
        doc.saveIncr()
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "typed.pdfa.pdf"
    with pytest.raises(OutputError, match=r"page 2 has font Helvetica not embedded.*--force-ocr"):
        PdfAWriter(version).write(result, out)
    assert not out.exists()
    PdfWriter().write(result, tmp_path / "typed.ocr.pdf")  # the plain PDF keeps it as it is


def make_active_pdf(path: Path) -> pymupdf.Rect:
    """A scan page with links (one launching a program), annotations (one not
    printable, one hidden, a note) and JavaScript; returns the rectangle of the
    shown square annotation."""
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
        note = page.add_text_annot((400, 4), "a note")
        doc.xref_set_key(note.xref, "F", "4")  # printable; zooms and rotates with the page
        doc.save(path)
    return shown_rect


def active_result(source: Path) -> DocumentResult:
    """The OCR result of :func:`make_active_pdf`'s page: the words of its scan
    (the page as displayed shows its annotations too)."""
    return result_from_ink(source, "pdf", [(0, np.asarray(scan_image()))])


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_removes_forbidden_actions_and_fixes_annotations(tmp_path, caplog, version):
    source = tmp_path / "active.pdf"
    shown_rect = make_active_pdf(source)
    result = active_result(source)
    out = tmp_path / "active.pdfa.pdf"
    with caplog.at_level(logging.WARNING, logger="tair_ocr.writers.pdfa"):
        PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
    assert any("JavaScript" in r.getMessage() for r in caplog.records)
    with pymupdf.open(out) as doc:
        page = doc[0]
        # The launch link stays a link area without an action.
        assert [link.get("uri") for link in page.get_links()] == ["https://a.test"]
        annots = {a.type[1]: a for a in page.annots()}
        assert sorted(annots) == ["Square", "Text"] and annots["Square"].rect == shown_rect
        # PDF/A-1 validators want notes that neither zoom nor rotate.
        fixed = pymupdf.PDF_ANNOT_IS_NO_ZOOM | pymupdf.PDF_ANNOT_IS_NO_ROTATE
        flags = int(doc.xref_get_key(annots["Text"].xref, "F")[1])  # MuPDF's .flags add them
        assert (flags & fixed == fixed) is (version == "1b")
        assert doc.xref_get_key(doc.pdf_catalog(), "OpenAction")[0] == "null"
        assert_words_selectable(page, result.pages[0])


def _png(mode: str, size: tuple[int, int], colour) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_pdf17_features_pdf(path: Path) -> None:
    """Six pages: the scan (1) and five pages with what PDF/A-2b allows and PDF 1.4
    (so PDF/A-1) lacks: a Polygon annotation (2), a JPEG 2000 image (3), optional
    content with a hidden layer (4), an image in a version 4 ICC colour space (5)
    and a 16-bit image (6)."""
    doc = pymupdf.open()
    _scan_page(doc)
    page = doc.new_page(width=300, height=300)
    page.draw_rect(pymupdf.Rect(20, 20, 100, 100), color=(0, 0, 0), fill=(0, 0.5, 0))
    page.add_polygon_annot([(150, 150), (250, 160), (200, 250)]).update()
    page = doc.new_page(width=300, height=300)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="JPEG2000")
    page.insert_image(pymupdf.Rect(50, 50, 150, 150), stream=buffer.getvalue())
    page = doc.new_page(width=300, height=300)
    hidden = doc.add_ocg("hidden", on=False)
    page.draw_rect(pymupdf.Rect(20, 20, 100, 100), color=(0, 0, 0), fill=(0, 0, 0.5))
    page.draw_rect(pymupdf.Rect(120, 120, 200, 200), color=(0, 0, 0), fill=(0.5, 0, 0), oc=hidden)
    page = doc.new_page(width=300, height=300)
    xref = page.insert_image(
        pymupdf.Rect(50, 50, 150, 150), stream=_png("RGB", (8, 8), (30, 90, 200))
    )
    icc = doc.get_new_xref()
    doc.update_object(icc, "<</N 3/Alternate/DeviceRGB>>")
    doc.update_stream(icc, srgb_profile(4))
    doc.xref_set_key(xref, "ColorSpace", f"[/ICCBased {icc} 0 R]")
    page = doc.new_page(width=300, height=300)
    xref = page.insert_image(pymupdf.Rect(50, 50, 150, 150), stream=_png("L", (4, 4), 90))
    doc.update_object(
        xref,
        "<</Type/XObject/Subtype/Image/Width 4/Height 4/BitsPerComponent 16"
        "/ColorSpace/DeviceGray>>",
    )
    doc.update_stream(xref, np.full(16, 90 * 257, ">u2").tobytes())
    doc.save(path)


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_1b_rasterises_pages_with_what_pdf_14_lacks(tmp_path, caplog, version):
    source = tmp_path / "newer.pdf"
    make_pdf17_features_pdf(source)
    with pymupdf.open(source) as src:
        before = [render_rgb(p) for p in src]
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "newer.pdfa.pdf"
    with caplog.at_level(logging.WARNING, logger="tair_ocr.writers.pdfa"):
        PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
    warnings = [r.getMessage() for r in caplog.records if "picture" in r.getMessage()]
    expected = {
        2: "a Polygon annotation",
        3: "a JPEG 2000 image",
        4: "optional content",
        5: "an ICC profile of version 4",
        6: "a 16-bit image",
    }
    with pymupdf.open(out) as doc:
        assert_words_selectable(doc[0], result.pages[0])
        if version == "2b":  # PDF/A-2b keeps them all
            assert warnings == []
            assert [a.type[1] for a in doc[1].annots()] == ["Polygon"]
            assert doc.xref_get_key(doc.pdf_catalog(), "OCProperties")[0] == "dict"
            return
        for number, reason in expected.items():
            assert any(f"page {number}: {reason}" in w for w in warnings), warnings
            assert len(doc[number - 1].get_images()) == 1
        assert len(warnings) == len(expected)
        assert list(doc[1].annots()) == []
        for number, (page, pixels) in enumerate(zip(doc, before, strict=True)):
            shown = render_rgb(page)  # as displayed: the hidden layer stays hidden
            assert shown.shape == pixels.shape
            assert np.abs(shown - pixels).mean() < 2, number + 1


def make_typed_pdf(path: Path, *, subset: bool) -> None:
    """The test scan, and a page of text in an embedded font (a CFF font as a
    CIDFont, as MuPDF embeds it: without CapHeight); ``subset``: a subset of it
    (no CIDSet, which PDF/A-1 requires of subsets)."""
    doc = pymupdf.open()
    _scan_page(doc)
    page = doc.new_page(width=300, height=300)
    page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("tiro").buffer)
    page.insert_text((20, 100), "Typed words", fontname="F0", fontsize=14)
    if subset:
        doc.subset_fonts()
    doc.save(path)


@pytest.mark.parametrize("version", VERSIONS)
def test_pdfa_keeps_text_in_embedded_fonts(tmp_path, version):
    source = tmp_path / "typed.pdf"
    make_typed_pdf(source, subset=False)
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "typed.pdfa.pdf"
    PdfAWriter(version).write(result, out)
    assert pdfa_violations(out, PART[version]) == []
    with pymupdf.open(out) as doc:
        assert doc[1].get_text().split() == ["Typed", "words"]
        assert doc[1].get_images() == []
        descriptors = [
            x
            for x in range(1, doc.xref_length())
            if doc.xref_get_key(x, "Type") == ("name", "/FontDescriptor")
        ]
        assert len(descriptors) == 2  # the typed font's and the text layer's
        for descriptor in descriptors:  # with the metrics PDF requires (MuPDF's lack CapHeight)
            for key in ("Ascent", "Descent", "CapHeight", "ItalicAngle", "StemV"):
                assert doc.xref_get_key(descriptor, key)[0] in ("int", "real"), key


def test_pdfa_1b_refuses_a_subset_without_cidset_that_2b_keeps(tmp_path):
    source = tmp_path / "subset.pdf"
    make_typed_pdf(source, subset=True)
    with pymupdf.open(source) as src:
        result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
    out = tmp_path / "subset.pdfa.pdf"
    refusal = r"page 2 has a subset font .* without a CIDSet.*--force-ocr.*--pdfa-version 2b"
    with pytest.raises(OutputError, match=refusal):
        PdfAWriter("1b").write(result, out)
    assert not out.exists()
    PdfAWriter("2b").write(result, out)
    assert pdfa_violations(out) == []


def test_pdfa_version_from_the_command_line_and_the_python_api(tmp_path):
    source = tmp_path / "scan.png"
    scan_image().save(source, dpi=(DPI, DPI))
    args = [source, "-o", tmp_path / "cli", "-t", "pdfa", "--pdfa-version", "1b", "-q"]
    args += ["--plugin", TEST_PLUGINS / "fault_engines.py", "--engine", "crash-marked"]
    args += ["--restorer", "none", "--no-rotate-pages", "--no-deskew", "--no-plugin-autoload"]
    assert main([str(a) for a in args]) == 0
    with Pipeline(
        engine="crash-marked",
        restorer="none",
        plugins=[str(TEST_PLUGINS / "fault_engines.py")],
        autoload=False,
        output_types=["pdfa"],
        options={"pdfa": {"version": "1b"}, "orientation": {"enabled": False}},
    ) as pipeline:
        pipeline.run(source, output_dir=tmp_path / "api")
    for folder in ("cli", "api"):
        out = tmp_path / folder / "scan.pdfa.pdf"
        assert out.read_bytes().startswith(b"%PDF-1.4\n")
        assert pdfa_violations(out, part=1) == []


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

needs_a_validator = pytest.mark.skipif(
    pdfa_validate.preflight_classpath() is None and pdfa_validate.shutil.which("verapdf") is None,
    reason="no PDF/A validator installed (verapdf, or Debian libpdfbox2-java with Java)",
)


def sample_result(source: Path) -> DocumentResult:
    """An OCR result for a file of samples/ (a few words on every page; the
    writer, not the reading, is under test): no OCR run, so the test stays fast."""
    if source.suffix == ".pdf":
        with pymupdf.open(source) as doc:
            sizes = [(round(p.rect.width * DPI / 72), round(p.rect.height * DPI / 72)) for p in doc]
        dpi = DPI
    else:
        with Image.open(source) as image:
            sizes, dpi = [image.size], round(image.info.get("dpi", (300, 300))[0])
    lines = [[word("Dear", (150, 200, 260, 240)), word("reader", (280, 200, 420, 240))]]
    pages = [page_of(i, lines, size=size, dpi=dpi) for i, size in enumerate(sizes)]
    kind = "pdf" if source.suffix == ".pdf" else "image"
    return DocumentResult(source=str(source), kind=kind, pages=pages)


@needs_a_validator
def test_pdfa_1b_output_passes_preflight_without_a_message(tmp_path, capsys):
    # The samples, and every problem PDF of the tests above, written as PDF/A-1b:
    # the PDF/A-1b validator (Preflight) must report nothing at all.
    outputs = []
    for name in ("letter_scan.pdf", "faxed_memo.png"):
        result = sample_result(SAMPLES / name)
        outputs.append(tmp_path / f"{name}.pdfa.pdf")
        PdfAWriter("1b").write(result, outputs[-1])
    png = tmp_path / "scan.png"
    scan_image().save(png, dpi=(DPI, DPI))
    from_png = result_from_ink(png, "image", [(0, np.asarray(scan_image()))])
    outputs.append(write_both(from_png, tmp_path, "1b")[1])
    makers = {
        "mixed": make_unarchivable_pdf,
        "newer": make_pdf17_features_pdf,
        "typed": lambda path: make_typed_pdf(path, subset=False),
    }
    for name, make in makers.items():
        source = tmp_path / f"{name}.pdf"
        make(source)
        with pymupdf.open(source) as src:
            result = result_from_ink(source, "pdf", [(0, render_gray(src[0]))])
        outputs.append(tmp_path / f"{name}.pdfa-1b.pdf")
        PdfAWriter("1b").write(result, outputs[-1])
    make_active_pdf(tmp_path / "active.pdf")
    outputs.append(tmp_path / "active.pdfa-1b.pdf")
    PdfAWriter("1b").write(active_result(tmp_path / "active.pdf"), outputs[-1])
    for output in outputs:
        assert pdfa_validate.claimed_flavour(output) == "1b"
    assert pdfa_validate.validate(outputs) == 0, capsys.readouterr().out
    if pdfa_validate.preflight_classpath() is not None:
        assert pdfa_validate.run_preflight_many(outputs, pdfa_validate.preflight_classpath()) == [
            [] for _ in outputs
        ]
        # PDF/A-2b output is no PDF/A-1b: Preflight says so, as a 1b file.
        assert pdfa_validate.validate([tmp_path / "scan.pdfa-2b.pdf"], "1b") == 1


@needs_a_validator
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
