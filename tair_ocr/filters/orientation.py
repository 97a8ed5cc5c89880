"""The ``orientation`` page filter: pages turned by 90, 180 or 270 degrees are read
upright.

Two measurements decide, and a page is only turned when they make it clear:

1. the **text-line check** (:func:`tair_ocr.filters.textlines.read_orientation`, a
   few tens of milliseconds on a small copy of the page): which way the lines run,
   and which way up they are (ascenders outnumber descenders). When it is sure the
   page is upright, that is the answer and OSD is not asked: most pages cost only
   this check.
2. otherwise tesseract's **OSD** (:mod:`tair_ocr.filters.osd`, about 0.3-1 s on a
   300-dpi page), on the page as loaded (a copy reduced to about 300 dpi text when
   its letters are larger: OSD on a reduced page is much less reliable).

The page is turned (:func:`decide`)

- by the answer both give (``osd+lines``): the line check is sure and OSD agrees,
  whatever OSD's confidence; or the line check leans that way (tables, whose columns
  blur which way the lines run; all-capital receipts, with few lines that show which
  way up) and OSD agrees with a confidence of at least 1;
- by the line check's answer when it is sure by a wider margin and OSD found too few
  letters or disagrees (``lines``): OSD errs on faded, blurred and noisy pages, where
  the line check, that sure, has not been wrong on the pages measured;
- by OSD's answer when the line check is not sure (and does not lean another way)
  and OSD's confidence reaches the threshold (``--rotate-pages-threshold``, default
  10) (``osd``);
- otherwise, by **reading** (``read``, :mod:`tair_ocr.filters.reading_check`): a few
  text lines cut from the page are read by tesseract both ways up (all four ways when
  the line check cannot tell which way the lines run), and the way that reads clearly
  better wins. This settles forms, receipts and all-capital pages, where neither
  measurement above can tell which way up the lines are (``--no-orientation-reading``
  turns it off);
- otherwise not at all (``unsure``).

On 51 pages (26 synthetic of every degradation kind, 25 real) turned four ways, these
rules turned no page wrongly and left 58 of 208 unturned (blurred, 60-75 dpi, scene
photos and forms where neither measurement can tell); ``benchmarks/README.md`` has
the benchmark.

Without OSD (no ``osd.traineddata``) only the reading check can turn a page; when it
cannot tell either, the page is not turned, and the run says so once.

The turned page reaches the next steps through :meth:`Page.transformed` with the
exact affine of the quarter turn (:func:`tair_ocr.geometry.quarter_turn`), so word
boxes map back to the page as loaded; ``PageGeometry.rotation`` records the turn,
which the searchable PDF shows (its page ``/Rotate``).
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, ClassVar

from PIL import Image
from pydantic import Field

from tair_ocr.components import Availability, PageFilter
from tair_ocr.errors import MissingDependencyError
from tair_ocr.filters.osd import OSD_HINT, Osd, OsdAnswer, OsdError
from tair_ocr.filters.reading_check import ReadingAnswer, ReadingCheck
from tair_ocr.filters.textlines import LinesOrientation, read_orientation, sample_ink
from tair_ocr.geometry import Affine, quarter_turn
from tair_ocr.options import Flag, PluginOptions
from tair_ocr.page import Page
from tair_ocr.results import PageGeometry

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_THRESHOLD", "OrientationFilter", "OrientationOptions", "decide"]

#: Default OSD confidence from which OSD alone turns a page (when the text-line
#: check is not sure). OSD's wrong answers on the pages measured had confidences up
#: to 6.5 (a faded page); its right ones mostly 5-30. OCRmyPDF's default is 14.
DEFAULT_THRESHOLD = 10.0
#: OSD confidence from which OSD's answer counts when the text-line check only leans
#: the same way (below 1 its answers are little better than a guess).
MIN_AGREEING_CONFIDENCE = 1.0
#: Below this ratio the line check cannot tell which way the lines run: the reading
#: check tries all four turns, not only the line check's and its opposite.
READ_DIRECTION_RATIO = 1.1
#: Letters taller than this (page pixels: 600-dpi scans) are reduced for OSD ...
OSD_MAX_LETTER = 50.0
#: ... to about this height.
OSD_LETTER = 30.0

#: Marks log records of warnings the page result records too (the command line
#: prints those from the result): ``tair_ocr.pipeline.RECORDED_IN_RESULT``, which
#: this stage may not import.
_RECORDED = "tair_ocr_recorded"

#: PIL's transposition for each clockwise turn (PIL's ROTATE_90 turns
#: counter-clockwise).
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


class OrientationOptions(PluginOptions):
    """Orientation: pages turned by 90, 180 or 270 degrees are read upright."""

    namespace: ClassVar[str] = "orientation"

    enabled: Annotated[bool, Flag(aliases=("--rotate-pages",))] = Field(
        True,
        description="detect each page's orientation (text-line check, tesseract OSD, "
        "then a reading check) and read turned pages upright; the searchable PDF shows "
        "them upright",
    )
    threshold: Annotated[float, Flag(aliases=("--rotate-pages-threshold",))] = Field(
        DEFAULT_THRESHOLD,
        ge=0.0,
        description="tesseract OSD orientation confidence from which OSD turns a page "
        "the text-line check is not sure of",
    )
    reading: bool = Field(
        True,
        description="where the text-line check and OSD are unsure (forms, receipts, "
        "all-capital text), read a few text lines both ways up and turn the page the "
        "way that reads clearly better",
    )


def decide(
    lines: LinesOrientation | None, osd: OsdAnswer | None, threshold: float
) -> tuple[int, str]:
    """The clockwise turn to apply and how it was decided (``PageGeometry.orientation``),
    from the text-line check and OSD's answer (None: too few letters)."""
    sure = lines is not None and lines.sure()
    leaning = lines is not None and lines.leaning()
    if (
        osd is not None
        and lines is not None
        and leaning
        and lines.rotation == osd.rotation
        and (sure or osd.confidence >= MIN_AGREEING_CONFIDENCE)
    ):
        return osd.rotation, "osd+lines"
    if lines is not None and lines.sure(strict=True):
        # OSD found too few letters, or disagrees: on faded, blurred and noisy pages
        # it errs (at confidences up to 6.5 on the pages measured) where the line
        # check, sure by this margin, has not.
        return lines.rotation, "lines"
    if (
        osd is not None
        and not sure
        and osd.confidence >= threshold
        and not (leaning and lines is not None and lines.rotation != osd.rotation)
    ):
        return osd.rotation, "osd"
    return 0, "unsure"


