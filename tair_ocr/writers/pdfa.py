"""PDF/A: the searchable PDF made an archival file, PDF/A-2b or PDF/A-1b.

Two flavours (:class:`Flavour`), chosen with the writer's ``version`` option
(``--pdfa-version 2b|1b``; :class:`PdfAOptions`):

* **2b** (the default): ISO 19005-2, level B, on PDF 1.7;
* **1b**: ISO 19005-1, level B, on PDF 1.4: what PDF/A-1 validators (Apache
  PDFBox Preflight) accept, and archives that ask for PDF/A-1.

The document is the one :func:`~tair_ocr.writers.pdf.build_searchable_pdf`
builds (the source pages with the invisible text layer); this module then makes
it an archival file:

* an sRGB output intent whose ICC profile is generated here: for 2b LittleCMS's
  built-in sRGB (version 4, through Pillow's ``ImageCms``), for 1b a version 2
  matrix/TRC sRGB profile written by :mod:`tair_ocr.writers._icc` (PDF 1.4
  takes ICC profiles up to version 2.4);
* XMP metadata (``pdfaid:part`` 2 or 1, ``pdfaid:conformance`` B, ``dc:title``,
  ``dc:creator``, ``dc:description``, ``pdf:Keywords``, ``xmp:CreatorTool``,
  ``pdf:Producer``, ``xmp:CreateDate``/``ModifyDate``/``MetadataDate``) and an Info
  dictionary rebuilt to hold exactly the same values. The title, author, subject,
  keywords, creator and creation date of a PDF source are kept; the title of a
  source without one is its file name's stem. Other Info entries and the
  source's own XMP are dropped;
* a trailer ``/ID``, no encryption, a ``%PDF-1.7`` header for 2b (a PDF 2.0
  source included) or ``%PDF-1.4`` for 1b, followed by a binary comment; a
  cross-reference table, no cross-reference or object streams (which PDF 1.4
  lacks);
* no JavaScript and no other action PDF/A forbids (Launch, Sound, Movie,
  ResetForm, ImportData, Hide, SetOCGState, Rendition, Trans, GoTo3DView, named
  actions but page turns; for 1b also GoToE, which PDF 1.4 lacks, and the
  action of a form field's widget), no additional-actions (``/AA``) dictionaries;
  no ``/Interpolate true`` images; annotations printable, hidden ones removed,
  appearance dictionaries reduced to their normal appearance (for 1b, text
  annotations also get the NoZoom and NoRotate flags); object-level XMP
  removed; unembedded font resources that show no text (those of a removed OCR
  layer) removed; for 1b, no optional content configuration (PDF/A-1 has no
  optional content).

It also keeps out transparency, which PDF/A-2 would allow (with the output
intent): the output has no soft mask, no image alpha, no constant alpha below 1,
no blend mode but Normal and no transparency group, so it shows the same in
every viewer and is as PDF/A-1 requires. Transparency groups on pages that draw
nothing transparent are dropped.

What cannot be fixed in place decides by its scope:

* **a page** of a PDF source that shows text in an unembedded font (even
  invisible text: stricter than PDF/A-2, which exempts render mode 3), transparency,
  DeviceCMYK colour (the output intent is RGB), a forbidden annotation type, an
  annotation without an appearance, an LZW-compressed stream, a PostScript or
  reference XObject, a transfer function or a content stream that cannot be read
  is *rasterised*: it is replaced by a picture of itself as it displays
  (annotations included) at the OCR resolution, JPEG quality
  :data:`RASTER_JPEG_QUALITY`, and gets the text layer like any other page.
  For 1b, so is a page with what PDF 1.4 lacks: a stream filter other than
  PDF 1.4's (JPEG 2000 among them), a 16-bit image, an ICC profile newer than
  version 2.4, an OpenType font program, optional content, an annotation type
  PDF/A-1 does not allow (Polygon, PolyLine, Caret, Redact, Watermark and
  others), or a subset font without the list of its glyphs (``CharSet`` of a
  Type 1 subset, ``CIDSet`` of a CIDFont subset) that PDF/A-1 requires.
  Its links and annotations are then gone; a warning names each such page and
  why. A page that shows text of its own (born-digital text, an OCR layer that was
  kept) would lose it as a picture, so such a page makes the writer refuse the
  document instead, naming the page and suggesting ``--force-ocr`` (which reads
  pages with text as pictures, so OCR words replace their text), or 2b when
  only a 1b rule is broken. The check is made on the searchable PDF, after an
  old OCR layer was removed or a page rasterised for ``--force-ocr``;
* **the document**: an encrypted source (PDF/A forbids encryption, and
  removing it would override the author's restrictions) or one with embedded
  files (PDF/A-2 allows only PDF/A attachments, which this writer does not check;
  PDF/A-1 none) is refused with an :class:`~tair_ocr.errors.OutputError`; no
  file is written.

Before saving, every page of the finished document is checked again against the
same rules; a page that still breaks one (which would be a bug here) fails the
output rather than producing a file that claims PDF/A and is not.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal
from xml.sax.saxutils import escape

import pymupdf
from PIL import ImageCms
from pydantic import Field

from tair_ocr._version import __version__
from tair_ocr.components import Writer
from tair_ocr.errors import OutputError
from tair_ocr.hookspecs import hookimpl
from tair_ocr.options import PluginOptions
from tair_ocr.results import DocumentResult
from tair_ocr.writers._glyphless import FONT_NAME
from tair_ocr.writers._icc import srgb_v2_profile
from tair_ocr.writers._xml import xml_safe
from tair_ocr.writers.pdf import build_searchable_pdf
from tair_ocr.writers.pdf_content import operators

log = logging.getLogger(__name__)

_mupdf = pymupdf.mupdf

#: JPEG quality of pages that are rasterised because they cannot be made PDF/A.
RASTER_JPEG_QUALITY = 90
#: Rendering resolution of rasterised pages when the result names none.
DEFAULT_DPI = 300.0

#: Action types PDF/A-2 (6.6.1) allows; named actions only for page turns.
_ALLOWED_ACTIONS = frozenset({"GoTo", "GoToR", "GoToE", "Thread", "URI", "SubmitForm", "Named"})
_ALLOWED_NAMED = frozenset({"NextPage", "PrevPage", "FirstPage", "LastPage"})
#: Annotation types of ISO 32000-1 that PDF/A-2 (6.3.1) allows.
_ALLOWED_ANNOTATIONS = frozenset(
    {
        "Text",
        "Link",
        "FreeText",
        "Line",
        "Square",
        "Circle",
        "Polygon",
        "PolyLine",
        "Highlight",
        "Underline",
        "Squiggly",
        "StrikeOut",
        "Stamp",
        "Caret",
        "Ink",
        "Popup",
        "FileAttachment",
        "Widget",
        "PrinterMark",
        "TrapNet",
        "Watermark",
        "Redact",
    }
)
#: The annotation types of PDF 1.4 that PDF/A-1 (6.5.2) allows: not FileAttachment,
#: Sound and Movie, nor the types of later PDF versions.
_PDFA1_ANNOTATIONS = _ALLOWED_ANNOTATIONS - {
    "Polygon",
    "PolyLine",
    "Caret",
    "FileAttachment",
    "Watermark",
    "Redact",
}
#: The stream filters of PDF 1.4 but LZW (PDF/A-1, 6.1.10), with the abbreviations
#: of inline images; JPXDecode and Crypt came with PDF 1.5.
_PDF14_FILTERS = frozenset(
    {
        "ASCIIHexDecode",
        "ASCII85Decode",
        "FlateDecode",
        "RunLengthDecode",
        "CCITTFaxDecode",
        "JBIG2Decode",
        "DCTDecode",
        "AHx",
        "A85",
        "Fl",
        "RL",
        "CCF",
        "DCT",
    }
)


@dataclass(frozen=True)
class Flavour:
    """What differs between the PDF/A flavours the writer makes."""

    #: ``PDF/A-2b``: how messages name it.
    name: str
    #: ISO 19005 part (``pdfaid:part``).
    part: int
    #: The file header (8 bytes).
    header: bytes
    #: Version of the ICC profile of the sRGB output intent (4: LittleCMS's, 2: ours).
    icc_version: int
    #: Action types allowed (named actions only for page turns).
    actions: frozenset[str]
    #: Annotation types allowed.
    annotations: frozenset[str]
    #: Whether the file is PDF 1.4 (PDF/A-1): stream filters, ICC profiles, fonts,
    #: images and optional content are then held to what PDF 1.4 has.
    pdf14: bool


PDFA_2B = Flavour(
    name="PDF/A-2b",
    part=2,
    header=b"%PDF-1.7",
    icc_version=4,
    actions=_ALLOWED_ACTIONS,
    annotations=_ALLOWED_ANNOTATIONS,
    pdf14=False,
)
PDFA_1B = Flavour(
    name="PDF/A-1b",
    part=1,
    header=b"%PDF-1.4",
    icc_version=2,
    actions=_ALLOWED_ACTIONS - {"GoToE"},
    annotations=_PDFA1_ANNOTATIONS,
    pdf14=True,
)
#: The flavours by their ``--pdfa-version`` name.
FLAVOURS: dict[str, Flavour] = {"2b": PDFA_2B, "1b": PDFA_1B}
PdfAVersion = Literal["2b", "1b"]

#: Annotation flags: Invisible, Hidden, Print, NoView, ToggleNoView.
_INVISIBLE, _HIDDEN, _PRINT, _NOVIEW, _TOGGLE_NOVIEW = 1, 2, 4, 32, 256
_LZW = frozenset({"LZWDecode", "LZW"})
_CMYK = frozenset({"DeviceCMYK", "CMYK"})
_TRANSPARENCY = "transparency"
_CMYK_USE = "DeviceCMYK colour (the output intent is RGB)"
_OPTIONAL_CONTENT = "optional content (PDF/A-1 has none)"
#: Annotation flags PDF/A-1 validators want on text annotations: NoZoom, NoRotate.
_NO_ZOOM, _NO_ROTATE = 8, 16
#: Font names of subsets: six capital letters and a plus sign.
_SUBSET = re.compile(r"[A-Z]{6}\+")


class PdfAOptions(PluginOptions):
    """PDF/A output (--output-type pdfa): which flavour is written."""

    namespace: ClassVar[str] = "pdfa"

    version: PdfAVersion = Field(
        "2b",
        description="PDF/A flavour: 2b (PDF/A-2b, PDF 1.7) or 1b (PDF/A-1b, PDF 1.4: for "
        "archives that ask for PDF/A-1, and what PDF/A-1 validators such as PDFBox "
        "Preflight check)",
    )


class PdfAWriter(Writer):
    """Writes ``<stem>.pdfa.pdf``: the searchable PDF as PDF/A-2b, or PDF/A-1b
    (``version="1b"``, the option ``--pdfa-version 1b``)."""

    name = "pdfa"
    suffix = ".pdfa.pdf"
    description = (
        "searchable PDF made PDF/A-2b, or PDF/A-1b with --pdfa-version 1b (archival: sRGB "
        "output intent, XMP, no transparency)"
    )
    shows_pages = frozenset({"image"})
    options_model = PdfAOptions

    def __init__(self, version: PdfAVersion = "2b") -> None:
        self.flavour = FLAVOURS[version]

    def configure(self, options: PdfAOptions) -> None:
        self.flavour = FLAVOURS[options.version]

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write the PDF/A searchable PDF of ``result`` to ``destination``.

        Raises :class:`~tair_ocr.errors.OutputError` when the source is not a
        PDF or image file, cannot be read, or is a PDF that cannot be made
        PDF/A (encrypted, with embedded files, a page with text of its own that
        would have to become a picture).
        """
        if result.kind not in ("pdf", "image"):
            raise OutputError(
                f"the pdfa output needs a PDF or image source, not a {result.kind!r} document"
            )
        if result.source == "<image>" or not Path(result.source).is_file():
            raise OutputError(
                f"cannot write a PDF/A for {result.source}: the source file is needed to show "
                "the original pages (run on a file, or choose another output type)"
            )
        with tempfile.TemporaryDirectory(prefix="tair-ocr-pdfa-") as scratch:
            doc = build_pdfa(result, Path(scratch), self.flavour)
            try:
                save_pdfa(doc, destination, self.flavour)
            finally:
                doc.close()


