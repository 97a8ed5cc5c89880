"""The working scale: how much to enlarge a page so its text is the size OCR reads best.

Target. Tesseract's documentation (FAQ, "Is there a minimum text size?") says
accuracy drops off below 10 pt at 300 dpi, where the x-height is about 20 px,
rapidly below 8 pt (x-height about 16 px), and that below an x-height of 10 px
there is little chance of accurate results. Tests of the LSTM engine put the best
capital height at about 30–33 px. So:

* a page whose x-height is at least :data:`MIN_X_HEIGHT` (16 px) is read as is
  (resampling a readable page only costs time and adds interpolation blur);
* smaller text is enlarged so its x-height reaches :data:`TARGET_X_HEIGHT`
  (22 px, i.e. 11-pt text at 300 dpi, capital height about 31 px);
* the factor stays within ``[1, 4]``: pages are never shrunk below their loaded
  size, and past 4× the interpolation invents nothing the OCR could use;
* a page where no text is found keeps factor 1;
* a binary (bilevel: fax, 1-bit scan) page keeps factor 1 unless its x-height is
  below :data:`MIN_BINARY_X_HEIGHT`: interpolation would turn its hard edges into
  grey ramps, so restorers could no longer tell it is binary (and treat it as
  such), and tesseract binarises it again anyway.

Measuring. The page is binarised (dark against a local mean, and darker than the
global Otsu threshold, so shading and noise do not count as ink) and its connected
components are measured. Specks, rules, frames and blobs larger than a line are
ignored. The capital/ascender height is the 80th percentile of the remaining
heights; the x-height is the median of the components between 45 % and 82 % of it
(lower-case letters without ascenders, the most common letters in running text);
when those are rare (all capitals, digits) it is taken as 0.7 × the capital
height, the usual ratio for Latin fonts.

Resampling. :func:`resample` scales with Pillow's bicubic filter, which samples
output pixel ``i`` at input position ``(i + 0.5)·w/W − 0.5``; the affine it
returns, ``x_in = x_out · w/W``, is exact in the same pixel-edge coordinates, so
boxes found on the working image map back to the page without drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tair_ocr.geometry import Affine

__all__ = [
    "MAX_AUTO_SCALE",
    "MIN_BINARY_X_HEIGHT",
    "MIN_X_HEIGHT",
    "TARGET_X_HEIGHT",
    "InkLevels",
    "TextSize",
    "auto_scale",
    "choose_scale",
    "estimate_text_size",
    "ink_levels",
    "ink_mask",
    "is_binary",
    "luminance",
    "page_scale",
    "resample",
]

#: x-height (px) text is enlarged to.
TARGET_X_HEIGHT = 22.0
#: x-height (px) from which a page is left at its loaded size.
MIN_X_HEIGHT = 16.0
#: Largest automatic working scale.
MAX_AUTO_SCALE = 4.0
#: x-height (px) below which even a binary page is enlarged.
MIN_BINARY_X_HEIGHT = 10.0
#: Fewer letter-like components than this: "no text found".
MIN_COMPONENTS = 12


@dataclass(frozen=True)
class TextSize:
    """Text size measured on a page, in pixels of that page (0 when none found)."""

    x_height: float
    cap_height: float
    #: Letter-like components measured.
    components: int

    @property
    def found(self) -> bool:
        return self.x_height > 0


@dataclass(frozen=True)
class InkLevels:
    """The page-wide levels an ink mask (:func:`ink_mask`) thresholds against."""

    #: Otsu's threshold between ink and paper (0–255).
    otsu: float
    #: The paper level: the 90th percentile of the luminance (on a sample of
    #: about 512×512 pixels).
    paper: float


def luminance(image: Image.Image | np.ndarray) -> np.ndarray:
    """H×W uint8 luminance (BT.601, as Pillow's ``"L"``) of a PIL image or an
    H×W, H×W×1, H×W×3 (RGB) or H×W×4 uint8 array; H×W input is returned as is."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "L" else image.convert("L"))
    array = np.asarray(image)
    if array.ndim == 2:
        return array.astype(np.uint8, copy=False)
    if array.ndim == 3 and array.shape[2] == 1:
        return array[..., 0].astype(np.uint8, copy=False)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        import cv2

        rgb = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an H×W or H×W×3 image, got shape {array.shape}")


def estimate_text_size(
    image: Image.Image | np.ndarray, *, levels: InkLevels | None = None
) -> TextSize:
    """Measure the x-height and capital height of the text on a page (see the
    module docstring). ``image`` is a PIL image or an H×W(×3) uint8 array;
    ``levels`` its :func:`ink_levels` when already measured."""
    import cv2

    gray = np.ascontiguousarray(luminance(image))
    h, w = gray.shape
    # A local mean wide enough to hold a few letters, for shaded photos.
    ink = ink_mask(gray, max(31, (min(h, w) // 20) | 1), levels=levels)
    if ink is None:
        return TextSize(0.0, 0.0, 0)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    if count <= 1:
        return TextSize(0.0, 0.0, 0)
    x, y, cw, ch, area = (stats[1:, i].astype(np.int64) for i in range(5))
    inside = (x > 0) & (y > 0) & (x + cw < w) & (y + ch < h)  # scan borders, not text
    keep = (
        inside
        & (ch >= 3)
        & (area >= 4)
        & (ch <= h / 2)  # not pictures or page-sized shadows
        & (cw <= 25 * ch)  # words merged at low resolution, but not rules
        & (area >= 0.08 * cw * ch)  # not frames or table grids
    )
    heights = ch[keep].astype(np.float64)
    if heights.size < MIN_COMPONENTS:
        return TextSize(0.0, 0.0, int(heights.size))
    cap = float(np.percentile(heights, 80))
    small = heights[(heights >= 0.45 * cap) & (heights <= 0.82 * cap)]
    x_height = float(np.median(small)) if small.size >= 0.25 * heights.size else 0.7 * cap
    return TextSize(x_height=x_height, cap_height=cap, components=int(heights.size))


def ink_levels(gray: np.ndarray) -> InkLevels | None:
    """The Otsu threshold and the paper level of ``gray`` (H×W uint8), the page-wide
    part of :func:`ink_mask`; None for a page under 8 pixels a side."""
    import cv2

    h, w = gray.shape
    if h < 8 or w < 8:
        return None
    otsu, _ = cv2.threshold(np.ascontiguousarray(gray), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.percentile(gray[:: max(1, h // 512), :: max(1, w // 512)], 90))
    return InkLevels(otsu=float(otsu), paper=paper)


def ink_mask(
    gray: np.ndarray, window: int, *, faint: bool = False, levels: InkLevels | None = None
) -> np.ndarray | None:
    """Where ``gray`` (H×W uint8) has ink: darker than the Otsu threshold between
    ink and paper (with ``faint``, halfway from it to the paper level, and at least
    30 levels below the paper: grey lines count) and 10 levels darker than the mean
    of a ``window``-wide neighbourhood (so shading is no ink). None when the page
    has no two populations to tell apart (blank, flat, or tiny). ``levels`` are the
    page's :func:`ink_levels` when already measured."""
    import cv2

    if levels is None:
        levels = ink_levels(gray)
    if levels is None:
        return None
    otsu, paper = levels.otsu, levels.paper
    if paper - otsu < 20:
        return None
    local = cv2.blur(gray, (window, window), borderType=cv2.BORDER_REFLECT)
    if faint:
        dark = gray.astype(np.int16) < min(float(otsu) + 0.5 * (paper - otsu), paper - 30)
    else:
        dark = gray <= otsu
    return dark & (gray.astype(np.int16) < local.astype(np.int16) - 10)


def choose_scale(
    text: TextSize,
    *,
    target: float = TARGET_X_HEIGHT,
    minimum: float = MIN_X_HEIGHT,
    max_scale: float = MAX_AUTO_SCALE,
) -> float:
    """The working scale for text of size ``text``: 1.0 when no text was found or
    its x-height is at least ``minimum``, else ``target / x_height`` within
    ``[1, max_scale]``."""
    if not text.found or text.x_height >= minimum:
        return 1.0
    return float(np.clip(target / text.x_height, 1.0, max_scale))


def auto_scale(image: Image.Image | np.ndarray) -> tuple[float, TextSize]:
    """Measure the text on ``image`` and choose its working scale (1 for binary
    pages with readable text, see the module docstring). A page's
    :class:`~tair_ocr.page_analysis.PageAnalysis` makes the same choice from the
    measurements it keeps (:meth:`~tair_ocr.page_analysis.PageAnalysis.auto_scale`)."""
    gray = luminance(image)  # once: both measurements read the luminance
    text = estimate_text_size(gray)
    return page_scale(text, lambda: is_binary(gray)), text


def page_scale(text: TextSize, binary: Callable[[], bool]) -> float:
    """The working scale of a page whose text has size ``text``: 1 for a binary
    page (``binary()``, asked only when it matters) with readable text, else
    :func:`choose_scale`."""
    if text.x_height >= MIN_BINARY_X_HEIGHT and binary():
        return 1.0
    return choose_scale(text)


def is_binary(gray: np.ndarray) -> bool:
    """True when almost every pixel sits at one of two well-separated levels.

    Measured as the share of intermediate grays among the non-paper pixels: a
    rendered or photographed page has anti-aliased or blurred edges (many
    intermediates), a fax or 1-bit scan has none. Large clean type has few
    intermediates too and may count as binary, which is harmless: binary pages
    are only despeckled.
    """
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    dark = hist[:64].sum() / total
    middle = hist[64:192].sum() / total
    light = hist[192:].sum() / total
    if dark < 0.002 or light < 0.3:
        return False
    return middle / (middle + dark) < 0.12


def resample(image: Image.Image, factor: float) -> tuple[Image.Image, Affine]:
    """``image`` scaled by ``factor`` (output size rounded to whole pixels) and the
    exact affine from the new image's pixels to ``image``'s pixels.

    Returns ``image`` itself and the identity when the size would not change.
    """
    if not factor > 0:
        raise ValueError(f"scale factor must be positive, got {factor}")
    w, h = image.size
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == (w, h):
        return image, Affine()
    out = image.resize(size, Image.Resampling.BICUBIC)
    return out, Affine.scaling(w / size[0], h / size[1])
