"""Searchable PDF: the original pages with an invisible text layer.

What a person sees stays the original: a PDF source keeps all its pages and
content (the input file is opened read-only and saved elsewhere); an image
source becomes one page per processed page showing the image (JPEG files are
embedded byte for byte when they need no rotation; other pages as the loader
delivered them: the images the pipeline kept from loading, ``result.loaded``, or,
without those, the source decoded again). Over each processed page
goes an invisible text layer (render mode 3) in reading order, one word per
``Tj``, sized so that selecting or searching a word highlights the word's box.

The layer uses :class:`~tair_ocr.writers._glyphless.GlyphlessFont`: every glyph
is empty, ``ADVANCE/1000`` em wide and one em tall. The words of a line share one
baseline and the lines of a block one font size: text extractors (poppler's
``pdftotext``) break a line whose words differ in either into fragments, and a
paragraph whose lines differ in size into blocks. A line's band runs from the
median top to the median bottom of its word boxes; the block's size ``h`` is the
median height of its lines' bands. A word of ``n`` characters and ``w`` pixels
wide is drawn at font size ``h`` with horizontal scaling
``Tz = 100 · w / (n · h · ADVANCE/1000)``, its baseline ``h · |DESCENT|/1000``
above its line band's bottom, so its text box spans the word across and about
the line down (a block of one word: exactly the word box). A space glyph
stretched over the gap to the next word keeps words apart for copy and paste.

Coordinates: word boxes are pixels of the page as displayed (rendered with its
``/Rotate`` and crop box at ``PageResult.dpi``). They map to PDF user space by
scaling to points (``72 / dpi``) and inverting MuPDF's page transform (the one
rendering used), which undoes the rotation and the crop box offset. A page the
orientation filter turned to read it (``PageResult.geometry.rotation``) is shown
turned (its ``/Rotate``), its words mapped into the turned page's pixels first.
A photographed page read corrected (``PageGeometry.perspective``, ``--output-page
corrected``) is shown as read: the photo warped by the recorded homography
(:func:`tair_ocr.perspective.warp_page`), never the source JPEG as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from statistics import median

import pymupdf
from PIL import Image

from tair_ocr.components import LoadedDocument, Writer
from tair_ocr.errors import OutputError
from tair_ocr.existing_text import EXISTING_SOURCES
from tair_ocr.geometry import map_blocks, quarter_turn
from tair_ocr.hookspecs import hookimpl
from tair_ocr.perspective import warp_page
from tair_ocr.results import DocumentResult, PageResult, PerspectiveCorrection, Word
from tair_ocr.writers._glyphless import ADVANCE, DESCENT, GlyphlessFont
from tair_ocr.writers.pdf_content import replace_with_raster, strip_invisible_text

log = logging.getLogger(__name__)

#: Resource name of the invisible font in page resources (a number is added on clashes).
FONT_RESOURCE = "TairOcrGL"


class PdfWriter(Writer):
    """Writes ``<stem>.ocr.pdf``: the source pages plus an invisible, searchable text layer."""

    name = "pdf"
    suffix = ".ocr.pdf"
    description = "searchable PDF: the original pages with an invisible text layer"
    shows_pages = frozenset({"image"})

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write the searchable PDF of ``result`` to ``destination``.

        Raises :class:`~tair_ocr.errors.OutputError` when the source is not a
        PDF or image file (e.g. an in-memory image) or cannot be read.
        """
        source = Path(result.source)
        if result.kind not in ("pdf", "image"):
            raise OutputError(
                f"the pdf output needs a PDF or image source, not a {result.kind!r} document"
            )
        if result.source == "<image>" or not source.is_file():
            raise OutputError(
                f"cannot write a searchable PDF for {result.source}: the source file is needed "
                "to show the original pages (run on a file, or choose another output type)"
            )
        doc = build_searchable_pdf(result)
        try:
            doc.save(destination, garbage=3, deflate=True)
        except (RuntimeError, OSError) as exc:  # MuPDF raises RuntimeError subclasses
            raise OutputError(f"cannot write {destination}: {exc}") from exc
        finally:
            doc.close()