def build_pdfa(
    result: DocumentResult, scratch: Path, flavour: Flavour = PDFA_2B
) -> pymupdf.Document:
    """Return the PDF/A document of ``result`` in ``flavour`` (the caller saves it
    with :func:`save_pdfa`, in the same flavour, and closes it).

    ``scratch`` is a folder for a copy of a PDF source with pages rasterised;
    it must outlive the returned document.
    """
    source = Path(result.source)
    if result.kind == "pdf":
        _check_source(source, flavour)
    doc = build_searchable_pdf(result)
    if result.kind == "pdf":
        # Audit what the output will show (the searchable PDF may have changed a
        # page already: an old OCR layer removed, a page rasterised for --force-ocr).
        try:
            rasterise = _pages_to_rasterise(doc, source, flavour)
        except BaseException:
            doc.close()
            raise
        if rasterise:
            doc.close()
            copy = _rasterised_copy(source, rasterise, result, scratch / "source.pdf")
            doc = build_searchable_pdf(result.model_copy(update={"source": str(copy)}))
    try:
        _make_conformant(doc, flavour)
        _set_metadata(doc, fallback_title=source.stem, flavour=flavour)
        problems = {
            page.number: found
            for page in doc
            if (found := _page_problems(doc, page, flavour, strict=True))
        }
        if problems:
            details = "; ".join(
                f"page {n + 1}: {', '.join(sorted(p))}" for n, p in problems.items()
            )
            raise OutputError(f"cannot make {source} {flavour.name}: {details}")
    except BaseException:
        doc.close()
        raise
    return doc


