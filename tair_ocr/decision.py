"""The *decide* step: which parts of a page need restoration, and why.

Read first, restore where unsure (ARCHITECTURE.md, steps 4–5): after the first
engine has read the page as loaded, :func:`decide` finds the spots whose reading
is unsure, from evidence measured on the page:

- ``low_confidence``: words whose calibrated confidence
  (:mod:`tair_ocr.calibration`) is below :attr:`DecisionParams.unsure_below`;
- ``small_text``: words smaller than :attr:`DecisionParams.small_text_height`
  pixels that are not read with near certainty (engines lose letters there first);
- ``unread_ink``: text-like ink that no word covers (a dropped column, a faint
  line, a whole page the engine could not read).

Spots grow by about a line height of context and merge into rectangular
*regions*; only the restoration tiles that meet a region are restored, and only
the regions are read again. A page without spots costs one read per engine.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.results import BBox, Word
from tair_ocr.working_scale import InkLevels, ink_mask

__all__ = ["Decision", "DecisionParams", "decide", "line_height", "merge_boxes"]


@dataclass(frozen=True)
class DecisionParams:
    """Thresholds of :func:`decide` (checked on synthetic pages of the project's
    own generator, never on evaluation data)."""

    #: A word whose calibrated confidence is below this is unsure.
    unsure_below: float = 0.5
    #: Words lower than this (page pixels) are small for the engine that read them
    #: (its ``min_text_height``; 0 turns the test off) ...
    small_text_height: float = 0.0
    #: ... and unsure unless read at least this confidently.
    small_text_sure: float = 0.95
    #: Context around a spot, in line heights.
    margin_lines: float = 1.0
    #: Uncovered ink needs at least this many letter-like components in a cluster.
    min_ink_components: int = 3
    #: A region covering more than this share of the page becomes the whole page
    #: (cutting it up would only cost re-read overhead).
    whole_page_share: float = 0.6
    #: Regions closer than this many line heights are read as one (every crop costs
    #: an engine call) ...
    join_lines: float = 3.0
    #: ... and a page never gets more than this many regions.
    max_regions: int = 8


@dataclass
class Decision:
    """Where to restore one page: regions in the pixels of the page that was read."""

    regions: list[BBox] = field(default_factory=list)
    #: Reason -> number of unsure spots found for it.
    reasons: Counter[str] = field(default_factory=Counter)
    #: The page's typical word height (pixels): crops for re-reading get this much
    #: context around a region.
    line_height: float = 24.0

    @property
    def needed(self) -> bool:
        return bool(self.regions)


def decide(
    image: np.ndarray | PageAnalysis,
    words: Sequence[Word],
    params: DecisionParams | None = None,
) -> Decision:
    """Find the regions of ``image`` (the page the ``words`` were read on, word
    boxes in its pixels: its :class:`~tair_ocr.page_analysis.PageAnalysis`, whose
    luminance and ink levels are measured once, or an H×W or H×W×3 uint8 array)
    whose reading is unsure."""
    params = params or DecisionParams()
    page = PageAnalysis.of(image)
    gray = page.gray
    h, w = gray.shape
    words = [word for word in words if word.text.strip() and word.bbox.area > 0]
    height = line_height(words, page)
    spots: list[BBox] = []
    reasons: Counter[str] = Counter()
    for word in words:
        if word.confidence < params.unsure_below:
            spots.append(word.bbox)
            reasons["low_confidence"] += 1
        elif (
            word.bbox.height < params.small_text_height and word.confidence < params.small_text_sure
        ):
            spots.append(word.bbox)
            reasons["small_text"] += 1
    for box in unread_ink(gray, words, height, params.min_ink_components, levels=page.ink_levels):
        spots.append(box)
        reasons["unread_ink"] += 1
    if not spots:
        return Decision(line_height=height)
    margin = params.margin_lines * height
    grown = [
        BBox(
            x0=max(0.0, b.x0 - margin),
            y0=max(0.0, b.y0 - margin),
            x1=min(float(w), b.x1 + margin),
            y1=min(float(h), b.y1 + margin),
        )
        for b in spots
    ]
    regions = merge_boxes(grown, gap=params.join_lines * height)
    while len(regions) > params.max_regions:
        regions = _join_closest(regions)
    regions = _snapped_to_words(regions, words)
    if sum(r.area for r in regions) >= params.whole_page_share * w * h:
        regions = [BBox(x0=0, y0=0, x1=w, y1=h)]
    return Decision(regions=regions, reasons=reasons, line_height=height)


def merge_boxes(boxes: Sequence[BBox], gap: float = 0.0) -> list[BBox]:
    """Merge boxes closer than ``gap`` (overlapping ones at ``gap=0``) into their
    enclosing rectangles until none are (a region is read as one crop, so
    overlapping crops would read text twice)."""
    merged = [
        BBox(x0=b.x0 - gap / 2, y0=b.y0 - gap / 2, x1=b.x1 + gap / 2, y1=b.y1 + gap / 2)
        for b in sorted(boxes, key=lambda b: (b.y0, b.x0))
    ]
    changed = True
    while changed:
        changed = False
        out: list[BBox] = []
        for box in merged:
            for i, other in enumerate(out):
                if box.intersection(other) > 0:
                    out[i] = other.union(box)
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return [
        BBox(x0=b.x0 + gap / 2, y0=b.y0 + gap / 2, x1=b.x1 - gap / 2, y1=b.y1 - gap / 2)
        for b in merged
    ]


def _snapped_to_words(regions: list[BBox], words: Sequence[Word]) -> list[BBox]:
    """Regions grown over every word they cut: a crop through a word reads a
    fragment of it ("3 x 7.70" as "3x7") that fusion would weigh against the whole."""
    boxes = [w.bbox for w in words]
    for _ in range(4):  # a grown region may cut a new word; a few rounds settle it
        grown = []
        for region in regions:
            for box in boxes:
                if region.intersection(box) > 0:
                    region = region.union(box)
            grown.append(region)
        grown = merge_boxes(grown)
        if grown == regions:
            break
        regions = grown
    return regions


def _join_closest(regions: list[BBox]) -> list[BBox]:
    """Join the two regions whose union adds the least area."""
    best = None
    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            union = regions[i].union(regions[j])
            cost = union.area - regions[i].area - regions[j].area
            if best is None or cost < best[0]:
                best = (cost, i, j)
    assert best is not None
    _, i, j = best
    joined = regions[i].union(regions[j])
    rest = [r for k, r in enumerate(regions) if k not in (i, j)]
    return merge_boxes([*rest, joined])


def line_height(words: Sequence[Word], page: np.ndarray | PageAnalysis) -> float:
    """The page's typical word height in pixels: the median of the ``words``, or
    measured on the page (its analysis, or H×W or H×W×3 uint8 pixels) when there
    are none."""
    if words:
        return float(statistics.median(word.bbox.height for word in words))
    size = PageAnalysis.of(page).text_size
    return max(8.0, 1.4 * size.cap_height) if size.found else 24.0


def unread_ink(
    gray: np.ndarray,
    words: Sequence[Word],
    line_height: float,
    min_components: int = 3,
    *,
    levels: InkLevels | None = None,
) -> list[BBox]:
    """Boxes of text-like ink that no word covers.

    Ink is what is clearly darker than its surroundings (a local mean, so shading
    does not count); components of letter size (between a fifth and twice the line
    height, not long rules) that lie outside every word box (grown by a third of a
    line) are clustered by proximity, and clusters of at least ``min_components``
    letters are returned: a dropped word or column, not dust. ``levels`` are the
    page's ink levels when already measured.
    """
    import cv2

    h, w = gray.shape
    # Faint (grey) lines count, which a threshold set by the black text would miss.
    ink = ink_mask(
        np.ascontiguousarray(gray), max(15, int(2 * line_height) | 1), faint=True, levels=levels
    )
    if ink is None:
        return []
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    if count <= 1:
        return []
    x, y, cw, ch, area = (stats[1:, i].astype(np.float64) for i in range(5))
    letter = (
        (ch >= 0.2 * line_height)
        & (ch <= 2.0 * line_height)
        & (cw <= 4.0 * line_height)
        & (area >= 0.1 * cw * ch)
        & (area >= 6)
    )
    # Components inside a word box (grown a little) are read.
    covered = np.zeros(count - 1, dtype=bool)
    pad = line_height / 3
    cx, cy = x + cw / 2, y + ch / 2
    for word in words:
        b = word.bbox
        covered |= (cx >= b.x0 - pad) & (cx <= b.x1 + pad) & (cy >= b.y0 - pad) & (cy <= b.y1 + pad)
    keep = np.flatnonzero(letter & ~covered)
    if keep.size < min_components:
        return []
    # Cluster the uncovered letters: paint them on a coarse mask, grow them by half
    # a line height sideways (a quarter up and down) and take its components.
    step = max(1, int(line_height / 8))
    mask = np.zeros(((h + step - 1) // step, (w + step - 1) // step), dtype=np.uint8)
    for i in keep:
        mask[
            int(y[i]) // step : int(y[i] + ch[i]) // step + 1,
            int(x[i]) // step : int(x[i] + cw[i]) // step + 1,
        ] = 1
    kx = max(1, int(line_height / step)) | 1
    ky = max(1, int(line_height / (2 * step))) | 1
    mask = cv2.dilate(mask, np.ones((ky, kx), np.uint8))
    n, labels, cstats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    members = np.bincount(
        labels[(cy[keep] // step).astype(int), (cx[keep] // step).astype(int)], minlength=n
    )
    out = []
    for label in range(1, n):
        if members[label] < min_components:
            continue
        bx, by, bw, bh = (int(v) * step for v in cstats[label, :4])
        out.append(BBox(x0=bx, y0=by, x1=min(w, bx + bw), y1=min(h, by + bh)))
    return out
