"""The result data model: Word → Line → Block → PageResult → DocumentResult.

All coordinates are pixels of the page *as loaded* (the original page raster at
the load DPI, after EXIF orientation), origin top-left, x to the right, y down.
Working-scale and restoration transforms are undone before words land here, so
writers can place text on the original page with ``points = pixels * 72 / dpi``.

The JSON output is :meth:`DocumentResult.model_dump_json`; it loads back with
:meth:`DocumentResult.model_validate_json` (round-trip is tested).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

if TYPE_CHECKING:
    from PIL import Image

#: Version of the JSON schema; bumped on incompatible changes.
SCHEMA_VERSION = 1

Point = tuple[float, float]


class BBox(BaseModel):
    """Axis-aligned box in page pixels; ``x1``/``y1`` are the right/bottom edges."""

    model_config = ConfigDict(frozen=True)

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> Point:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    def intersection(self, other: BBox) -> float:
        """Area of the overlap with ``other`` (0 when they do not touch)."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return w * h if w > 0 and h > 0 else 0.0

    def iou(self, other: BBox) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def centre_in(self, boxes: Sequence[BBox]) -> bool:
        """Does the centre of this box lie in one of ``boxes`` (edges included)?"""
        cx, cy = self.center
        return any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in boxes)

    def union(self, other: BBox) -> BBox:
        return BBox(
            x0=min(self.x0, other.x0),
            y0=min(self.y0, other.y0),
            x1=max(self.x1, other.x1),
            y1=max(self.y1, other.y1),
        )

    @classmethod
    def enclosing(cls, boxes: Sequence[BBox]) -> BBox:
        """The smallest box holding all ``boxes`` (which must not be empty)."""
        if not boxes:
            raise ValueError("enclosing() needs at least one box")
        return cls(
            x0=min(b.x0 for b in boxes),
            y0=min(b.y0 for b in boxes),
            x1=max(b.x1 for b in boxes),
            y1=max(b.y1 for b in boxes),
        )

    @classmethod
    def from_points(cls, points: Sequence[Point]) -> BBox:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        return cls(x0=min(xs), y0=min(ys), x1=max(xs), y1=max(ys))


Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class Alternative(BaseModel):
    """A competing reading of a word that lost in fusion, kept for provenance."""

    text: str
    confidence: Confidence
    source: str


class Word(BaseModel):
    """One recognized word.

    ``source`` says which reading produced it: an engine name (``"tesseract"``),
    a spotter (``"spotter:terediff"``) or ``"fused"`` with the winners and
    losers in ``alternatives``.
    """

    text: str
    confidence: Confidence
    bbox: BBox
    #: Polygon in page pixels when the producer gives one (spotters, rotated text).
    polygon: list[Point] | None = None
    source: str
    #: Ids that group words into lines and blocks as the producer saw them.
    line_id: int | None = None
    block_id: int | None = None
    alternatives: list[Alternative] = Field(default_factory=list)
    #: Markers such as ``"uncertain"`` or ``"kept-original"`` set by fusion.
    flags: list[str] = Field(default_factory=list)
    #: The engine's own score (0-1) when ``confidence`` was calibrated from it
    #: (:mod:`tair_ocr.calibration`); None when ``confidence`` is the raw score.
    raw_confidence: Confidence | None = None

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp(cls, value: float) -> float:
        # Engines report 0-1 scores with float noise (1.0000001); clamp, don't fail.
        return min(1.0, max(0.0, float(value)))


def mean_confidence(words: Sequence[Word]) -> float:
    """Mean confidence of ``words`` (0 for none): how sure a reading is of itself."""
    return sum(w.confidence for w in words) / len(words) if words else 0.0


class Line(BaseModel):
    """Words on one text line, in reading order."""

    bbox: BBox
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


class Block(BaseModel):
    """A block (paragraph/column region) of lines, in reading order."""

    bbox: BBox
    lines: list[Line]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class MotionBlurCorrection(BaseModel):
    """The linear motion blur (camera shake) found on a page, and whether the page was
    read deconvolved (see :mod:`tair_ocr.motion_blur`)."""

    #: Length of the motion in pixels of the page as read, and its direction in
    #: degrees counter-clockwise from the x axis.
    length: float
    angle: float
    #: How clearly the page's spectrum shows it (a robust z-score: found from 60, or
    #: from 20 where the page's edges are clearly flattened along the motion).
    strength: float
    #: ``kept`` (the page was read deconvolved), ``rejected`` (the page as loaded
    #: reads better: it was read as loaded) or ``failed`` (deconvolving or reading
    #: it failed, see the page's warnings: read as loaded).
    status: str
    #: Why, in words (the guard's counts).
    reason: str = ""
    #: The guard's scores, as for the perspective correction
    #: (:attr:`PerspectiveCorrection.scores`; "corrected" is the deconvolved page).
    scores: dict[str, float] = Field(default_factory=dict)


