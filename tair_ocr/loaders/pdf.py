"""The built-in PDF loader: pages rasterised with PyMuPDF (MuPDF).

* Each page is rendered at the requested DPI to 8-bit RGB without alpha (on white),
  annotations included, **as a viewer shows it**: the page's ``/Rotate`` is applied
  and its crop box is the page. ``Page.dpi`` is the DPI rendered at and is trusted.
* **Size limit.** A page that would exceed :data:`MAX_PAGE_PIXELS` (64 Mpx, shared
  with the image loader) at the requested DPI is rendered at the highest DPI that
  fits, with a warning; ``Page.dpi`` is then that DPI. A page that would need less
  than :data:`MIN_RENDER_DPI` to fit (a page kilometres wide) fails with an
  :class:`~tair_ocr.errors.InputError`: nothing on it would be legible.
* **Errors**, one line each, naming the file: a file that MuPDF cannot open, or that
  it opens only by repairing it and then finds no pages in, raises
  :class:`~tair_ocr.errors.CorruptInputError`; a PDF that needs a user password raises
  :class:`~tair_ocr.errors.EncryptedInputError` (a PDF with only an owner password
  opens normally); a valid PDF without pages raises
  :class:`~tair_ocr.errors.EmptyInputError`. A page that fails to render raises from
  ``pages()`` for that page only.
* **MuPDF's messages** are not printed to stderr. Those raised while rendering a page
  become one warning on that page; a file MuPDF had to repair gets a warning on the
  first page loaded.

Pages are rendered one at a time, when ``pages()`` reaches them; opening a document
reads only its structure (page count), never page content.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tair_ocr.components import LoadedDocument, Loader
from tair_ocr.errors import CorruptInputError, EmptyInputError, EncryptedInputError, InputError
from tair_ocr.existing_text import FROM_PDF_OCR_LAYER, FROM_PDF_TEXT, ExistingText
from tair_ocr.hookspecs import hookimpl
from tair_ocr.loaders.image import MAX_PAGE_PIXELS
from tair_ocr.page import Page
from tair_ocr.results import BBox, Word

log = logging.getLogger(__name__)

#: Below this DPI a page is refused rather than rendered (text would be illegible).
MIN_RENDER_DPI = 10.0
#: PDF user-space units per inch.
_POINTS_PER_INCH = 72.0


def is_pdf(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a PDF (``%PDF-`` near the start;
    readers tolerate a few bytes of junk before it)."""
    return b"%PDF-" in head[:1024]


class PdfLoader(Loader):
    """PDF files, rasterised page by page with PyMuPDF."""

    name = "pdf"
    description = "PDF documents, rasterised page by page with PyMuPDF"

    def accepts(self, path: Path, head: bytes) -> bool:
        return is_pdf(head)

    def open(self, path: Path, *, dpi: float) -> LoadedDocument:
        return PdfDocument(Path(path), dpi=dpi)