def build_searchable_pdf(result: DocumentResult) -> pymupdf.Document:
    """Return a new in-memory PDF for ``result`` (the caller saves and closes it).

    ``result.kind`` must be ``"pdf"`` or ``"image"`` and ``result.source`` the
    path of that file.
    """
    source = Path(result.source)
    doc = _open_pdf(source) if result.kind == "pdf" else pymupdf.open()
    try:
        if result.kind == "pdf":
            targets = []
            for page_result in sorted(result.pages, key=lambda p: p.index):
                if 0 <= page_result.index < doc.page_count:
                    targets.append((page_result.index, page_result))
                else:
                    log.warning(
                        "%s has no page %d; its text is not written",
                        source,
                        page_result.page_number,
                    )
        else:
            targets = _image_pages(doc, source, result)
        font: GlyphlessFont | None = None
        shared: tuple[int, int] | None = None
        for number, page_result in targets:
            if page_result.width <= 0 or page_result.height <= 0:
                continue
            kept = result.loaded.images.get(number) if result.loaded is not None else None
            if result.kind == "pdf" and not _prepare_existing_text(doc[number], page_result, kept):
                continue  # its own text stays: the page stays exactly as it was
            page_result = _shown_upright(doc[number], page_result)
            if not any(_drawable(w) for w in page_result.words()):
                continue  # nothing to add: the page stays exactly as it was
            if font is None:
                font = GlyphlessFont(doc)
                shared = (_new_stream(doc, b"q\n"), _new_stream(doc, b"Q\n"))
            assert shared is not None
            _add_text_layer(doc, doc[number], page_result, font, shared)
        if font is not None:
            font.finish()
    except BaseException:
        doc.close()
        raise
    return doc


# ---------------------------------------------------------------------- sources


def _open_pdf(source: Path) -> pymupdf.Document:
    try:
        doc = pymupdf.open(source, filetype="pdf")
    except (RuntimeError, ValueError) as exc:
        raise OutputError(f"cannot read the source PDF {source}: {exc}") from exc
    if doc.needs_pass:
        doc.close()
        raise OutputError(f"cannot write a searchable PDF for {source}: it is password-protected")
    return doc


def _image_pages(
    doc: pymupdf.Document, source: Path, result: DocumentResult
) -> list[tuple[int, PageResult]]:
    """Add one page per processed image page, showing the image; return their numbers."""
    kept = result.loaded
    passthrough = _passthrough_jpeg(source, kept.embeddable_jpeg if kept is not None else None)
    images = kept.images if kept is not None else {}
    dpi = next((p.dpi for p in result.pages if p.dpi > 0), 300.0)
    pages: list[tuple[int, PageResult]] = []
    loaded: LoadedDocument | None = None  # opened on first need: opening decodes
    try:
        for page_result in result.pages:
            if page_result.width <= 0 or page_result.height <= 0 or page_result.dpi <= 0:
                log.warning(
                    "%s page %d failed to load; it is left out of the PDF",
                    source,
                    page_result.page_number,
                )
                continue
            scale = 72.0 / page_result.dpi
            page = doc.new_page(width=page_result.width * scale, height=page_result.height * scale)
            corrected = _corrected_photo(page_result)
            if (
                corrected is None
                and passthrough is not None
                and passthrough[0] in (None, (page_result.width, page_result.height))
            ):
                # The JPEG as it is: no decoding, no quality loss, no growth.
                page.insert_image(page.rect, stream=passthrough[1])
            else:
                image = images.get(page_result.index)
                if image is None:  # not kept: decode it again
                    if loaded is None:
                        loaded = _open_image(source, dpi)
                    try:
                        image = next(iter(loaded.pages([page_result.index]))).image
                    except Exception as exc:
                        raise OutputError(
                            f"cannot read page {page_result.page_number} of {source}: {exc}"
                        ) from exc
                if corrected is not None:
                    # A photo read flattened (the perspective filter): shown as read.
                    image = warp_page(image, corrected.homography, corrected.corrected_size)
                page.insert_image(page.rect, pixmap=_pixmap(image))
            pages.append((page.number, page_result))
    finally:
        if loaded is not None:
            loaded.close()
    return pages


