"""Text a page already has, and what to do with it.

PDF pages can carry text before tair-ocr sees them: real, *born-digital* text
(drawn visibly from fonts: a word-processor export, a typed form field) or an
invisible *OCR layer* (text drawn in render mode 3 over a scan: tair-ocr's own
output, OCRmyPDF's, a scanner's). OCR over such a page without looking would
give it a second text layer for the same words, which search, copy and
``pdftotext`` then show twice. The PDF loader therefore reports, per page, the
:class:`ExistingText` it found, and :func:`page_action` decides, from the run's
mode (``Settings.existing_text``), what happens to the page:

=========  ==================================================================
``ocr``    the page has no text: read it as usual
``skip``   the page passes through untouched; its words are taken from the
           PDF (text outputs stay complete); no OCR
``redo``   invisible OCR layers are dropped, born-digital text is kept, the
           page is read and only words outside the born-digital text are added
``force``  the page is rasterised and read whole: the output shows the raster
           (born-digital text becomes pixels) with one new text layer
=========  ==================================================================

Modes (``--existing-text``, or OCRmyPDF's ``--skip-text``, ``--redo-ocr``,
``--force-ocr``): ``skip``, ``redo`` and ``force`` apply their action to every
page that has text; ``auto`` (the default) keeps born-digital pages as they are
(``skip``: text that came out of a font is exact, OCR could only make it
worse) and redoes the others: a page with an OCR layer gets a new one in its
place, a scan with some born-digital text (a stamped header, a form's typed
fields) gets OCR where the typed text is not. No page ends with two text layers
for the same words, and born-digital text is never lost unless ``force`` asks
for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tair_ocr.results import BBox, Word

__all__ = [
    "EXISTING_SOURCES",
    "EXISTING_TEXT_MODES",
    "FROM_PDF_OCR_LAYER",
    "FROM_PDF_TEXT",
    "ExistingText",
    "PageAction",
    "outside_text",
    "page_action",
]

#: Values of ``Settings.existing_text``.
EXISTING_TEXT_MODES = ("auto", "skip", "redo", "force")
#: ``Word.source`` of born-digital words taken from the PDF.
FROM_PDF_TEXT = "pdf-text"
#: ``Word.source`` of words taken from an existing invisible OCR layer.
FROM_PDF_OCR_LAYER = "pdf-ocr-layer"
#: The sources of a page's own words.
EXISTING_SOURCES = frozenset({FROM_PDF_TEXT, FROM_PDF_OCR_LAYER})
#: In ``auto``, a page whose images cover at least this share of it is a scan, even
#: with some born-digital text on it.
SCAN_IMAGE_SHARE = 0.5

PageAction = Literal["ocr", "skip", "redo", "force"]


@dataclass(frozen=True)
class ExistingText:
    """The text a PDF page already has, in pixels of the page as rendered."""

    #: Every word the page draws, visible ones with ``source`` :data:`FROM_PDF_TEXT`,
    #: invisible ones (an OCR layer) with :data:`FROM_PDF_OCR_LAYER`; confidence 1.
    words: list[Word] = field(default_factory=list)
    #: Share of the page covered by raster images (0 to 1).
    image_share: float = 0.0

    @property
    def visible(self) -> list[Word]:
        """The born-digital words."""
        return [w for w in self.words if w.source == FROM_PDF_TEXT]

    @property
    def invisible(self) -> list[Word]:
        """The words of invisible (OCR) layers."""
        return [w for w in self.words if w.source == FROM_PDF_OCR_LAYER]

    @property
    def kind(self) -> Literal["none", "born-digital", "ocr-layer", "mixed"]:
        """``none``, ``born-digital`` (visible text only), ``ocr-layer`` (invisible
        text only) or ``mixed`` (both)."""
        visible, invisible = bool(self.visible), bool(self.invisible)
        if visible and invisible:
            return "mixed"
        if visible:
            return "born-digital"
        return "ocr-layer" if invisible else "none"


def page_action(existing: ExistingText | None, mode: str) -> PageAction:
    """What to do with a page that has ``existing`` text, in ``mode`` (see the
    module docstring). Pages without text (or not from a PDF) are read: ``ocr``."""
    if mode not in EXISTING_TEXT_MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(EXISTING_TEXT_MODES)}")
    if existing is None or existing.kind == "none":
        return "ocr"
    if mode != "auto":
        return mode  # type: ignore[return-value]
    if existing.kind == "born-digital" and existing.image_share < SCAN_IMAGE_SHARE:
        return "skip"
    return "redo"


def outside_text(words: list[Word], text: list[Word], *, pad: float = 0.15) -> list[Word]:
    """The ``words`` that do not repeat ``text`` (born-digital words): a word is
    dropped where its centre lies in a text word's box (grown by ``pad`` of its
    height), or where it covers a text word's centre (an OCR word spanning two
    typed words)."""
    if not text:
        return list(words)
    grown = [
        BBox(
            x0=t.bbox.x0 - pad * t.bbox.height,
            y0=t.bbox.y0 - pad * t.bbox.height,
            x1=t.bbox.x1 + pad * t.bbox.height,
            y1=t.bbox.y1 + pad * t.bbox.height,
        )
        for t in text
    ]
    centres = [t.bbox.center for t in text]
    kept = []
    for word in words:
        cx, cy = word.bbox.center
        if any(g.x0 <= cx <= g.x1 and g.y0 <= cy <= g.y1 for g in grown):
            continue
        b = word.bbox
        if any(b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1 for x, y in centres):
            continue
        kept.append(word)
    return kept