class PdfDocument(LoadedDocument):
    """An opened PDF. Pages are rendered lazily, one per ``next()``."""

    kind = "pdf"

    def __init__(self, path: Path, *, dpi: float) -> None:
        import pymupdf

        if not (math.isfinite(dpi) and dpi > 0):
            raise ValueError(f"dpi must be a positive number, not {dpi!r}")
        _quiet_mupdf()
        self.path = path
        self.dpi = float(dpi)
        self._repair_reported = False
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        _mupdf_messages()  # drop what earlier, unrelated calls left behind
        try:
            self._doc = pymupdf.open(path, filetype="pdf")
        except MemoryError:
            raise
        except Exception as exc:
            raise CorruptInputError(
                f"{path}: damaged or truncated PDF, cannot be opened ({_why(exc)})"
            ) from exc
        try:
            self._check()
        except BaseException:
            self._doc.close()
            raise
        self.page_count: int = self._doc.page_count

    def _check(self) -> None:
        doc, path = self._doc, self.path
        if doc.needs_pass:
            raise EncryptedInputError(
                f"{path}: the PDF is encrypted and needs a password to open",
                hint="decrypt it first, e.g. qpdf --decrypt --password=... in.pdf out.pdf",
            )
        self._repaired = bool(doc.is_repaired)
        messages = _mupdf_messages()
        if self._repaired:
            log.debug("%s: MuPDF repaired the file: %s", path, "; ".join(messages))
        if doc.page_count == 0:
            if self._repaired:
                raise CorruptInputError(
                    f"{path}: damaged or truncated PDF, no pages could be recovered"
                    + (f" ({messages[0]})" if messages else "")
                )
            raise EmptyInputError(f"{path}: the PDF has no pages")

    def pages(self, indices: list[int]) -> Iterator[Page]:
        for index in indices:
            if not 0 <= index < self.page_count:
                raise IndexError(f"{self.path}: no page {index + 1} (it has {self.page_count})")
            yield self._render(index)

    def _render(self, index: int) -> Page:
        import pymupdf

        label = f"{self.path}, page {index + 1}"
        warnings: list[str] = []
        _mupdf_messages()
        try:
            page = self._doc.load_page(index)
            if _missing(self._doc, page.xref):
                # MuPDF would render a blank Letter page in its place.
                raise CorruptInputError(
                    f"{label}: the page is missing from the file (damaged or truncated PDF)"
                )
            # page.rect is the crop box as displayed: rotation already applied.
            width_in = page.rect.width / _POINTS_PER_INCH
            height_in = page.rect.height / _POINTS_PER_INCH
            dpi = _fit_dpi(label, self.dpi, width_in, height_in, warnings)
            zoom = dpi / _POINTS_PER_INCH
            pixmap = page.get_pixmap(
                matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False
            )
            image = Image.frombytes(
                "RGB", (pixmap.width, pixmap.height), pixmap.samples_mv, "raw", "RGB", pixmap.stride
            )
            del pixmap  # free MuPDF's copy before the page is handed on
            existing = existing_text(page, zoom)
        except (InputError, MemoryError):
            raise
        except Exception as exc:
            raise CorruptInputError(f"{label}: cannot be rendered ({_why(exc)})") from exc
        messages = _mupdf_messages()
        if messages:
            more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
            warnings.append(f"MuPDF reported a problem while rendering: {messages[0]}{more}")
        if self._repaired and not self._repair_reported:  # said once, on the first page read
            self._repair_reported = True
            warnings.insert(0, "the PDF is damaged; MuPDF repaired it, some content may be missing")
        return Page(
            source=self.path,
            index=index,
            image=image,
            dpi=dpi,
            dpi_trusted=True,
            original_size=image.size,
            warnings=warnings,
            existing_text=existing,
        )

    def close(self) -> None:
        if not self._doc.is_closed:
            self._doc.close()


@hookimpl
def register_loaders() -> list[Loader]:
    return [PdfLoader()]


# ---------------------------------------------------------------------- helpers