def _corrected_photo(page_result: PageResult) -> PerspectiveCorrection | None:
    """The perspective correction of a photographed page whose result is in the
    corrected page's pixels (``--output-page corrected``): the page shows the photo
    warped by it (never the source JPEG as it is). None for other pages."""
    geometry = page_result.geometry
    record = geometry.perspective if geometry is not None else None
    if (
        record is None
        or record.status != "kept"
        or record.shown != "corrected"
        or record.homography is None
        or record.corrected_size is None
    ):
        return None
    return record


def _open_image(source: Path, dpi: float) -> LoadedDocument:
    # The loader normalizes pages exactly as they were read (EXIF rotation,
    # modes, resampling), so the picture matches the word coordinates.
    from tair_ocr.loaders.image import ImageLoader

    try:
        return ImageLoader().open(source, dpi=dpi)
    except Exception as exc:
        raise OutputError(f"cannot read the source image {source}: {exc}") from exc


def _passthrough_jpeg(
    source: Path, embeddable: bool | None
) -> tuple[tuple[int, int] | None, bytes] | None:
    """``(size, bytes)`` of a JPEG source to embed unchanged (size None: it is the
    page's, the loader said so), else None. ``embeddable`` is what the loader said
    (:attr:`~tair_ocr.components.LoadedDocument.embeddable_jpeg`); None: ask the
    file (:func:`_plain_jpeg`)."""
    if embeddable is None:
        return _plain_jpeg(source)
    if not embeddable:
        return None
    try:
        return None, source.read_bytes()
    except OSError as exc:
        raise OutputError(f"cannot read the source image {source}: {exc}") from exc


def _plain_jpeg(source: Path) -> tuple[tuple[int, int], bytes] | None:
    """``(size, bytes)`` of a JPEG that can go into the PDF unchanged, else None.

    That is a single-frame grey or RGB JPEG with no EXIF rotation: CMYK JPEGs
    differ in how viewers invert them, and a rotated one shows differently.
    """
    try:
        with Image.open(source) as image:
            if image.format != "JPEG" or image.mode not in ("L", "RGB"):
                return None
            if getattr(image, "n_frames", 1) != 1:
                return None
            if image.getexif().get(0x0112, 1) != 1:  # 0x0112 = Orientation
                return None
            size = image.size
    except (OSError, ValueError):
        return None
    return size, source.read_bytes()


def _pixmap(image: Image.Image) -> pymupdf.Pixmap:
    """A MuPDF pixmap of a loaded page image (stored losslessly; MuPDF stores
    two-colour greys as 1 bit per pixel)."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    colorspace = pymupdf.csGRAY if image.mode == "L" else pymupdf.csRGB
    return pymupdf.Pixmap(colorspace, image.width, image.height, image.tobytes(), 0)


# ---------------------------------------------------------------------- text layer


def _shown_upright(page: pymupdf.Page, page_result: PageResult) -> PageResult:
    """Show ``page`` turned as the orientation filter turned it to read it
    (``PageResult.geometry.rotation``, clockwise, added to the page's ``/Rotate``, as
    OCRmyPDF's ``--rotate-pages`` does; the page's content is untouched), and return
    ``page_result`` in pixels of the page as it is now displayed: the text layer then
    maps through the turned page's transform and runs along the upright lines."""
    rotation = page_result.geometry.rotation % 360 if page_result.geometry is not None else 0
    if not rotation:
        return page_result
    page.set_rotation((page.rotation + rotation) % 360)
    w, h = page_result.width, page_result.height
    blocks = map_blocks(page_result.blocks, quarter_turn(rotation, w, h))
    size = {"width": h, "height": w} if rotation in (90, 270) else {}
    return page_result.model_copy(update={"blocks": blocks, **size})


def _drawable(word: Word) -> bool:
    # The page's own words (born-digital text) are in the PDF already.
    return (
        bool(word.text.strip())
        and word.bbox.width > 0
        and word.bbox.height > 0
        and word.source not in EXISTING_SOURCES
    )