def save_pdfa(doc: pymupdf.Document, destination: Path, flavour: Flavour = PDFA_2B) -> None:
    """Save a document made by :func:`build_pdfa`: unencrypted, with a new
    trailer ``/ID``, the flavour's header (PDF 1.7 or older for 2b, PDF 1.4 for
    1b) and a binary comment, with a cross-reference table (no cross-reference or
    object streams)."""
    try:
        doc.save(
            destination,
            garbage=3,
            deflate=True,
            encryption=pymupdf.PDF_ENCRYPT_NONE,
            no_new_id=False,
            use_objstms=False,
        )
        with open(destination, "r+b") as file:
            head = file.read(64)
            if not re.match(rb"%PDF-\d\.\d\s", head):
                raise OutputError(f"unexpected PDF header {head[:16]!r} in {destination}")
            if flavour.pdf14 or not re.match(rb"%PDF-1\.[0-7]\s", head):
                # MuPDF writes the source's version (2.0 included). The output uses
                # nothing of a later one (for 1b: nothing past PDF 1.4, checked by
                # the audit); the header is 8 bytes either way.
                file.seek(0)
                file.write(flavour.header)
            second = head.split(b"\n", 2)[1] if head.count(b"\n") >= 2 else b""
            if not (second.startswith(b"%") and sum(b > 127 for b in second[1:5]) == 4):
                raise OutputError(f"no binary comment after the header of {destination}")
            file.seek(0, 2)
            file.seek(max(0, file.tell() - 1024))
            tail = file.read()
            if b"trailer" not in tail or b"/XRefStm" in tail:
                raise OutputError(f"no plain cross-reference table at the end of {destination}")
    except (RuntimeError, OSError) as exc:  # MuPDF raises RuntimeError subclasses
        raise OutputError(f"cannot write {destination}: {exc}") from exc


# ---------------------------------------------------------------------- source


def _check_source(source: Path, flavour: Flavour) -> None:
    """Refuse a PDF source that cannot be made PDF/A at all."""
    try:
        doc = pymupdf.open(source, filetype="pdf")
    except (RuntimeError, ValueError) as exc:
        raise OutputError(f"cannot read the source PDF {source}: {exc}") from exc
    try:
        if doc.needs_pass or doc.xref_get_key(-1, "Encrypt")[0] != "null":
            raise OutputError(
                f"cannot write a PDF/A for {source}: it is encrypted, and PDF/A forbids "
                "encryption (remove it first, e.g. qpdf --decrypt, or choose --output-type pdf)"
            )
        attached = _embedded_files(doc)
        if attached:
            allowed = "none" if flavour.pdf14 else "only PDF/A attachments"
            raise OutputError(
                f"cannot write a PDF/A for {source}: it has {attached} embedded file(s), and "
                f"{flavour.name} allows {allowed} (detach them, or choose --output-type pdf)"
            )
    finally:
        doc.close()


def _pages_to_rasterise(
    doc: pymupdf.Document, source: Path, flavour: Flavour
) -> dict[int, set[str]]:
    """The pages of the searchable PDF ``doc`` that must become pictures (0-based,
    with the reasons). Raises :class:`OutputError` when such a page shows text of
    its own: as a picture it would lose it (no OCR words stand in for it)."""
    pages = {page.number: found for page in doc if (found := _page_problems(doc, page, flavour))}
    for number, reasons in pages.items():
        if _own_text(doc[number]):
            other = ""
            if flavour.pdf14 and not _page_problems(doc, doc[number], PDFA_2B):
                other = ", --pdfa-version 2b (PDF/A-2b keeps the page as it is)"
            raise OutputError(
                f"cannot write a PDF/A for {source}: page {number + 1} has "
                f"{', '.join(sorted(reasons))}, so it would have to become a picture, and "
                "its own text would be lost (use --force-ocr to read such pages as pictures"
                f"{other}, or choose --output-type pdf)"
            )
    return pages


def _own_text(page: pymupdf.Page) -> bool:
    """Whether ``page`` shows text other than tair-ocr's invisible layer."""
    for block in page.get_text("dict")["blocks"]:
        for line in block.get("lines", ()):
            for span in line["spans"]:
                if span["text"].strip() and span["font"] != FONT_NAME:
                    return True
    return False


def _embedded_files(doc: pymupdf.Document) -> int:
    """How many embedded file streams the document holds (attachments and
    file attachment annotations alike)."""
    count = sum(
        doc.xref_get_key(xref, "Type") == ("name", "/EmbeddedFile")
        for xref in range(1, doc.xref_length())
    )
    return max(count, doc.embfile_count())


def _rasterised_copy(
    source: Path, pages: dict[int, set[str]], result: DocumentResult, destination: Path
) -> Path:
    """Save a copy of ``source`` whose ``pages`` show a picture of themselves."""
    dpis = {p.index: p.dpi for p in result.pages if p.dpi > 0}
    default = next(iter(dpis.values()), DEFAULT_DPI)
    doc = pymupdf.open(source, filetype="pdf")
    try:
        for number, reasons in sorted(pages.items()):
            dpi = dpis.get(number, default)
            log.warning(
                "%s page %d: %s; the PDF/A shows it as a picture (%g dpi)",
                source,
                number + 1,
                ", ".join(sorted(reasons)),
                dpi,
            )
            _rasterise_page(doc, number, dpi)
        doc.save(destination, garbage=3, deflate=True)
    except (RuntimeError, ValueError) as exc:
        raise OutputError(f"cannot rasterise pages of {source}: {exc}") from exc
    finally:
        doc.close()
    return destination


def _rasterise_page(doc: pymupdf.Document, number: int, dpi: float) -> None:
    """Replace page ``number`` by a picture of it as displayed, in place (so links
    and outlines to the page object stay valid)."""
    page = doc[number]
    width, height = page.rect.width, page.rect.height
    zoom = dpi / 72.0
    pix = page.get_pixmap(
        matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False, annots=True
    )
    if pix.n == 3 and _is_grey(pix.samples):
        pix = pymupdf.Pixmap(pymupdf.csGRAY, pix)
    data = pix.tobytes("jpeg", jpg_quality=RASTER_JPEG_QUALITY)
    xref = page.xref
    box = f"[0 0 {width:.4f} {height:.4f}]"
    page_object = _mupdf.pdf_load_object(_pdf_document(doc), xref)
    for key in ("Contents", "Annots", "Group", "BleedBox", "TrimBox", "ArtBox", "UserUnit", "AA"):
        _mupdf.pdf_dict_dels(page_object, key)
    # Set what could otherwise be inherited from the page tree.
    doc.xref_set_key(xref, "MediaBox", box)
    doc.xref_set_key(xref, "CropBox", box)
    doc.xref_set_key(xref, "Rotate", "0")
    doc.xref_set_key(xref, "Resources", "<<>>")
    page = doc.reload_page(page)
    page.insert_image(page.rect, stream=data)


def _embedded(font: _mupdf.PdfObj) -> bool:
    """Whether ``font`` has its font program (a Type 3 font needs none)."""
    subtype = _name(_mupdf.pdf_dict_gets(font, "Subtype"))
    if subtype == "Type3":
        return True
    described = font
    if subtype == "Type0":
        described = _mupdf.pdf_array_get(_mupdf.pdf_dict_gets(font, "DescendantFonts"), 0)
    descriptor = _mupdf.pdf_dict_gets(described, "FontDescriptor")
    return any(
        _mupdf.pdf_is_stream(_mupdf.pdf_dict_gets(descriptor, key))
        for key in ("FontFile", "FontFile2", "FontFile3")
    )


