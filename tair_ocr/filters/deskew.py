"""The ``deskew`` page filter: text lines a few degrees off level are levelled
before the page is read.

The skew is measured by the projection profile on a small binarised copy of the
page (:func:`tair_ocr.filters.textlines.estimate_skew`: coarse 0.5° steps over
±(``max_angle`` + 1)°, then 0.1° and 0.02° steps around the best). The page is
rotated only when the estimate is clear (its profile contrast at least
:data:`MIN_CONFIDENCE`: pages of text lines measure 0.35-0.7, scene photos and
pages without lines below 0.25), at least ``min_angle`` and at most ``max_angle``
degrees.

The rotation is about the page centre onto a canvas large enough to hold the whole
page (the corners filled with the colour along its edges), bicubic (bilinear on pages over
:data:`CUBIC_PIXELS`: four times faster, and at those resolutions no worse for OCR),
and it reaches the next steps through :meth:`Page.transformed` with its exact affine,
so word boxes map back to the page as loaded. What a person sees (the searchable
PDF) stays the page as loaded; ``PageGeometry.skew`` and ``skew_corrected`` record
the measurement and the correction.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from tair_ocr.components import PageFilter
from tair_ocr.filters.textlines import estimate_skew, sample_ink
from tair_ocr.geometry import Affine
from tair_ocr.options import Flag, PluginOptions
from tair_ocr.page import Page
from tair_ocr.results import PageGeometry

__all__ = ["MIN_ANGLE", "MIN_CONFIDENCE", "DeskewFilter", "DeskewOptions", "border_colour", "level"]

#: Profile contrast from which a skew estimate is trusted.
MIN_CONFIDENCE = 0.3
#: Default smallest skew corrected (degrees). Measured (benchmarks/README.md): both
#: engines read pages up to 1° off as well as level ones, and levelling them cost
#: tesseract 0.9-1.4 pp CER on two samples (a resampling); from about 1.5° the
#: default engine's lines fall apart on wide pages (30-70 % CER), and from 3-5° the
#: whole page's (70-100 %).
MIN_ANGLE = 1.0
#: Pages up to this many pixels are rotated bicubically, larger ones bilinearly.
CUBIC_PIXELS = 4_000_000


class DeskewOptions(PluginOptions):
    """Deskew: text lines a few degrees off level are levelled before reading."""

    namespace: ClassVar[str] = "deskew"

    enabled: Annotated[bool, Flag(aliases=("--deskew",))] = Field(
        True,
        description="measure the skew of each page's text lines and level them before "
        "reading (the searchable PDF still shows the page as loaded)",
    )
    min_angle: float = Field(
        MIN_ANGLE,
        ge=0.0,
        le=45.0,
        description="smallest skew, in degrees, that is corrected (smaller skews are "
        "read as they are: the engines read them as well unlevelled)",
    )
    max_angle: float = Field(
        10.0,
        gt=0.0,
        le=45.0,
        description="largest skew, in degrees, that is measured and corrected",
    )

    @model_validator(mode="after")
    def _angles(self) -> DeskewOptions:
        if self.min_angle > self.max_angle:
            raise ValueError(
                f"min_angle ({self.min_angle}) is larger than max_angle ({self.max_angle})"
            )
        return self


class DeskewFilter(PageFilter):
    """Levels skewed text lines before the page is read."""

    name = "deskew"
    description = "level text lines a few degrees off (projection profile)"
    order = 20
    enabled_by_default = True
    options_model = DeskewOptions

    def __init__(self) -> None:
        self.options = DeskewOptions()

    def configure(self, options: DeskewOptions) -> None:
        self.options = options

    def apply(self, page: Page) -> Page:
        if not self.options.enabled:
            return page
        geometry = (page.geometry or PageGeometry()).model_copy()
        sample = sample_ink(page.image)
        estimate = None
        if sample is not None:
            # Searched a degree further than corrected: a best angle at the edge of
            # the search may lie beyond it.
            estimate = estimate_skew(sample, limit=self.options.max_angle + 1.0)
            geometry.skew = estimate.angle
            geometry.skew_confidence = round(estimate.confidence, 3)
        correct = (
            estimate is not None
            and estimate.confidence >= MIN_CONFIDENCE
            and self.options.min_angle <= abs(estimate.angle) <= self.options.max_angle
            and estimate.angle != 0.0
        )
        if not correct or estimate is None:
            changed = page.transformed(page.image, Affine())
            changed.geometry = geometry
            return changed
        image, to_previous = level(page.image, estimate.angle)
        levelled = page.transformed(image, to_previous)
        geometry.skew_corrected = estimate.angle
        levelled.geometry = geometry
        return levelled


def level(image: Image.Image, skew: float) -> tuple[Image.Image, Affine]:
    """``image`` rotated by ``-skew`` degrees (clockwise for a positive skew) about
    its centre onto a canvas that holds all of it, the new corners filled with the
    colour along its edges (:func:`border_colour`); and the exact affine from the new
    image's pixels to ``image``'s (edge coordinates)."""
    import cv2

    w, h = image.size
    t = math.radians(skew)
    cos, sin = abs(math.cos(t)), abs(math.sin(t))
    nw, nh = math.ceil(w * cos + h * sin - 1e-6), math.ceil(w * sin + h * cos - 1e-6)
    to_new = (
        Affine.translation(nw / 2, nh / 2)
        @ Affine.rotation(-skew)
        @ Affine.translation(-w / 2, -h / 2)
    )
    to_previous = to_new.inverse()
    # OpenCV addresses pixel centres: index = edge coordinate - 0.5.
    m = Affine.translation(-0.5, -0.5) @ to_previous @ Affine.translation(0.5, 0.5)
    pixels = np.asarray(image)
    fill = border_colour(pixels)
    out = cv2.warpAffine(
        pixels,
        np.array([[m.a, m.b, m.c], [m.d, m.e, m.f]], np.float64),
        (nw, nh),
        flags=(cv2.INTER_CUBIC if w * h <= CUBIC_PIXELS else cv2.INTER_LINEAR)
        | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(v) for v in fill) if fill.size > 1 else float(fill[0]),
    )
    return Image.fromarray(out, image.mode), to_previous


def border_colour(pixels: np.ndarray) -> np.ndarray:
    """The median colour (per channel) of a band along the edges of ``pixels`` (H×W
    or H×W×C): what the new corners of a rotated page are filled with. A scan's
    paper, or the table around a photographed page (paper-coloured corners on a dark
    surround would take the surround for page content)."""
    h, w = pixels.shape[:2]
    band = max(1, min(h, w) // 100)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    edges = [
        pixels[:band].reshape(-1, channels),
        pixels[-band:].reshape(-1, channels),
        pixels[:, :band].reshape(-1, channels),
        pixels[:, -band:].reshape(-1, channels),
    ]
    return np.median(np.concatenate(edges), axis=0)