class OrientationFilter(PageFilter):
    """Turns pages upright (0/90/180/270) before they are read."""

    name = "orientation"
    description = "turn pages upright (text-line check, tesseract OSD)"
    order = 10
    enabled_by_default = True
    options_model = OrientationOptions

    def __init__(self) -> None:
        self.options = OrientationOptions()
        self._osd = Osd()
        self._reading = ReadingCheck()
        self._warned = False
        self._lock = threading.Lock()

    def configure(self, options: OrientationOptions) -> None:
        self.options = options

    def availability(self) -> Availability:
        # Always runnable: without OSD, pages are left as they are (with a warning).
        if not self.options.enabled:
            return Availability.yes("turned off (--no-rotate-pages)")
        ok, why = self._osd.available()
        if ok:
            return Availability.yes(f"OSD: {why}")
        return Availability.yes(f"no OSD ({why}): pages are not turned")

    def apply(self, page: Page) -> Page:
        if not self.options.enabled:
            return page
        geometry = (page.geometry or PageGeometry()).model_copy()
        sample = sample_ink(page.image)
        lines = read_orientation(sample) if sample is not None else None
        if lines is not None:
            geometry.lines_rotation = lines.rotation
            geometry.lines_confidence = round(lines.balance, 3)
        if lines is None:
            geometry.orientation = "no-text"
            return _with(page, geometry)
        if lines.rotation == 0 and lines.sure():
            geometry.orientation = "upright"
            return _with(page, geometry)
        osd_ok, why = self._osd.available()
        if osd_ok:
            answer = self._detect(page, sample.letter_height / sample.scale)
            if answer is not None:
                geometry.osd_rotation = answer.rotation
                geometry.osd_confidence = answer.confidence
            rotation, how = decide(lines, answer, self.options.threshold)
        else:
            rotation, how = 0, "no-osd"
        if how in ("unsure", "no-osd") and self.options.reading:
            checked = self._read(page, lines, sample.letter_height / sample.scale)
            if checked is not None:
                geometry.read_rotation = checked.rotation
                geometry.read_chars = checked.chars
                geometry.read_other_chars = checked.other_chars
                if checked.decisive():
                    rotation, how = checked.rotation, "read"
        geometry.orientation = how
        if how == "no-osd":
            page = _with(page, geometry)
            self._warn_once(page, f"orientation detection is not available ({why}): {OSD_HINT}")
            return page
        if not rotation:
            return _with(page, geometry)
        turned = page.transformed(
            page.image.transpose(_TRANSPOSE[rotation]),
            quarter_turn(rotation, page.width, page.height).inverse(),
        )
        geometry.rotation = (geometry.rotation + rotation) % 360
        turned.geometry = geometry
        return turned

    def _read(
        self, page: Page, lines: LinesOrientation, letter_height: float
    ) -> ReadingAnswer | None:
        """The reading check's answer: the line check's turn and its opposite, or
        all four turns when it cannot tell which way the lines run."""
        if not self._reading.available()[0]:
            return None
        angle = lines.skew.angle
        candidates = [(lines.rotation, angle)]
        if lines.direction_ratio < READ_DIRECTION_RATIO:
            candidates.append(((lines.rotation + 90) % 360, 0.0))
        return self._reading.compare(page.image, letter_height, candidates)

    def _detect(self, page: Page, letter_height: float) -> OsdAnswer | None:
        """OSD on the page (reduced when its letters are large); None when it has no
        answer or failed (a failure is a page warning, not a failed page)."""
        image, dpi = page.image, page.working_dpi
        if letter_height > OSD_MAX_LETTER:
            factor = OSD_LETTER / letter_height
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
            image, dpi = image.resize(size, Image.Resampling.BOX), dpi * factor
        if image.mode != "L":
            image = image.convert("L")
        try:
            return self._osd.detect(image, dpi)
        except (OsdError, MissingDependencyError) as exc:
            message = f"orientation not detected: {exc}"
            page.warnings.append(message)
            log.warning("page %d: %s", page.index + 1, message, extra={_RECORDED: True})
            return None

    def _warn_once(self, page: Page, message: str) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        page.warnings.append(message)
        log.warning("page %d: %s", page.index + 1, message, extra={_RECORDED: True})


def _with(page: Page, geometry: PageGeometry) -> Page:
    """``page`` (same pixels and transform) carrying ``geometry``."""
    changed = page.transformed(page.image, Affine())
    changed.geometry = geometry
    return changed