def _is_grey(rgb: bytes) -> bool:
    return rgb[0::3] == rgb[1::3] == rgb[2::3]


# ---------------------------------------------------------------------- page audit


def _pdf_document(doc: pymupdf.Document) -> _mupdf.PdfDocument:
    this = doc.this
    return (
        this if isinstance(this, _mupdf.PdfDocument) else _mupdf.pdf_document_from_fz_document(this)
    )


def _name(obj: _mupdf.PdfObj) -> str:
    return _mupdf.pdf_to_name(obj) if _mupdf.pdf_is_name(obj) else ""


def _items(obj: _mupdf.PdfObj) -> Iterator[tuple[str, _mupdf.PdfObj]]:
    if _mupdf.pdf_is_dict(obj):
        for i in range(_mupdf.pdf_dict_len(obj)):
            yield (
                _mupdf.pdf_to_name(_mupdf.pdf_dict_get_key(obj, i)),
                _mupdf.pdf_dict_get_val(obj, i),
            )


def _elements(obj: _mupdf.PdfObj) -> list[_mupdf.PdfObj]:
    if _mupdf.pdf_is_array(obj):
        return [_mupdf.pdf_array_get(obj, i) for i in range(_mupdf.pdf_array_len(obj))]
    return [obj] if not _mupdf.pdf_is_null(obj) else []


def _names(obj: _mupdf.PdfObj) -> list[str]:
    """A name or an array of names (filters, blend modes) as a list."""
    return [_name(o) for o in _elements(obj)]


def _page_problems(
    doc: pymupdf.Document,
    page: pymupdf.Page,
    flavour: Flavour,
    *,
    strict: bool = False,
    font_use: _FontUse | None = None,
) -> set[str]:
    """What keeps ``page`` from ``flavour`` (without transparency) that cannot be
    fixed in place; with ``strict``, also what :func:`_make_conformant` fixes.
    ``font_use`` collects which fonts of which font dictionaries are used."""
    audit = _Audit(doc, flavour, strict=strict, font_use=font_use)
    audit.page(_mupdf.pdf_load_object(_pdf_document(doc), page.xref))
    return audit.problems


#: Font resource dictionaries (by the number of the object that is or holds one)
#: with the names of the fonts in them that content streams show text with.
_FontUse = dict[int, tuple[_mupdf.PdfObj, set[str]]]


