"""Text-line measurements for the page geometry filters: skew and line direction.

Everything here works on a small binarised copy of the page (:func:`sample_ink`):
the page's luminance reduced so that its longer side is at most
:data:`SAMPLE_SIDE` pixels, its ink found against the local paper level (so shading
is not ink), and only letter-like connected components kept (not rules, frames,
pictures or a photo's dark surround).

- :func:`estimate_skew`: the angle of the text lines, by the projection profile: the
  ink pixels are projected onto the direction across the lines for candidate angles,
  and the angle whose profile is the most peaked (the largest sum of squared
  counts per one-pixel bin: lines and gaps sharply apart) wins. Coarse steps, then
  finer ones around the best.
- :func:`line_direction`: whether the lines run across the page or down it (a page
  turned by 90 or 270 degrees): the best profile of each direction compared.
- :func:`ascender_balance`: which way up the lines are. Latin text has about four
  times more ascenders (b d f h k l t, capitals, digits) than descenders (g j p q y):
  within each line, more ink lies above the x-height band than below it.
- :func:`read_orientation`: the three together: the turn that makes the page
  upright, and whether the measurements are clear enough to rely on.

Angles are in degrees, counter-clockwise positive as seen on screen (image y points
down): a line rising to the right has a positive angle.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tair_ocr.working_scale import ink_mask, luminance

__all__ = [
    "LEANING_DIRECTION_RATIO",
    "SAMPLE_SIDE",
    "SKEW_LIMIT",
    "InkSample",
    "LinesOrientation",
    "SkewEstimate",
    "ascender_balance",
    "estimate_skew",
    "line_direction",
    "read_orientation",
    "sample_ink",
]

#: Longer side (pixels) of the copy the measurements are made on.
SAMPLE_SIDE = 1600
#: Fewer letter-like components than this: no text to measure.
MIN_COMPONENTS = 30
#: Most ink pixels projected per candidate angle (an even subsample of them).
MAX_POINTS = 100_000
#: Degrees either side of level searched by default: the deskew filter's largest
#: correction (10°) and one more (a best angle at the edge may lie beyond it).
SKEW_LIMIT = 11.0

# When :func:`read_orientation` is sure (measured on 26 synthetic pages of every
# degradation kind and 25 real pages, each turned four ways: never wrong when sure;
# its wrong answers had balances up to 0.24, documents' right ones mostly 0.3-0.9).
#: The lines' profile at least this much more peaked than the crossing direction's.
SURE_DIRECTION_RATIO = 1.3
#: The lines' skew estimate at least this clear (scene photos: 0.03-0.22).
SURE_LINES_CONFIDENCE = 0.25
#: At least this |ascender balance| ...
SURE_BALANCE = 0.3
#: ... over at least this many lines.
SURE_LINES = 5
#: A leaning (a hint, acted on only when OSD agrees) needs less: lines running this
#: much more clearly one way (tables: their columns make the crossing profile
#: peaked too) and one line or more (all-capital receipts have few x-height bands).
LEANING_DIRECTION_RATIO = 1.15


@dataclass(frozen=True)
class InkSample:
    """The ink of a page on its small copy: pixel centres of letter-like components."""

    #: x and y of the ink pixels (small-copy pixels, origin at the copy's centre).
    xs: np.ndarray
    ys: np.ndarray
    #: Small-copy pixels per page pixel (at most 1).
    scale: float
    #: Size of the small copy (width, height).
    size: tuple[int, int]
    #: Median height of the letter-like components (small-copy pixels).
    letter_height: float
    #: Letter-like components found.
    components: int
    #: :func:`estimate_skew` results by (limit, vertical): the orientation and
    #: deskew filters measure the same page.
    skews: dict[tuple[float, bool], SkewEstimate] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True)
class SkewEstimate:
    """The angle of a page's text lines and how clearly its profile says so."""

    #: Degrees, counter-clockwise positive (a line rising to the right is positive).
    angle: float
    #: Contrast of the best profile against the median one over the searched range,
    #: ``(best - median) / best``: 0 (flat: no lines, or no angle better than any
    #: other) to near 1 (a sharp peak).
    confidence: float
    #: Peakedness of the best profile: sum of squared bin counts over the same sum
    #: for ink spread evenly over the profile's extent (1: no line structure).
    peakedness: float


#: The last few samples of PIL images, by image (the same object: the orientation
#: filter hands an upright page on unchanged, and the deskew filter measures it too).
_RECENT: deque[tuple[weakref.ref[Image.Image], int, InkSample | None]] = deque(maxlen=4)
_RECENT_LOCK = threading.Lock()