def _prepare_existing_text(
    page: pymupdf.Page, page_result: PageResult, image: Image.Image | None
) -> bool:
    """Apply the page's existing-text action (:mod:`tair_ocr.existing_text`) to a
    page of the source PDF (``image``: its rendering as loaded, if kept); False
    when the page passes through untouched."""
    record = page_result.existing_text
    action = record.action if record is not None else "ocr"
    if action == "skip":
        return False
    if action == "redo":
        strip_invisible_text(page.parent, page)  # the new layer replaces the old
    elif action == "force":
        if image is None:  # not kept: render it again, as the loader did
            zoom = page_result.dpi / 72.0 if page_result.dpi > 0 else 300 / 72.0
            pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB)
        else:
            pixmap = _pixmap(image)
        replace_with_raster(page, pixmap)
    return True


def _pixels_to_user(page: pymupdf.Page, page_result: PageResult) -> pymupdf.Matrix:
    """The matrix from page pixels (as displayed, at the result's DPI) to PDF user space."""
    rect = page.rect
    if page_result.dpi > 0:
        sx = sy = 72.0 / page_result.dpi
        # A result whose size does not fit the page (another loader, other rounding)
        # is stretched onto the page rather than placed off it.
        if abs(page_result.width * sx - rect.width) > max(2 * sx, 0.01 * rect.width) or abs(
            page_result.height * sy - rect.height
        ) > max(2 * sy, 0.01 * rect.height):
            log.warning(
                "page %d: %dx%d px at %g dpi does not match the page size %.1fx%.1f pt; "
                "scaling the text to the page",
                page_result.page_number,
                page_result.width,
                page_result.height,
                page_result.dpi,
                rect.width,
                rect.height,
            )
            sx, sy = rect.width / page_result.width, rect.height / page_result.height
    else:
        sx, sy = rect.width / page_result.width, rect.height / page_result.height
    return pymupdf.Matrix(sx, 0, 0, sy, 0, 0) * ~_page_transform(page)


def _page_transform(page: pymupdf.Page) -> pymupdf.Matrix:
    """MuPDF's transform from PDF user space to the displayed page in points:
    rotation applied, crop box moved to the origin, y pointing down. It is the
    transform rendering uses, so it matches the pixels the words were read on."""
    mupdf = pymupdf.mupdf
    pdf_page = page.this
    if not isinstance(pdf_page, mupdf.PdfPage):
        pdf_page = mupdf.pdf_page_from_fz_page(pdf_page)
    ctm = mupdf.FzMatrix()
    mupdf.pdf_page_transform(pdf_page, mupdf.FzRect(), ctm)
    return pymupdf.Matrix(ctm.a, ctm.b, ctm.c, ctm.d, ctm.e, ctm.f)


def _num(value: float) -> str:
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def text_layer_content(
    page_result: PageResult, to_user: pymupdf.Matrix, font: GlyphlessFont, font_name: str
) -> bytes:
    """The content stream drawing ``page_result``'s words invisibly.

    ``to_user`` maps page pixels to PDF user space; ``font_name`` is the
    resource name of ``font`` on the page.
    """
    space = font.encode(" ").hex()
    advance = ADVANCE / 1000
    a, b, c, d, e, f = to_user
    # The text matrix is [1 0 0 -1 x baseline] · to_user (text space has y up);
    # its linear part is the same for every word.
    linear = f"{_num(a)} {_num(b)} {_num(-c)} {_num(-d)}"
    ops = ["q", "BT", "3 Tr"]
    for block in page_result.blocks:
        lines = [[w for w in line.words if _drawable(w)] for line in block.lines]
        lines = [words for words in lines if words]
        if not lines:
            continue
        # One baseline per line and one size per block, so extractors keep lines
        # and paragraphs whole.
        bands = [_line_band(words) for words in lines]
        size = median(bottom - top for top, bottom in bands)
        ops.append(f"/{font_name} {_num(size)} Tf")
        for words, (_top, bottom) in zip(lines, bands, strict=True):
            baseline = bottom + DESCENT / 1000 * size
            for position, word in enumerate(words):
                box = word.bbox
                text = word.text.strip()
                scale = 100 * box.width / (len(text) * advance * size)
                x = box.x0 * a + baseline * c + e
                y = box.x0 * b + baseline * d + f
                ops.append(f"{_num(scale)} Tz {linear} {_num(x)} {_num(y)} Tm")
                ops.append(f"<{font.encode(text).hex()}> Tj")
                if position + 1 < len(words):
                    gap = max(words[position + 1].bbox.x0 - box.x1, 0.01 * size)
                    ops.append(f"{_num(100 * gap / (advance * size))} Tz <{space}> Tj")
    ops += ["ET", "Q", ""]
    return "\n".join(ops).encode("ascii")