class _Audit:
    """Walks what one page shows: its resources (fonts, images, forms, patterns,
    graphics states, colour spaces, recursively), content streams and
    annotations, collecting problems. Fonts are checked where a content stream
    shows text with them: a font resource that shows none (one of a removed OCR
    layer, of a page replaced by its picture) is no problem, and
    :func:`_make_conformant` drops it if it is not embedded."""

    def __init__(
        self,
        doc: pymupdf.Document,
        flavour: Flavour,
        *,
        strict: bool,
        font_use: _FontUse | None = None,
    ) -> None:
        self.doc = doc
        self.flavour = flavour
        self.strict = strict
        self.problems: set[str] = set()
        self.font_use: _FontUse = {} if font_use is None else font_use
        self._seen: set[int] = set()

    def _first_visit(self, obj: _mupdf.PdfObj) -> bool:
        if not _mupdf.pdf_is_indirect(obj):
            return True
        number = _mupdf.pdf_to_num(obj)
        if number in self._seen:
            return False
        self._seen.add(number)
        return True

    def page(self, page: _mupdf.PdfObj) -> None:
        self.group(page)
        resources = _mupdf.pdf_dict_gets_inheritable(page, "Resources")
        self.resources(resources)
        self.content(_mupdf.pdf_dict_gets(page, "Contents"), resources)
        for annot in _elements(_mupdf.pdf_dict_gets(page, "Annots")):
            self.annotation(annot)

    def content(self, streams: _mupdf.PdfObj, resources: _mupdf.PdfObj) -> None:
        """Check content streams drawn with ``resources``."""
        data = b""
        for stream in _elements(streams):
            if not _mupdf.pdf_is_stream(stream):
                continue
            self.filters(_names(_mupdf.pdf_dict_gets(stream, "Filter")))
            try:
                data += self.doc.xref_stream(_mupdf.pdf_to_num(stream)) + b"\n"
            except (RuntimeError, ValueError):
                self.problems.add("an unreadable content stream")
        if not data:
            return
        problems, fonts = scan_content(data, self.flavour)
        self.problems |= problems
        if not fonts:
            return
        table = self._font_table(resources)
        if table is not None:
            table[1].update(fonts)
        for name in sorted(fonts):
            font = _mupdf.pdf_dict_gets(_mupdf.pdf_dict_gets(resources, "Font"), name)
            if _mupdf.pdf_is_dict(font):
                self.font(font, resources)
            else:
                self.problems.add(f"font {name} missing from the resources")

    def filters(self, names: list[str]) -> None:
        """Check the filters of a stream (or an inline image)."""
        if _LZW.intersection(names):
            self.problems.add("an LZW-compressed stream")
        if self.flavour.pdf14:
            for name in set(names) - _PDF14_FILTERS - _LZW:
                if name in ("JPXDecode", "JPX"):
                    self.problems.add("a JPEG 2000 image (PDF 1.4 has none)")
                else:
                    self.problems.add(f"a {name or 'unnamed'} filter (PDF 1.4 has none)")

    def _font_table(self, resources: _mupdf.PdfObj) -> tuple[_mupdf.PdfObj, set[str]] | None:
        """The :attr:`font_use` entry of the font dictionary of ``resources``."""
        table = _mupdf.pdf_dict_gets(resources, "Font")
        if not _mupdf.pdf_is_dict(table):
            return None
        holder = (
            _mupdf.pdf_to_num(table)
            if _mupdf.pdf_is_indirect(table)
            else _mupdf.pdf_obj_parent_num(table)
        )
        return self.font_use.setdefault(holder, (table, set()))

    def resources(self, resources: _mupdf.PdfObj) -> None:
        if not _mupdf.pdf_is_dict(resources) or not self._first_visit(resources):
            return
        self._font_table(resources)
        for _key, value in _items(_mupdf.pdf_dict_gets(resources, "XObject")):
            self.xobject(value, resources)
        for _key, value in _items(_mupdf.pdf_dict_gets(resources, "Pattern")):
            self.pattern(value)
        checks = {
            "ExtGState": self.graphics_state,
            "ColorSpace": self.colorspace,
            "Shading": self.shading,
        }
        for kind, check in checks.items():
            for _key, value in _items(_mupdf.pdf_dict_gets(resources, kind)):
                check(value)

    def font(self, font: _mupdf.PdfObj, resources: _mupdf.PdfObj) -> None:
        if not self._first_visit(font):
            return
        subtype = _name(_mupdf.pdf_dict_gets(font, "Subtype"))
        if subtype == "Type3":  # glyphs are content streams; nothing to embed
            own = _mupdf.pdf_dict_gets(font, "Resources")
            glyph_resources = own if _mupdf.pdf_is_dict(own) else resources
            self.resources(glyph_resources)
            for _key, glyph in _items(_mupdf.pdf_dict_gets(font, "CharProcs")):
                self.content(glyph, glyph_resources)
            return
        base = _name(_mupdf.pdf_dict_gets(font, "BaseFont")) or "?"
        if not _embedded(font):
            self.problems.add(f"font {base} not embedded")
        elif self.flavour.pdf14:
            self.pdf14_font(font, subtype, base)

    def pdf14_font(self, font: _mupdf.PdfObj, subtype: str, base: str) -> None:
        """What PDF/A-1 wants of an embedded font beyond PDF/A-2: a font program
        PDF 1.4 knows, and in a subset the list of its glyphs (6.3.5)."""
        described = font
        if subtype == "Type0":
            described = _mupdf.pdf_array_get(_mupdf.pdf_dict_gets(font, "DescendantFonts"), 0)
            base = _name(_mupdf.pdf_dict_gets(described, "BaseFont")) or base
        descriptor = _mupdf.pdf_dict_gets(described, "FontDescriptor")
        program = _mupdf.pdf_dict_gets(descriptor, "FontFile3")
        if _name(_mupdf.pdf_dict_gets(program, "Subtype")) == "OpenType":
            self.problems.add(f"font {base} with an OpenType program (PDF 1.4 has none)")
        if not _SUBSET.match(base):
            return
        if subtype in ("Type1", "MMType1"):
            missing = _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(descriptor, "CharSet"))
            listing = "CharSet"
        else:
            missing = subtype == "Type0" and not _mupdf.pdf_is_stream(
                _mupdf.pdf_dict_gets(descriptor, "CIDSet")
            )
            listing = "CIDSet"
        if missing:
            self.problems.add(f"a subset font {base} without a {listing} (PDF/A-1 needs one)")

    def xobject(self, xobject: _mupdf.PdfObj, resources: _mupdf.PdfObj) -> None:
        if not self._first_visit(xobject):
            return
        self.optional_content(xobject)
        subtype = _name(_mupdf.pdf_dict_gets(xobject, "Subtype"))
        if subtype == "Image":
            self.image(xobject)
        elif subtype == "Form":
            self.form(xobject, resources)
        else:
            self.problems.add(f"a {subtype or 'untyped'} XObject")

    def form(self, form: _mupdf.PdfObj, inherited: _mupdf.PdfObj | None = None) -> None:
        """Check a form XObject (an appearance stream too); one without resources
        of its own uses ``inherited`` (the page's; allowed in old PDFs)."""
        if _name(_mupdf.pdf_dict_gets(form, "Subtype2")) == "PS":
            self.problems.add("a PostScript XObject")
        for key, what in (("Ref", "a reference XObject"), ("OPI", "OPI")):
            if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(form, key)):
                self.problems.add(what)
        self.group(form)
        resources = _mupdf.pdf_dict_gets(form, "Resources")
        if not _mupdf.pdf_is_dict(resources) and inherited is not None:
            resources = inherited
        self.resources(resources)
        self.content(form, resources)

    def image(self, image: _mupdf.PdfObj) -> None:
        smask = _mupdf.pdf_dict_gets(image, "SMask")
        if not _mupdf.pdf_is_null(smask) and _name(smask) != "None":
            self.problems.add(_TRANSPARENCY)
        if _mupdf.pdf_to_int(_mupdf.pdf_dict_gets(image, "SMaskInData")) > 0:
            self.problems.add(_TRANSPARENCY)
        self.filters(_names(_mupdf.pdf_dict_gets(image, "Filter")))
        bits = _mupdf.pdf_to_int(_mupdf.pdf_dict_gets(image, "BitsPerComponent"))
        if self.flavour.pdf14 and bits > 8:
            self.problems.add(f"a {bits}-bit image (PDF 1.4 has none)")
        for key, what in (("Alternates", "alternate images"), ("OPI", "OPI")):
            if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(image, key)):
                self.problems.add(what)
        if self.strict and _mupdf.pdf_to_bool(_mupdf.pdf_dict_gets(image, "Interpolate")):
            self.problems.add("image interpolation")
        self.colorspace(_mupdf.pdf_dict_gets(image, "ColorSpace"))

    def graphics_state(self, state: _mupdf.PdfObj) -> None:
        if not self._first_visit(state):
            return
        smask = _mupdf.pdf_dict_gets(state, "SMask")
        if not _mupdf.pdf_is_null(smask) and _name(smask) != "None":
            self.problems.add(_TRANSPARENCY)
        for key in ("CA", "ca"):
            alpha = _mupdf.pdf_dict_gets(state, key)
            if _mupdf.pdf_is_number(alpha) and _mupdf.pdf_to_real(alpha) < 1:
                self.problems.add(_TRANSPARENCY)
        if set(_names(_mupdf.pdf_dict_gets(state, "BM"))) - {"Normal", "Compatible"}:
            self.problems.add(_TRANSPARENCY)
        if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(state, "TR")):
            self.problems.add("a transfer function")
        tr2 = _mupdf.pdf_dict_gets(state, "TR2")
        if not _mupdf.pdf_is_null(tr2) and _name(tr2) != "Default":
            self.problems.add("a transfer function")
        if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(state, "HTP")):
            self.problems.add("a halftone phase")

    def colorspace(self, space: _mupdf.PdfObj) -> None:
        if _mupdf.pdf_is_name(space):
            if _name(space) in _CMYK:
                self.problems.add(_CMYK_USE)
            return
        if not _mupdf.pdf_is_array(space) or not self._first_visit(space):
            return
        family = _name(_mupdf.pdf_array_get(space, 0))
        if family == "ICCBased" and self.flavour.pdf14:
            self.icc_profile(_mupdf.pdf_array_get(space, 1))
        elif family in ("Indexed", "I", "Pattern") and _mupdf.pdf_array_len(space) > 1:
            self.colorspace(_mupdf.pdf_array_get(space, 1))
        elif family in ("Separation", "DeviceN") and _mupdf.pdf_array_len(space) > 2:
            self.colorspace(_mupdf.pdf_array_get(space, 2))
        elif family in _CMYK:
            self.problems.add(_CMYK_USE)

    def icc_profile(self, stream: _mupdf.PdfObj) -> None:
        """PDF 1.4 (so PDF/A-1) takes ICC profiles up to version 2.4."""
        if not (_mupdf.pdf_is_stream(stream) and _mupdf.pdf_is_indirect(stream)):
            return
        try:
            head = self.doc.xref_stream(_mupdf.pdf_to_num(stream))[:12]
        except (RuntimeError, ValueError):
            self.problems.add("an unreadable ICC profile")
            return
        if len(head) < 12 or head[8] > 2 or (head[8] == 2 and head[9] > 0x40):
            version = f"{head[8]}.{head[9] >> 4}" if len(head) == 12 else "?"
            self.problems.add(f"an ICC profile of version {version} (PDF 1.4 takes up to 2.4)")

    def optional_content(self, owner: _mupdf.PdfObj) -> None:
        """PDF/A-1 has no optional content: what is drawn only when a
        configuration says so is shown as the default configuration shows it."""
        if self.flavour.pdf14 and not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(owner, "OC")):
            self.problems.add(_OPTIONAL_CONTENT)

    def pattern(self, pattern: _mupdf.PdfObj) -> None:
        if not self._first_visit(pattern):
            return
        if _mupdf.pdf_to_int(_mupdf.pdf_dict_gets(pattern, "PatternType")) == 1:
            resources = _mupdf.pdf_dict_gets(pattern, "Resources")
            self.resources(resources)
            self.content(pattern, resources)
        else:
            self.shading(_mupdf.pdf_dict_gets(pattern, "Shading"))
            state = _mupdf.pdf_dict_gets(pattern, "ExtGState")
            if _mupdf.pdf_is_dict(state):
                self.graphics_state(state)

    def shading(self, shading: _mupdf.PdfObj) -> None:
        if _mupdf.pdf_is_dict(shading) and self._first_visit(shading):
            self.colorspace(_mupdf.pdf_dict_gets(shading, "ColorSpace"))

    def group(self, owner: _mupdf.PdfObj) -> None:
        group = _mupdf.pdf_dict_gets(owner, "Group")
        if _name(_mupdf.pdf_dict_gets(group, "S")) == "Transparency":
            self.colorspace(_mupdf.pdf_dict_gets(group, "CS"))
            if self.strict:
                self.problems.add("a transparency group")

    def annotation(self, annot: _mupdf.PdfObj) -> None:
        if not _mupdf.pdf_is_dict(annot) or not self._first_visit(annot):
            return
        subtype = _name(_mupdf.pdf_dict_gets(annot, "Subtype"))
        flags = _mupdf.pdf_to_int(_mupdf.pdf_dict_gets(annot, "F"))
        if not self.strict and flags & (_HIDDEN | _NOVIEW):
            return  # not shown; removed by _make_conformant
        if subtype not in self.flavour.annotations:
            self.problems.add(f"a {subtype or 'untyped'} annotation")
        self.optional_content(annot)
        if self.strict and (
            not flags & _PRINT or flags & (_INVISIBLE | _HIDDEN | _NOVIEW | _TOGGLE_NOVIEW)
        ):
            self.problems.add("annotation flags")
        if self.strict and self.flavour.pdf14:
            if subtype == "Text" and ~flags & (_NO_ZOOM | _NO_ROTATE):
                self.problems.add("annotation flags")
            if subtype == "Widget" and not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(annot, "A")):
                self.problems.add("a widget action")
        alpha = _mupdf.pdf_dict_gets(annot, "CA")
        if _mupdf.pdf_is_number(alpha) and _mupdf.pdf_to_real(alpha) < 1:
            self.problems.add(_TRANSPARENCY)
        appearance = _mupdf.pdf_dict_gets(annot, "AP")
        normal = _mupdf.pdf_dict_gets(appearance, "N")
        rect = _mupdf.pdf_to_rect(_mupdf.pdf_dict_gets(annot, "Rect"))
        has_area = rect.x1 > rect.x0 and rect.y1 > rect.y0
        if subtype not in ("Popup", "Link") and has_area and _mupdf.pdf_is_null(normal):
            self.problems.add("an annotation without an appearance")
        if self.strict and any(key != "N" for key, _value in _items(appearance)):
            self.problems.add("annotation appearances other than the normal one")
        forms = [normal] if _mupdf.pdf_is_stream(normal) else [v for _k, v in _items(normal)]
        for form in forms:
            if _mupdf.pdf_is_stream(form) and self._first_visit(form):
                self.form(form)