def sample_ink(image: Image.Image | np.ndarray, *, side: int = SAMPLE_SIDE) -> InkSample | None:
    """The ink of ``image`` on a copy whose longer side is at most ``side`` pixels;
    None when the page has too little text-like ink to measure. The samples of the
    last few PIL images are kept: asked again for the same image object, the same
    sample is returned (images are not changed in place in the pipeline)."""
    if not isinstance(image, Image.Image):
        return _sample_ink(image, side)
    with _RECENT_LOCK:
        for ref, kept_side, kept in _RECENT:
            if ref() is image and kept_side == side:
                return kept
    sample = _sample_ink(image, side)
    with _RECENT_LOCK:
        _RECENT.append((weakref.ref(image), side, sample))
    return sample


def _sample_ink(image: Image.Image | np.ndarray, side: int) -> InkSample | None:
    import cv2

    gray = np.ascontiguousarray(luminance(image))
    h, w = gray.shape
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:
        # The darkest pixel of each neighbourhood first: averaging alone fades thin
        # strokes of faint print into the paper.
        k = math.ceil(1.0 / scale)
        if k > 1:
            gray = cv2.erode(gray, np.ones((k, k), np.uint8))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    sh, sw = gray.shape
    if sh < 16 or sw < 16:
        return None
    mask = ink_mask(gray, max(15, (min(sh, sw) // 20) | 1))
    if mask is None:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if count <= 1:
        return None
    x, y, cw, ch, area = (stats[1:, i].astype(np.int64) for i in range(5))
    keep = (
        (ch >= 2)
        & (area >= 3)
        & (ch <= sh / 8)  # not pictures, frames or shadows
        & (cw <= sh / 8)
        & (cw <= 15 * ch)  # not rules (letters merged into words at low resolution are)
        & (ch <= 15 * cw)
        & (area >= 0.08 * cw * ch)
        & (x > 0)
        & (y > 0)
        & (x + cw < sw)
        & (y + ch < sh)
    )
    kept = int(keep.sum())
    if kept < MIN_COMPONENTS:
        return None
    letters = np.concatenate([[False], keep])[labels]
    ys, xs = np.nonzero(letters)
    if xs.size > MAX_POINTS:
        step = xs.size / MAX_POINTS
        pick = (np.arange(MAX_POINTS) * step).astype(np.int64)
        xs, ys = xs[pick], ys[pick]
    return InkSample(
        xs=(xs.astype(np.float32) + np.float32(0.5 - sw / 2)),
        ys=(ys.astype(np.float32) + np.float32(0.5 - sh / 2)),
        scale=scale,
        size=(sw, sh),
        letter_height=float(np.median(ch[keep])),
        components=kept,
    )


def _profile(xs: np.ndarray, ys: np.ndarray, angle: float) -> np.ndarray:
    """Counts of ink per one-pixel bin across lines at ``angle`` (degrees)."""
    t = math.radians(angle)
    across = xs * np.float32(math.sin(t)) + ys * np.float32(math.cos(t))
    return np.bincount((across - across.min()).astype(np.int32))


def _score(xs: np.ndarray, ys: np.ndarray, angle: float) -> float:
    counts = _profile(xs, ys, angle).astype(np.float64)
    return float(np.dot(counts, counts))


def estimate_skew(
    sample: InkSample, *, limit: float = SKEW_LIMIT, vertical: bool = False
) -> SkewEstimate:
    """The angle within ±``limit`` degrees of the page's text lines (with
    ``vertical``, of lines running down the page: the angle from vertical)."""
    key = (float(limit), vertical)
    if key not in sample.skews:
        sample.skews[key] = _estimate_skew(sample, limit, vertical)
    return sample.skews[key]


def _estimate_skew(sample: InkSample, limit: float, vertical: bool) -> SkewEstimate:
    xs, ys = (sample.ys, -sample.xs) if vertical else (sample.xs, sample.ys)
    coarse = np.arange(-limit, limit + 1e-9, 0.5)
    scores = np.array([_score(xs, ys, a) for a in coarse])
    best = float(coarse[int(np.argmax(scores))])
    for step, span in ((0.1, 0.5), (0.02, 0.1)):
        fine = np.arange(best - span, best + span + 1e-9, step)
        fine_scores = [_score(xs, ys, a) for a in fine]
        best = float(fine[int(np.argmax(fine_scores))])
    top = _score(xs, ys, best)
    # The profile's extent without its outermost ink (a speck or two in the margin).
    t = math.radians(best)
    across = xs * np.float32(math.sin(t)) + ys * np.float32(math.cos(t))
    low, high = np.percentile(across, [1.0, 99.0])
    n = float(xs.size)
    even = n * n / max(float(high - low), 1.0)
    return SkewEstimate(
        angle=round(best, 3),
        confidence=max(0.0, (top - float(np.median(scores))) / top) if top > 0 else 0.0,
        peakedness=top / even if even > 0 else 0.0,
    )


def line_direction(
    sample: InkSample, *, limit: float = SKEW_LIMIT
) -> tuple[SkewEstimate, SkewEstimate]:
    """The best line estimate across the page and down it (``(across, down)``);
    compare their ``peakedness`` to tell which way the lines run."""
    return estimate_skew(sample, limit=limit), estimate_skew(sample, limit=limit, vertical=True)


def ascender_balance(
    sample: InkSample, *, angle: float = 0.0, quarter: int = 0
) -> tuple[float, int]:
    """Which way up the text lines are: ``(balance, lines)``.

    The ink is turned by ``quarter`` × 90 degrees clockwise (the page as it would be
    if turned so) and levelled by ``angle`` (the lines' skew in that frame), cut
    into vertical strips about 40 letters wide, and each strip's profile split into
    lines. In each line the x-height band is where the profile is at least half its
    peak; ``balance`` is ``(above - below) / (above + below)`` of the ink outside
    the bands, over all lines: positive for upright Latin text (ascenders), negative
    upside down. ``lines`` is the number of lines measured.
    """
    xs, ys = sample.xs, sample.ys
    for _ in range(quarter % 4):  # clockwise on screen: (x, y) -> (-y, x)
        xs, ys = -ys, xs
    t = math.radians(angle)
    across = xs * np.float32(math.sin(t)) + ys * np.float32(math.cos(t))
    along = xs * np.float32(math.cos(t)) - ys * np.float32(math.sin(t))
    width = max(64.0, 40.0 * sample.letter_height)
    strip = ((along - along.min()) / width).astype(np.int64)
    rows = (across - across.min()).astype(np.int64)
    n_rows = int(rows.max()) + 1
    above = below = 0.0
    lines = 0
    min_height = max(3, int(0.5 * sample.letter_height))
    for s in range(int(strip.max()) + 1):
        profile = np.bincount(rows[strip == s], minlength=n_rows).astype(np.float64)
        if not profile.any():
            continue
        inked = profile > 0.05 * np.percentile(profile[profile > 0], 90)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.view(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start < min_height:
                continue
            line = profile[start:stop]
            band = np.flatnonzero(line >= 0.5 * line.max())
            top, bottom = int(band[0]), int(band[-1])
            if bottom - top + 1 >= 0.8 * (stop - start):
                continue  # no band: capitals or digits only, or a blot
            above += float(line[:top].sum())
            below += float(line[bottom + 1 :].sum())
            lines += 1
    total = above + below
    return ((above - below) / total if total > 0 else 0.0), lines


@dataclass(frozen=True)
class LinesOrientation:
    """The orientation the text lines show (:func:`read_orientation`)."""

    #: Clockwise degrees (0, 90, 180, 270) that turn the page upright.
    rotation: int
    #: |ascender balance| of the lines in the upright frame (0-1).
    balance: float
    #: Lines the balance was measured on.
    lines: int
    #: How much more peaked the lines' profile is than the crossing direction's.
    direction_ratio: float
    #: The lines' skew (degrees from their direction: across, or down the page).
    skew: SkewEstimate

    def leaning(self) -> bool:
        """A hint worth checking against OSD: the lines run one way more clearly than
        the other, and the lines measured show which way up."""
        return (
            self.direction_ratio >= LEANING_DIRECTION_RATIO
            and self.skew.confidence >= SURE_LINES_CONFIDENCE
            and self.balance >= SURE_BALANCE
            and self.lines >= 1
        )

    def sure(self, *, strict: bool = False) -> bool:
        """Clear enough to rely on (``strict``: clear enough to act on alone)."""
        k = 1.5 if strict else 1.0
        return (
            self.direction_ratio >= 1.0 + (SURE_DIRECTION_RATIO - 1.0) * k
            and self.skew.confidence >= SURE_LINES_CONFIDENCE
            and self.balance >= SURE_BALANCE * k
            and self.lines >= SURE_LINES * k
        )


def read_orientation(sample: InkSample, *, limit: float = SKEW_LIMIT) -> LinesOrientation:
    """Which way the page's text lines run (:func:`line_direction`) and which way up
    they are (:func:`ascender_balance`), as the clockwise turn that makes it upright."""
    across, down = line_direction(sample, limit=limit)
    vertical = down.peakedness > across.peakedness
    lines_est, other = (down, across) if vertical else (across, down)
    # Lines running down the page: turned clockwise by 90 they run across.
    balance, count = ascender_balance(sample, angle=lines_est.angle, quarter=1 if vertical else 0)
    upright = balance >= 0
    rotation = (90 if upright else 270) if vertical else (0 if upright else 180)
    return LinesOrientation(
        rotation=rotation,
        balance=abs(balance),
        lines=count,
        direction_ratio=lines_est.peakedness / other.peakedness if other.peakedness > 0 else 0.0,
        skew=lines_est,
    )