class RestorationDecision(BaseModel):
    """What the *decide* step chose for one page, and why (read first, restore
    only where the reading is unsure)."""

    #: ``auto`` (decided from the first reading), ``always`` or ``never``.
    mode: str
    #: Tiles of the working-scale grid the decision looked at (blank ones excluded).
    tiles_considered: int = 0
    #: Tiles sent to the restorer.
    tiles_restored: int = 0
    #: Why regions were chosen: reason -> number of unsure spots (words or ink)
    #: (``low_confidence``, ``unread_ink``, ``small_text``, ``always``).
    reasons: dict[str, int] = Field(default_factory=dict)
    #: The regions restored and re-read, in page pixels.
    regions: list[BBox] = Field(default_factory=list)
    #: Engines that re-read the regions enlarged by resampling (text too small for
    #: them, and no restored output they read better) -> the factor.
    enlarged: dict[str, float] = Field(default_factory=dict)
    #: The camera shake found on the page and whether the page was read
    #: deconvolved (None: no motion blur found).
    deblurred: MotionBlurCorrection | None = None


class ExistingTextRecord(BaseModel):
    """The text a page had before OCR and what was done with it (see
    :mod:`tair_ocr.existing_text`)."""

    #: ``none``, ``born-digital``, ``ocr-layer`` or ``mixed``.
    found: str
    #: ``ocr``, ``skip``, ``redo`` or ``force``.
    action: str
    #: Words the page's own text has (born-digital and OCR layers).
    words: int = 0
    #: Words of the page's own text kept in the output (born-digital text).
    kept: int = 0
    #: OCR words left out because the page's born-digital text has them already.
    duplicates_dropped: int = 0


class PerspectiveCorrection(BaseModel):
    """What the ``perspective`` filter found on a photographed page and whether the
    correction was kept (see :mod:`tair_ocr.filters.perspective`)."""

    #: ``kept`` (the page was read corrected), ``rejected`` (the guard found the photo
    #: as loaded reads better: it was read as loaded), ``not-found`` (no plausible
    #: page outline: scans, clean pages, close-ups).
    status: str
    #: Why, in words (what the outline search or the guard found).
    reason: str = ""
    #: The page outline in photo pixels: top-left, top-right, bottom-right,
    #: bottom-left (None when none was found).
    quad: list[Point] | None = None
    #: Size of the photo as loaded and of the corrected page, in pixels.
    photo_size: tuple[int, int] | None = None
    corrected_size: tuple[int, int] | None = None
    #: 3×3 homography (rows) from corrected-page pixels to photo pixels, edge
    #: coordinates: ``(x, y, 1) ~ H (u, v, 1)``.
    homography: list[list[float]] | None = None
    #: The page the result's coordinates (and the searchable PDF) are in when the
    #: correction is kept: ``corrected`` or ``original`` (the photo).
    shown: str = "original"
    #: The guard's scores: ``corrected_sure``/``photo_sure`` (words with calibrated
    #: confidence of at least 0.5) and ``corrected_confidence``/``photo_confidence``
    #: (the sum of their confidences); empty when the guard did not run.
    scores: dict[str, float] = Field(default_factory=dict)