# ---------------------------------------------------------------------- content streams


def content_problems(data: bytes, flavour: Flavour = PDFA_2B) -> set[str]:
    """What a content stream does that ``flavour`` with an RGB output intent
    forbids and that cannot be fixed without rewriting it."""
    return scan_content(data, flavour)[0]


def _name_token(token: bytes) -> str:
    """The name a ``/Name`` token stands for (``#xx`` escapes decoded)."""
    raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), token[1:])
    return raw.decode("utf-8", "replace")


#: Operators that show text (with the current font).
_SHOW_TEXT = frozenset({"Tj", "TJ", "'", '"'})


def _inline_filters(operands: list[bytes]) -> list[str]:
    """The filter names of an inline image (its ``BI`` operands, arrays opened)."""
    names: list[str] = []
    for i, token in enumerate(operands[:-1]):
        if token not in (b"/F", b"/Filter"):
            continue
        value = operands[i + 1]
        if value == b"[":
            end = operands.index(b"]", i + 1) if b"]" in operands[i + 1 :] else len(operands)
            names += [_name_token(t) for t in operands[i + 2 : end] if t.startswith(b"/")]
        elif value.startswith(b"/"):
            names.append(_name_token(value))
    return names


def scan_content(data: bytes, flavour: Flavour = PDFA_2B) -> tuple[set[str], set[str]]:
    """:func:`content_problems` and the font resource names the stream shows
    text with (the font ``Tf`` selected, through ``q``/``Q``, when a text-showing
    operator runs; a ``Tf`` alone draws nothing)."""
    problems: set[str] = set()
    fonts: set[str] = set()
    font: str | None = None
    saved: list[str | None] = []
    for op, operands in operators(data):
        if op == "Tf" and operands[:1] and operands[0].startswith(b"/"):
            font = _name_token(operands[0])
        elif op in _SHOW_TEXT and font is not None:
            fonts.add(font)
        elif op == "q":
            saved.append(font)
        elif op == "Q" and saved:
            font = saved.pop()
        cmyk_space = op in ("cs", "CS") and operands[-1:] in ([b"/DeviceCMYK"], [b"/CMYK"])
        if op in ("k", "K") or cmyk_space:
            problems.add(_CMYK_USE)
        elif op == "PS":
            problems.add("a PostScript operator")
        elif op == "BDC" and flavour.pdf14 and operands[:1] == [b"/OC"]:
            problems.add(_OPTIONAL_CONTENT)
        elif op == "BI":
            entries = dict(zip(operands[::2], operands[1::2], strict=False))
            space = entries.get(b"/CS", entries.get(b"/ColorSpace"))
            if space in (b"/DeviceCMYK", b"/CMYK"):
                problems.add(_CMYK_USE)
            if b"/DeviceCMYK" in operands or b"/CMYK" in operands:  # an Indexed base
                problems.add(_CMYK_USE)
            filters = _inline_filters(operands)
            if _LZW.intersection(filters):
                problems.add("an LZW-compressed stream")
            if flavour.pdf14:
                for name in set(filters) - _PDF14_FILTERS - _LZW:
                    problems.add(f"a {name} filter (PDF 1.4 has none)")
                bits = entries.get(b"/BPC", entries.get(b"/BitsPerComponent"))
                if bits == b"16":
                    problems.add("a 16-bit image (PDF 1.4 has none)")
            if entries.get(b"/I", entries.get(b"/Interpolate")) == b"true":
                problems.add("image interpolation")
    return problems, fonts