def _line_band(words: list[Word]) -> tuple[float, float]:
    """The top and bottom (page pixels) of a line's words: the medians of the word
    boxes' tops and bottoms, so an outlier box (a tall digit, a descender, a skewed
    line's ends) moves no other word. The band is never empty: each box's bottom
    lies below its own top, so the median bottom lies below the median top."""
    return median(w.bbox.y0 for w in words), median(w.bbox.y1 for w in words)


def _add_text_layer(
    doc: pymupdf.Document,
    page: pymupdf.Page,
    page_result: PageResult,
    font: GlyphlessFont,
    shared: tuple[int, int],
) -> None:
    font_name = _add_font_resource(doc, page, font.xref)
    content = text_layer_content(page_result, _pixels_to_user(page, page_result), font, font_name)
    layer = _new_stream(doc, content)
    # Wrap the existing content in q/Q so a graphics state it leaves changed
    # (a scaled CTM, a clip) cannot move the text layer drawn after it.
    q, big_q = shared
    contents = [q, *page.get_contents(), big_q, layer]
    doc.xref_set_key(page.xref, "Contents", "[" + " ".join(f"{x} 0 R" for x in contents) + "]")


def _new_stream(doc: pymupdf.Document, data: bytes) -> int:
    xref = doc.get_new_xref()
    doc.update_object(xref, "<<>>")
    doc.update_stream(xref, data, compress=True)
    return xref


def _add_font_resource(doc: pymupdf.Document, page: pymupdf.Page, font_xref: int) -> str:
    """Put the font in the page's font resources and return its resource name."""
    kind, value = doc.xref_get_key(page.xref, "Resources")
    if kind == "null":
        # Inherited resources: copy the reference (or dictionary) onto the page.
        kind, value = _inherited(doc, page.xref, "Resources")
        doc.xref_set_key(page.xref, "Resources", value if kind != "null" else "<<>>")
        kind, value = doc.xref_get_key(page.xref, "Resources")
    if kind == "xref":
        owner, prefix = int(value.split()[0]), ""
    else:
        owner, prefix = page.xref, "Resources/"
    fonts_kind, fonts_value = doc.xref_get_key(owner, prefix + "Font")
    if fonts_kind == "xref":
        owner, prefix = int(fonts_value.split()[0]), ""
    elif fonts_kind == "dict":
        prefix += "Font/"
    else:
        doc.xref_set_key(owner, prefix + "Font", "<<>>")
        prefix += "Font/"
    name, number = FONT_RESOURCE, 0
    while True:
        existing = doc.xref_get_key(owner, prefix + name)
        if existing[0] == "null" or existing[1] == f"{font_xref} 0 R":
            break
        number += 1
        name = f"{FONT_RESOURCE}{number}"
    doc.xref_set_key(owner, prefix + name, f"{font_xref} 0 R")
    return name


def _inherited(doc: pymupdf.Document, xref: int, key: str) -> tuple[str, str]:
    """The value of an inheritable page attribute from the page tree above ``xref``."""
    seen = {xref}
    while True:
        kind, parent = doc.xref_get_key(xref, "Parent")
        if kind != "xref":
            return "null", "null"
        xref = int(parent.split()[0])
        if xref in seen:  # a cyclic page tree; give up rather than loop
            return "null", "null"
        seen.add(xref)
        found = doc.xref_get_key(xref, key)
        if found[0] != "null":
            return found


@hookimpl
def register_writers() -> list[Writer]:
    return [PdfWriter()]