class PageGeometry(BaseModel):
    """What the page geometry filters (``orientation``, ``deskew``) found on a page
    and did to it. Word boxes stay in pixels of the page as loaded whatever was done;
    ``rotation`` says how the page was turned to be read (the searchable PDF shows it
    turned so)."""

    #: Clockwise degrees (0, 90, 180 or 270) the page as loaded was turned to read
    #: it upright.
    rotation: int = 0
    #: How the orientation was decided: ``upright`` (the text-line check found the
    #: page upright; OSD not asked), ``osd`` (tesseract's OSD, confident),
    #: ``osd+lines`` (OSD and the text-line check agree), ``lines`` (the text-line
    #: check, sure by a wide margin, where OSD found too few letters or disagreed),
    #: ``read`` (a few text lines read both ways up: one way read clearly better),
    #: ``unsure`` (not turned: no confident answer), ``no-osd`` (OSD unavailable:
    #: not turned), ``no-text`` (nothing to measure); None when the orientation
    #: filter did not run.
    orientation: str | None = None
    #: The turn tesseract's OSD proposed and its orientation confidence (None when
    #: OSD did not run or gave no answer).
    osd_rotation: int | None = None
    osd_confidence: float | None = None
    #: The turn the text-line check proposed and its ascender balance (0-1: how
    #: clearly the lines show which way up they are); None when not measured.
    lines_rotation: int | None = None
    lines_confidence: float | None = None
    #: The turn whose reading of a few text lines was best (the reading check, run
    #: where the line check and OSD were unsure), the characters read confidently
    #: that way and the most read any other way; None when it did not run.
    read_rotation: int | None = None
    read_chars: int | None = None
    read_other_chars: int | None = None
    #: Skew of the text lines on the upright page, in degrees, counter-clockwise
    #: positive (a line rising to the right is positive), and the confidence of the
    #: estimate (0-1); None when the deskew filter did not measure it.
    skew: float | None = None
    skew_confidence: float | None = None
    #: Degrees of skew removed: the page was rotated by ``-skew_corrected`` to level
    #: its lines before it was read (0 when it was not).
    skew_corrected: float = 0.0
    #: What the ``perspective`` filter found and did (photographed pages); None when
    #: it did not run.
    perspective: PerspectiveCorrection | None = None

    def counters(self) -> dict[str, int]:
        """What it adds to ``PageResult.counters``: ``rotated``, ``deskewed`` and
        ``perspective_corrected`` (1 when the page was turned, levelled or read
        corrected)."""
        counts = {}
        if self.rotation:
            counts["rotated"] = 1
        if self.skew_corrected:
            counts["deskewed"] = 1
        if self.perspective is not None and self.perspective.status == "kept":
            counts["perspective_corrected"] = 1
        return counts


class PageError(BaseModel):
    """Why a page failed. The page is kept in the result with no words."""

    kind: str
    message: str


class PageResult(BaseModel):
    """Everything tair-ocr learned about one page."""

    #: 0-based index of the page in its source document.
    index: int
    width: int
    height: int
    dpi: float
    blocks: list[Block] = Field(default_factory=list)
    #: Seconds spent per stage (``load``, ``restore``, ``ocr``, ...).
    timings: dict[str, float] = Field(default_factory=dict)
    #: Counters (``tiles_total``, ``tiles_skipped``, ...).
    counters: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    error: PageError | None = None
    engine: str | None = None
    restorer: str | None = None
    #: Working scale the page was restored/read at (1.0 = as loaded).
    scale: float = 1.0
    restored_image: str | None = None
    #: The restoration decision (None when no restorer is selected).
    decision: RestorationDecision | None = None
    #: The text the page already had and what was done with it (PDF pages with
    #: text; None otherwise).
    existing_text: ExistingTextRecord | None = None
    #: What the page geometry filters found and did (orientation, deskew); None
    #: when none ran.
    geometry: PageGeometry | None = None

    @property
    def page_number(self) -> int:
        return self.index + 1

    @property
    def ok(self) -> bool:
        return self.error is None

    def words(self) -> Iterator[Word]:
        for block in self.blocks:
            for line in block.lines:
                yield from line.words

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)


@dataclass
class LoadedSource:
    """What the pipeline keeps of an input while it writes the outputs, for the
    writers that show the source's pages (``Writer.shows_pages``: the pdf writer),
    so they need not read and decode the source again. Not part of the JSON."""

    #: The page images as the loader delivered them (8-bit ``L`` or ``RGB``), by
    #: page index. Pages past the pipeline's memory budget are left out: writers
    #: read those from the source.
    images: dict[int, Image.Image] = field(default_factory=dict)
    #: The loader's :attr:`~tair_ocr.components.LoadedDocument.embeddable_jpeg`.
    embeddable_jpeg: bool | None = None


class DocumentResult(BaseModel):
    """The result for one input file."""

    schema_version: int = SCHEMA_VERSION
    source: str
    #: The loader that read the source (``"pdf"``, ``"image"``, ...).
    kind: str
    pages: list[PageResult] = Field(default_factory=list)
    engine: str | None = None
    restorer: str | None = None
    languages: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    tair_ocr_version: str = ""

    #: Set by the pipeline while the outputs are written; see :attr:`loaded`.
    _loaded: LoadedSource | None = PrivateAttr(default=None)

    @property
    def loaded(self) -> LoadedSource | None:
        """What the pipeline kept of the source while the outputs are written (the
        page images as loaded, for writers that show them), else None: a writer
        then reads ``source`` itself."""
        return self._loaded

    def keep_loaded(self, loaded: LoadedSource | None) -> None:
        """Attach (or with None, release) what :attr:`loaded` returns."""
        self._loaded = loaded

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.pages)

    @property
    def failed_pages(self) -> list[PageResult]:
        return [p for p in self.pages if not p.ok]

    @property
    def text(self) -> str:
        """Plain text, pages separated by form feeds (as tesseract and pdftotext do)."""
        return "\f".join(p.text for p in self.pages)