# ---------------------------------------------------------------------- fixes


def _forbidden_action(action: _mupdf.PdfObj, flavour: Flavour) -> bool:
    if not _mupdf.pdf_is_dict(action):
        return False
    kind = _name(_mupdf.pdf_dict_gets(action, "S"))
    if kind not in flavour.actions:
        return True
    return kind == "Named" and _name(_mupdf.pdf_dict_gets(action, "N")) not in _ALLOWED_NAMED


def _fix_object(obj: _mupdf.PdfObj, removed: set[str], flavour: Flavour, depth: int = 0) -> None:
    """Fix one object and the dictionaries and arrays written inside it."""
    if depth > 32:
        return
    if _mupdf.pdf_is_array(obj):
        for element in _elements(obj):
            if not _mupdf.pdf_is_indirect(element):
                _fix_object(element, removed, flavour, depth + 1)
        return
    if not _mupdf.pdf_is_dict(obj):
        return
    if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(obj, "AA")):
        _mupdf.pdf_dict_dels(obj, "AA")
        removed.add("additional actions")
    widget = _name(_mupdf.pdf_dict_gets(obj, "Subtype")) == "Widget"
    if flavour.pdf14 and widget and not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(obj, "A")):
        _mupdf.pdf_dict_dels(obj, "A")  # PDF/A-1 (6.9): a form field's widget has no action
        removed.add("form field actions")
    for key in ("A", "OpenAction", "PA"):
        action = _mupdf.pdf_dict_gets(obj, key)
        if _forbidden_action(action, flavour):
            _mupdf.pdf_dict_dels(obj, key)
            removed.add(f"{_name(_mupdf.pdf_dict_gets(action, 'S')) or 'unknown'} actions")
    following = _mupdf.pdf_dict_gets(obj, "Next")
    if any(_forbidden_action(a, flavour) for a in _elements(following)):
        _mupdf.pdf_dict_dels(obj, "Next")
        removed.add("chained actions")
    if _mupdf.pdf_to_bool(_mupdf.pdf_dict_gets(obj, "Interpolate")):
        _mupdf.pdf_dict_dels(obj, "Interpolate")  # false by default
    group = _mupdf.pdf_dict_gets(obj, "Group")
    if _name(_mupdf.pdf_dict_gets(group, "S")) == "Transparency":
        _mupdf.pdf_dict_dels(obj, "Group")
    appearance = _mupdf.pdf_dict_gets(obj, "AP")
    if _mupdf.pdf_is_dict(appearance) and not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(obj, "Rect")):
        for key in ("D", "R"):
            _mupdf.pdf_dict_dels(appearance, key)
    for _key, value in list(_items(obj)):
        if not _mupdf.pdf_is_indirect(value):
            _fix_object(value, removed, flavour, depth + 1)


def _make_conformant(doc: pymupdf.Document, flavour: Flavour) -> None:
    """Fix in place what ``flavour`` forbids and can be fixed without changing
    what the pages show (see the module docstring)."""
    pdf = _pdf_document(doc)
    catalog_xref = doc.pdf_catalog()
    for page in doc:
        _fix_annotations(doc, page, flavour)
    # Unembedded font resources no content stream selects (those of a removed OCR
    # layer, of a page replaced by its picture) go: PDF/A wants every font embedded.
    font_use: _FontUse = {}
    for page in doc:
        _page_problems(doc, page, flavour, font_use=font_use)
    for table, used in font_use.values():
        for key, font in list(_items(table)):
            if key not in used and _mupdf.pdf_is_dict(font) and not _embedded(font):
                _mupdf.pdf_dict_dels(table, key)
    removed: set[str] = set()
    for xref in range(1, doc.xref_length()):
        try:
            obj = _mupdf.pdf_load_object(pdf, xref)
        except RuntimeError:  # a free or broken object
            continue
        if xref != catalog_xref and _mupdf.pdf_is_dict(obj):
            # Object-level XMP (pages, images) would need checking too; drop it.
            _mupdf.pdf_dict_dels(obj, "Metadata")
        if _name(_mupdf.pdf_dict_gets(obj, "Type")) == "FontDescriptor":
            _complete_font_descriptor(obj)
        _fix_object(obj, removed, flavour)
    catalog = _mupdf.pdf_load_object(pdf, catalog_xref)
    names = _mupdf.pdf_dict_gets(catalog, "Names")
    if not _mupdf.pdf_is_null(_mupdf.pdf_dict_gets(names, "JavaScript")):
        _mupdf.pdf_dict_dels(names, "JavaScript")
        removed.add("JavaScript")
    form = _mupdf.pdf_dict_gets(catalog, "AcroForm")
    if _mupdf.pdf_is_dict(form):
        _mupdf.pdf_dict_dels(form, "NeedAppearances")
        _mupdf.pdf_dict_dels(form, "XFA")
    if flavour.pdf14:
        # PDF/A-1 has no optional content (pages that use it are pictures now)
        # and no extensions to PDF 1.7.
        for key in ("OCProperties", "Extensions"):
            _mupdf.pdf_dict_dels(catalog, key)
    else:
        _fix_optional_content(catalog)
    for key in ("Version", "Perms", "Requirements", "OutputIntents"):
        _mupdf.pdf_dict_dels(catalog, key)
    if removed:
        log.warning("PDF/A: removed %s", ", ".join(sorted(removed)))


def _complete_font_descriptor(descriptor: _mupdf.PdfObj) -> None:
    """Add the metrics ISO 32000-1 (table 122) requires of a font descriptor and
    some writers leave out (MuPDF's embedded fonts have no ``CapHeight``). They
    matter only to a reader that substitutes the font, which an embedded font
    never needs: a missing ``Ascent``/``Descent`` is taken from the ``FontBBox``,
    ``CapHeight`` from the ascent, ``ItalicAngle`` is 0 and ``StemV`` 0 (unknown)."""
    box = _mupdf.pdf_dict_gets(descriptor, "FontBBox")
    top = bottom = None
    if _mupdf.pdf_is_array(box) and _mupdf.pdf_array_len(box) == 4:
        bottom = _mupdf.pdf_to_real(_mupdf.pdf_array_get(box, 1))
        top = _mupdf.pdf_to_real(_mupdf.pdf_array_get(box, 3))

    def value(key: str) -> float | None:
        found = _mupdf.pdf_dict_gets(descriptor, key)
        return _mupdf.pdf_to_real(found) if _mupdf.pdf_is_number(found) else None

    def put(key: str, number: float | None) -> None:
        if value(key) is None and number is not None:
            _mupdf.pdf_dict_puts(descriptor, key, _mupdf.pdf_new_real(round(number, 3)))

    put("Ascent", top)
    put("Descent", bottom)
    put("CapHeight", value("Ascent"))
    put("ItalicAngle", 0.0)
    put("StemV", 0.0)