def existing_text(page: Any, zoom: float) -> ExistingText | None:
    """The text ``page`` (a PyMuPDF page) already draws, in pixels of the page
    rendered at ``zoom`` (pixels per point): None when it draws none.

    A word belongs to an invisible layer (render mode 3 or fully transparent: how
    OCR layers are drawn) when an invisibly drawn glyph starts inside it and no
    visible one does; every other word is born-digital (text MuPDF extracts but
    does not trace, such as some annotation appearances, counts as shown)."""
    import pymupdf

    raw = page.get_text("words")
    if not raw:
        return None
    shown: list[tuple[float, float]] = []
    hidden: list[tuple[float, float]] = []
    for span in page.get_texttrace():
        # type 3: invisible text (render mode 3); opacity 0 draws nothing either.
        invisible = span.get("type") == 3 or span.get("opacity", 1.0) <= 0
        (hidden if invisible else shown).extend(char[2] for char in span.get("chars", ()))
    shown_points = np.asarray(shown, dtype=np.float64).reshape(-1, 2)
    hidden_points = np.asarray(hidden, dtype=np.float64).reshape(-1, 2)

    def starts_in(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
        return bool(
            (
                (points[:, 0] >= x0 - 0.5)
                & (points[:, 0] <= x1 + 0.5)
                & (points[:, 1] >= y0 - 0.5)
                & (points[:, 1] <= y1 + 0.5)
            ).any()
        )

    to_pixels = page.rotation_matrix * pymupdf.Matrix(zoom, zoom)
    words = []
    for x0, y0, x1, y1, text, *_ in raw:
        if not text.strip():
            continue
        layer = starts_in(hidden_points, x0, y0, x1, y1) and not starts_in(
            shown_points, x0, y0, x1, y1
        )
        box = pymupdf.Rect(x0, y0, x1, y1) * to_pixels
        words.append(
            Word(
                text=text,
                confidence=1.0,
                bbox=BBox(x0=box.x0, y0=box.y0, x1=box.x1, y1=box.y1),
                source=FROM_PDF_OCR_LAYER if layer else FROM_PDF_TEXT,
            )
        )
    area = abs(page.rect.width * page.rect.height) or 1.0
    covered = 0.0
    for info in page.get_image_info():
        rect = pymupdf.Rect(info["bbox"]) * page.rotation_matrix & page.rect
        covered += 0.0 if rect.is_empty else rect.width * rect.height
    return ExistingText(words=words, image_share=min(1.0, covered / area))


def _fit_dpi(
    label: str, dpi: float, width_in: float, height_in: float, warnings: list[str]
) -> float:
    """``dpi``, or the highest DPI at which the page fits :data:`MAX_PAGE_PIXELS`."""
    if not (width_in > 0 and height_in > 0 and math.isfinite(width_in * height_in)):
        raise CorruptInputError(f"{label}: invalid page size ({width_in}×{height_in} in)")
    pixels = width_in * height_in * dpi * dpi
    if pixels <= MAX_PAGE_PIXELS:
        return dpi
    # MuPDF rounds the pixmap outwards, by up to 2 pixels a side: solve
    # (w·dpi + 2)(h·dpi + 2) = limit for dpi.
    area, half_perimeter = width_in * height_in, width_in + height_in
    fitted = (
        -2 * half_perimeter + math.sqrt(4 * half_perimeter**2 - 4 * area * (4 - MAX_PAGE_PIXELS))
    ) / (2 * area)
    size = f"{width_in:.4g}×{height_in:.4g} in"
    if fitted < MIN_RENDER_DPI:
        raise InputError(
            f"{label}: page is {size}, too large to render: it would fit the "
            f"{MAX_PAGE_PIXELS / 1e6:.3g} Mpx page limit only below {MIN_RENDER_DPI:g} dpi"
        )
    warnings.append(
        f"page is {size}; rendered at {fitted:.0f} dpi instead of {dpi:g} dpi "
        f"to stay within the {MAX_PAGE_PIXELS / 1e6:.3g} Mpx page limit"
    )
    return fitted


def _missing(doc: object, xref: int) -> bool:
    """Whether the page object ``xref`` is absent from the file (e.g. truncated away)."""
    try:
        return not 0 < xref < doc.xref_length() or doc.xref_object(xref, compressed=True) == "null"  # type: ignore[attr-defined]
    except Exception:
        return True


def _quiet_mupdf() -> None:
    """Keep MuPDF from printing to stderr; its messages are collected instead."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)


def _mupdf_messages() -> list[str]:
    """MuPDF's warnings and errors since the last call (distinct, in order)."""
    import pymupdf

    text = pymupdf.TOOLS.mupdf_warnings(reset=True) or ""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def _why(exc: BaseException) -> str:
    """One line from a MuPDF exception, preferring MuPDF's own last message."""
    messages = _mupdf_messages()
    text = " ".join(str(exc).split()) or type(exc).__name__
    if messages and ("Failed to open" in text or not text):
        text = messages[0]
    return text if len(text) <= 160 else text[:157] + "..."