def _fix_annotations(doc: pymupdf.Document, page: pymupdf.Page, flavour: Flavour) -> None:
    """Drop hidden annotations; make the others printable (and for PDF/A-1 text
    annotations neither zoom nor rotate, as its validators want)."""
    if doc.xref_get_key(page.xref, "Annots")[0] == "null":
        return
    pdf_page = _mupdf.pdf_load_object(_pdf_document(doc), page.xref)
    annots = _mupdf.pdf_dict_gets(pdf_page, "Annots")
    for i in reversed(range(_mupdf.pdf_array_len(annots))):
        annot = _mupdf.pdf_array_get(annots, i)
        if not _mupdf.pdf_is_dict(annot):
            _mupdf.pdf_array_delete(annots, i)
            continue
        flags = _mupdf.pdf_to_int(_mupdf.pdf_dict_gets(annot, "F"))
        if flags & (_HIDDEN | _NOVIEW):
            _mupdf.pdf_array_delete(annots, i)
            continue
        flags = (flags | _PRINT) & ~(_INVISIBLE | _TOGGLE_NOVIEW)
        if flavour.pdf14 and _name(_mupdf.pdf_dict_gets(annot, "Subtype")) == "Text":
            flags |= _NO_ZOOM | _NO_ROTATE
        _mupdf.pdf_dict_puts(annot, "F", _mupdf.pdf_new_int(flags))


def _fix_optional_content(catalog: _mupdf.PdfObj) -> None:
    """Optional content configurations need unique names and no ``/AS``."""
    properties = _mupdf.pdf_dict_gets(catalog, "OCProperties")
    if not _mupdf.pdf_is_dict(properties):
        return
    configs = [_mupdf.pdf_dict_gets(properties, "D")]
    configs += _elements(_mupdf.pdf_dict_gets(properties, "Configs"))
    used: set[str] = set()
    for number, config in enumerate(configs):
        if not _mupdf.pdf_is_dict(config):
            continue
        _mupdf.pdf_dict_dels(config, "AS")
        name = _mupdf.pdf_to_text_string(_mupdf.pdf_dict_gets(config, "Name"))
        if not name or name in used:
            name = f"{name or 'Configuration'} {number + 1}"
            _mupdf.pdf_dict_puts(config, "Name", _mupdf.pdf_new_text_string(name))
        used.add(name)


# ---------------------------------------------------------------------- metadata

_XMP_TEMPLATE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">
   <pdfaid:part>{part}</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
{properties}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

_PDF_DATE = re.compile(
    r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:Z|([+-])(\d{2})'?(\d{2})?'?)?"
)


def parse_pdf_date(text: str) -> dt.datetime | None:
    """A PDF date string (``D:YYYYMMDDHHmmSS+HH'mm'``, parts after the year
    optional) as an aware datetime (no zone: UTC); None when it is not one."""
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, tz_hour, tz_minute = match.groups()
    offset = dt.timedelta(0)
    if sign:
        offset = dt.timedelta(hours=int(tz_hour), minutes=int(tz_minute or 0))
        offset = -offset if sign == "-" else offset
    try:
        return dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=dt.timezone(offset),
        )
    except ValueError:
        return None


def _pdf_date(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{sign}{hours:02d}'{rest:02d}'"


def _xmp_date(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _clean(text: str) -> str:
    """Metadata text as both Info and XMP can hold it identically."""
    return xml_safe(text).strip()


def _set_metadata(doc: pymupdf.Document, *, fallback_title: str, flavour: Flavour) -> None:
    """Write the output intent, the Info dictionary and the XMP metadata."""
    info = doc.metadata or {}
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    created = parse_pdf_date(info.get("creationDate") or "") or now
    values = {
        "Title": _clean(info.get("title") or "") or _clean(fallback_title),
        "Author": _clean(info.get("author") or ""),
        "Subject": _clean(info.get("subject") or ""),
        "Keywords": _clean(info.get("keywords") or ""),
        "Creator": _clean(info.get("creator") or "") or f"tair-ocr {__version__}",
        "Producer": f"tair-ocr {__version__} (PyMuPDF {pymupdf.VersionBind}, "
        f"MuPDF {pymupdf.VersionFitz})",
    }
    values = {key: value for key, value in values.items() if value}

    entries = "".join(f"/{key} {pymupdf.get_pdf_str(value)}" for key, value in values.items())
    entries += f"/CreationDate({_pdf_date(created)})/ModDate({_pdf_date(now)})"
    info_xref = _new_object(doc, f"<<{entries}>>")
    doc.xref_set_key(-1, "Info", f"{info_xref} 0 R")

    properties = []
    if "Title" in values:
        properties.append(_alt("dc:title", values["Title"]))
    if "Author" in values:
        author = escape(values["Author"])
        properties.append(
            f"   <dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>"
        )
    if "Subject" in values:
        properties.append(_alt("dc:description", values["Subject"]))
    simple = {
        "pdf:Keywords": values.get("Keywords"),
        "pdf:Producer": values["Producer"],
        "xmp:CreatorTool": values["Creator"],
        "xmp:CreateDate": _xmp_date(created),
        "xmp:ModifyDate": _xmp_date(now),
        "xmp:MetadataDate": _xmp_date(now),
        "xmpMM:DocumentID": f"uuid:{uuid.uuid4()}",
        "xmpMM:InstanceID": f"uuid:{uuid.uuid4()}",
    }
    for tag, value in simple.items():
        if value:
            properties.append(f"   <{tag}>{escape(value)}</{tag}>")
    xmp = _XMP_TEMPLATE.format(part=flavour.part, properties="\n".join(properties))
    xmp = xmp.encode("utf-8")
    metadata = _new_object(doc, "<</Type/Metadata/Subtype/XML>>")
    doc.update_stream(metadata, xmp, compress=False)

    profile = srgb_profile(flavour.icc_version)
    icc = _new_object(doc, "<</N 3/Alternate/DeviceRGB>>")
    doc.update_stream(icc, profile, compress=True)
    intent = _new_object(
        doc,
        "<</Type/OutputIntent/S/GTS_PDFA1/OutputConditionIdentifier(sRGB)"
        "/RegistryName(http://www.color.org)/Info(sRGB IEC61966-2.1)"
        f"/DestOutputProfile {icc} 0 R>>",
    )
    catalog = doc.pdf_catalog()
    doc.xref_set_key(catalog, "Metadata", f"{metadata} 0 R")
    doc.xref_set_key(catalog, "OutputIntents", f"[{intent} 0 R]")


def _alt(tag: str, text: str) -> str:
    return (
        f'   <{tag}><rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt></{tag}>'
    )


def srgb_profile(version: int = 4) -> bytes:
    """An sRGB ICC profile, made here: version 4 is LittleCMS's built-in one
    (for PDF/A-2), version 2 the matrix/TRC profile of
    :func:`~tair_ocr.writers._icc.srgb_v2_profile` (for PDF/A-1)."""
    if version == 2:
        return srgb_v2_profile()
    if version == 4:
        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raise ValueError(f"no sRGB profile of version {version} (2 or 4)")


def _new_object(doc: pymupdf.Document, source: str) -> int:
    xref = doc.get_new_xref()
    doc.update_object(xref, source)
    return xref


@hookimpl
def register_writers() -> list[Writer]:
    return [PdfAWriter()]
