"""Tiles: the grid, blank tiles, blend weights, stitching and spotted words.

The restoration stage (:mod:`tair_ocr.restoration`) cuts the working image into
square tiles, sends the tiles that hold ink to the restorer in batches, and
stitches what comes back. Everything geometric about that lives here.

Coordinates. Tile positions are in *input* pixels (the working image that is cut
into tiles). A restorer with integer scale ``s`` returns a ``T×T`` tile as
``(T·s)×(T·s)``; output pixel ``u`` of a tile whose input origin is ``x`` is page
output pixel ``x·s + u``. Pixel ``i`` covers ``[i, i + 1)``, so both images share
the pixel-centre convention of :class:`~tair_ocr.geometry.Affine` scalings.

The grid. Tiles start every ``size − overlap`` pixels from the top-left corner, so
neighbours share exactly ``overlap`` pixels. The last tile of a row or column may
reach past the page; that part (and all of a page smaller than one tile) is filled
by mirror reflection of the page (``reflect``: the edge pixel is not repeated) and
cropped away after restoration.

Blending. Where two tiles overlap, their outputs are cross-faded with a raised
cosine. The outer quarter of the overlap on each side is left out entirely (weight
0 for the tile that is ending, 1 for the one that is starting): tile edges are
where restorers (convolutions, interpolation kernels) see the least context. A
tile side on the page border has weight 1 up to the border. Weights of the tiles
covering a pixel sum to one; the stitcher divides by the sum anyway.

Streaming. The stitcher keeps float accumulators for a few tile rows ("strips")
only and writes finished rows straight into the uint8 output page, so memory stays
near the size of the output page however large it is.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from tair_ocr.page_analysis import PageAnalysis, histogram_median
from tair_ocr.results import BBox, Point, Word
from tair_ocr.working_scale import luminance

if TYPE_CHECKING:
    from tair_ocr.components import SpottedWord

__all__ = [
    "BlankDetector",
    "Stitcher",
    "Tile",
    "TileGrid",
    "axis_starts",
    "axis_weights",
    "blend_ramp",
    "deduplicate_words",
    "extract_tile",
    "map_spotted_words",
    "reflect_indices",
    "upsample_tile",
]


# ---------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`TileGrid`: its row/column and input-pixel origin."""

    index: int
    row: int
    col: int
    x: int
    y: int


def axis_starts(length: int, size: int, overlap: int) -> tuple[int, ...]:
    """Tile origins along one axis of ``length`` pixels: ``0, stride, 2·stride, ...``
    with ``stride = size − overlap``, as few as cover the whole axis."""
    if length < 1:
        raise ValueError(f"cannot tile an axis of {length} pixels")
    stride = size - overlap
    count = 1 if length <= size else math.ceil((length - size) / stride) + 1
    return tuple(i * stride for i in range(count))


@dataclass(frozen=True)
class TileGrid:
    """Square tiles of ``size`` input pixels covering a ``width × height`` image."""

    width: int
    height: int
    size: int
    overlap: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @classmethod
    def cover(cls, width: int, height: int, size: int, overlap: int) -> TileGrid:
        """The grid for an image; ``0 <= overlap < size / 2``."""
        if size < 1:
            raise ValueError(f"tile size must be positive, got {size}")
        if overlap < 0 or 2 * overlap >= size:
            raise ValueError(
                f"tile overlap must be at least 0 and under half the tile size "
                f"({size} px), got {overlap}"
            )
        return cls(
            width=width,
            height=height,
            size=size,
            overlap=overlap,
            xs=axis_starts(width, size, overlap),
            ys=axis_starts(height, size, overlap),
        )

    @property
    def rows(self) -> int:
        return len(self.ys)

    @property
    def cols(self) -> int:
        return len(self.xs)

    def __len__(self) -> int:
        return self.rows * self.cols

    def __iter__(self) -> Iterator[Tile]:
        """Tiles in row-major order (the order the stitcher finishes rows in)."""
        for row, y in enumerate(self.ys):
            for col, x in enumerate(self.xs):
                yield Tile(index=row * self.cols + col, row=row, col=col, x=x, y=y)

    def core(self, tile: Tile) -> tuple[float, float, float, float]:
        """The part of the page this tile owns, ``(x0, y0, x1, y1)`` in input pixels:
        the tile less half the overlap on each side it shares with a neighbour,
        clipped to the page. The cores of all tiles partition the page."""
        half = self.overlap / 2
        x0 = 0.0 if tile.col == 0 else self.xs[tile.col] + half
        y0 = 0.0 if tile.row == 0 else self.ys[tile.row] + half
        x1 = float(self.width) if tile.col == self.cols - 1 else self.xs[tile.col + 1] + half
        y1 = float(self.height) if tile.row == self.rows - 1 else self.ys[tile.row + 1] + half
        return x0, y0, x1, y1

    def weights(self, tile: Tile, scale: int = 1) -> np.ndarray:
        """Blend weights of ``tile``'s output, ``(size·scale) × (size·scale)`` float32."""
        wy = axis_weights(self.size, self.overlap, scale, tile.row > 0, tile.row < self.rows - 1)
        wx = axis_weights(self.size, self.overlap, scale, tile.col > 0, tile.col < self.cols - 1)
        return np.outer(wy, wx)


# ---------------------------------------------------------------------- blend weights


@lru_cache(maxsize=64)
def blend_ramp(overlap: int, scale: int = 1) -> np.ndarray:
    """Weight of the *incoming* tile across an overlap of ``overlap`` input pixels,
    sampled at the ``overlap·scale`` output pixels (float64, read-only).

    0 over the first quarter of the overlap, a raised cosine over the middle half,
    1 over the last quarter. The outgoing tile's weight is ``1 − ramp``.
    """
    n = overlap * scale
    margin = (overlap // 4) * scale
    width = n - 2 * margin
    if n == 0:
        ramp = np.zeros(0)
    else:
        # Sample at pixel centres; outside the middle the clip gives exactly 0 and 1.
        t = np.clip((np.arange(n) - margin + 0.5) / width, 0.0, 1.0)
        ramp = 0.5 - 0.5 * np.cos(np.pi * t)
    ramp.setflags(write=False)
    return ramp


@lru_cache(maxsize=256)
def axis_weights(size: int, overlap: int, scale: int, ramp_in: bool, ramp_out: bool) -> np.ndarray:
    """1-D blend weights over one tile side of ``size·scale`` output pixels: a ramp
    up where a previous tile overlaps (``ramp_in``), a ramp down where the next one
    does (``ramp_out``), 1 elsewhere, page borders included (float32, read-only)."""
    weights = np.ones(size * scale, dtype=np.float64)
    n = overlap * scale
    if n:
        ramp = blend_ramp(overlap, scale)
        if ramp_in:
            weights[:n] = ramp
        if ramp_out:
            weights[size * scale - n :] = 1.0 - ramp
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


# ---------------------------------------------------------------------- tile pixels


def reflect_indices(start: int, length: int, size: int) -> np.ndarray:
    """Indices ``start .. start+length-1`` into an axis of ``size`` pixels, mirrored
    at the borders without repeating the edge pixel (numpy's ``reflect``), for any
    distance past the border."""
    idx = np.arange(start, start + length)
    if size == 1:
        return np.zeros(length, dtype=np.intp)
    period = 2 * (size - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= size, period - idx, idx)


def extract_tile(page: np.ndarray, tile: Tile, size: int) -> np.ndarray:
    """The ``size × size × C`` pixels of ``tile`` (a copy), reflect-padded past the
    page border. ``page`` is ``H × W × C``."""
    h, w = page.shape[:2]
    if tile.x + size <= w and tile.y + size <= h:
        return page[tile.y : tile.y + size, tile.x : tile.x + size].copy()
    rows = reflect_indices(tile.y, size, h)
    cols = reflect_indices(tile.x, size, w)
    return page[rows[:, None], cols[None, :]]


def upsample_tile(tile: np.ndarray, scale: int) -> np.ndarray:
    """``tile`` (``C × H × W`` float32 in [0, 1]) resampled ``scale`` times larger
    with bicubic interpolation (Keys, a = −0.75, pixel-centre aligned, edge pixels
    repeated past the border: what torch's ``interpolate(mode="bicubic",
    align_corners=False)`` computes), clamped to [0, 1].

    This is what a blank tile becomes when the restorer upscales: bicubic is the
    usual baseline of super-resolution models, and on a blank tile any smooth
    kernel gives nearly the same result.
    """
    if scale == 1:
        return tile
    _, h, w = tile.shape
    rows = _bicubic_matrix(h, scale)
    cols = _bicubic_matrix(w, scale)
    # Separable: along the rows of each plane, then along its columns.
    out = np.matmul(np.matmul(rows, tile), cols.T)
    return np.clip(out, 0.0, 1.0, out=out)


#: Keys' cubic convolution parameter (as torch and OpenCV use).
_CUBIC_A = -0.75


@lru_cache(maxsize=16)
def _bicubic_matrix(size: int, scale: int) -> np.ndarray:
    """The (size·scale)×size float32 matrix of bicubic upsampling along one axis."""
    a = _CUBIC_A
    source = (np.arange(size * scale) + 0.5) / scale - 0.5
    base = np.floor(source)
    t = source - base
    matrix = np.zeros((size * scale, size), np.float64)
    for k in (-1, 0, 1, 2):
        d = np.abs(t - k)
        weight = np.where(
            d <= 1.0,
            ((a + 2) * d - (a + 3)) * d * d + 1,
            ((a * d - 5 * a) * d + 8 * a) * d - 4 * a,
        )
        index = np.clip(base.astype(np.intp) + k, 0, size - 1)
        np.add.at(matrix, (np.arange(size * scale), index), weight)
    matrix = matrix.astype(np.float32)
    matrix.flags.writeable = False
    return matrix


# ---------------------------------------------------------------------- blank tiles


#: Smallest luminance step (0–255) from the page background that counts as ink.
BLANK_MIN_DELTA = 12.0
#: Largest step: noisy pages raise the threshold with their noise, up to here.
BLANK_MAX_DELTA = 40.0
#: Share of a blank tile's pixels allowed off its paper level (a few dust specks:
#: 26 pixels of a 512×512 tile).
BLANK_MAX_OUTLIER_SHARE = 1e-4


class BlankDetector:
    """Decides which tiles hold no ink and need no restoration.

    The page's noise ``σ`` is the robust spread of its luminance around the page
    median (on a document, most pixels are paper:
    :attr:`tair_ocr.page_analysis.PageAnalysis.background`); ``δ = clip(2.5·σ, 12,
    40)`` gray levels. After a 3×3 box blur (which averages single-pixel noise away
    but keeps strokes), a tile is blank when at most :data:`BLANK_MAX_OUTLIER_SHARE`
    of its pixels (overlap margin included) lie more than ``δ`` away from the tile's
    *own* median: the paper level is taken locally because scans and photos are
    unevenly lit, and a few outliers are allowed for dust specks. Faint text, a
    stamp, a shadow edge or a photo go to the restorer; a wrong "not blank" only
    costs time, and a skipped tile loses nothing (it is resampled, not dropped).

    ``page`` is the page's analysis, or its pixels (H×W×C uint8), analysed here.
    """

    def __init__(self, page: PageAnalysis | np.ndarray) -> None:
        background = PageAnalysis.of(page).background
        self.background = background.level
        self.delta = float(np.clip(2.5 * background.noise, BLANK_MIN_DELTA, BLANK_MAX_DELTA))

    def is_blank(self, tile: np.ndarray) -> bool:
        """True when ``tile`` (H×W×C uint8, or its H×W luminance) holds nothing but
        background."""
        import cv2

        smooth = cv2.blur(luminance(tile), (3, 3), borderType=cv2.BORDER_REFLECT)
        paper = histogram_median(np.bincount(smooth.ravel(), minlength=256))
        low, high = paper - self.delta, paper + self.delta
        outliers = int(np.count_nonzero(smooth < low)) + int(np.count_nonzero(smooth > high))
        return outliers <= int(BLANK_MAX_OUTLIER_SHARE * smooth.size)


# ---------------------------------------------------------------------- stitching


@dataclass
class _Strip:
    """Float accumulators for the output rows one tile row covers."""

    top: int
    bottom: int
    total: np.ndarray  # C × rows × W, weighted sum
    weight: np.ndarray  # rows × W
    remaining: int


@dataclass
class Stitcher:
    """Blends tile outputs into a uint8 page, one tile row ("strip") at a time.

    Tiles may be added in any order; a strip is written to :attr:`output` once all
    its tiles and all strips above it are in. Memory: the output page plus the
    float accumulators of the strips not yet written (a few, when tiles arrive
    roughly in row-major order).
    """

    grid: TileGrid
    scale: int
    channels: int
    output: np.ndarray = field(init=False)
    #: First tile row not yet written out.
    next_row: int = field(init=False, default=0)
    _strips: dict[int, _Strip] = field(init=False, default_factory=dict)
    _spare: list[_Strip] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        h, w = self.grid.height * self.scale, self.grid.width * self.scale
        self.output = np.empty((h, w, self.channels), dtype=np.uint8)
        side = self.grid.size * self.scale
        self._product = np.empty((side, side), dtype=np.float32)

    @property
    def open_strips(self) -> int:
        """Strips held in memory now."""
        return len(self._strips)

    @property
    def done(self) -> bool:
        return self.next_row >= self.grid.rows

    def _strip(self, row: int) -> _Strip:
        strip = self._strips.get(row)
        if strip is None:
            s = self.scale
            top = self.grid.ys[row] * s
            bottom = min((self.grid.ys[row] + self.grid.size) * s, self.grid.height * s)
            rows, width = bottom - top, self.grid.width * s
            if self._spare:
                # Reuse a written-out strip's buffers rather than allocate anew.
                spare = self._spare.pop()
                total, weight = spare.total[:, :rows], spare.weight[:rows]
                total.fill(0.0)
                weight.fill(0.0)
            else:
                total = np.zeros((self.channels, rows, width), dtype=np.float32)
                weight = np.zeros((rows, width), dtype=np.float32)
            strip = _Strip(top, bottom, total, weight, remaining=self.grid.cols)
            self._strips[row] = strip
        return strip

    def add(self, tile: Tile, image: np.ndarray) -> None:
        """Add one tile's output: ``channels × (size·scale) × (size·scale)`` float32
        in [0, 1], the restorer's layout (the part past the page border is ignored)."""
        if tile.row < self.next_row:
            raise ValueError(f"tile row {tile.row} was already written out")
        strip = self._strip(tile.row)
        s = self.scale
        x0 = tile.x * s
        x1 = min(x0 + self.grid.size * s, self.grid.width * s)
        rows, cols = strip.bottom - strip.top, x1 - x0
        weights = self.grid.weights(tile, s)[:rows, :cols]
        product = self._product[:rows, :cols]
        for c in range(self.channels):
            np.multiply(image[c, :rows, :cols], weights, out=product)
            strip.total[c, :, x0:x1] += product
        strip.weight[:, x0:x1] += weights
        strip.remaining -= 1
        self._flush()

    def _flush(self) -> None:
        while not self.done:
            strip = self._strips.get(self.next_row)
            if strip is None or strip.remaining:
                return
            del self._strips[self.next_row]
            end = strip.bottom
            if self.next_row + 1 < self.grid.rows:
                below = self._strip(self.next_row + 1)
                shared = strip.bottom - below.top
                if shared > 0:
                    # The rows both strips cover finish in the strip below.
                    below.total[:, :shared] += strip.total[:, -shared:]
                    below.weight[:shared] += strip.weight[-shared:]
                end = below.top
            n = end - strip.top
            # In place: the strip is done with, and big temporaries fragment the heap.
            value = strip.total[:, :n]
            value /= strip.weight[None, :n]
            value *= 255.0
            value += 0.5
            np.clip(value, 0.0, 255.0, out=value)
            target = self.output[strip.top : end]
            np.copyto(target, value.transpose(1, 2, 0), casting="unsafe")  # floor
            self._spare.append(strip)
            self.next_row += 1


# ---------------------------------------------------------------------- spotted words


def map_spotted_words(
    words: Sequence[SpottedWord],
    tile: Tile,
    grid: TileGrid,
    scale: int,
    *,
    source: str,
) -> list[Word]:
    """Words a spotter read in one tile (tile output pixels) as page words
    (page output pixels).

    A word is kept only when the centre of its box lies in the tile's core
    (:meth:`TileGrid.core`): a word in an overlap is read by several tiles and each
    reading but one falls outside its tile's core. Words centred past the page
    border (read in the mirrored padding) are dropped; polygons are clipped to
    the page. Empty texts and degenerate polygons are skipped.
    """
    ox, oy = tile.x * scale, tile.y * scale
    cx0, cy0, cx1, cy1 = (v * scale for v in grid.core(tile))
    width, height = grid.width * scale, grid.height * scale
    out: list[Word] = []
    for word in words:
        text = word.text.strip()
        points = [(float(x) + ox, float(y) + oy) for x, y in word.polygon]
        if not text or not points or not all(math.isfinite(v) for p in points for v in p):
            continue
        cx, cy = BBox.from_points(points).center
        if not (cx0 <= cx < cx1 and cy0 <= cy < cy1):
            continue
        clipped: list[Point] = [
            (min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in points
        ]
        out.append(
            Word(
                text=text,
                confidence=word.score,
                bbox=BBox.from_points(clipped),
                polygon=clipped,
                source=source,
            )
        )
    return out


def _similar(a: str, b: str, threshold: float) -> bool:
    a, b = a.casefold(), b.casefold()
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= threshold


def deduplicate_words(
    words: Sequence[Word], *, iou: float = 0.5, similarity: float = 0.8
) -> list[Word]:
    """Drop near-duplicates: of two words whose boxes overlap with IoU above
    ``iou`` and whose texts are alike (case-insensitive ratio of
    :class:`difflib.SequenceMatcher` at least ``similarity``), keep the more
    confident. Survivors keep their input order."""
    cell = 256.0
    buckets: dict[tuple[int, int], list[int]] = {}
    order = sorted(range(len(words)), key=lambda i: -words[i].confidence)
    kept: list[int] = []

    def cells(box: BBox) -> Iterator[tuple[int, int]]:
        for gy in range(int(box.y0 // cell), int(box.y1 // cell) + 1):
            for gx in range(int(box.x0 // cell), int(box.x1 // cell) + 1):
                yield gx, gy

    for i in order:
        word = words[i]
        seen: set[int] = set()
        duplicate = False
        for key in cells(word.bbox):
            for j in buckets.get(key, ()):
                if j in seen:
                    continue
                seen.add(j)
                other = words[j]
                if word.bbox.iou(other.bbox) > iou and _similar(word.text, other.text, similarity):
                    duplicate = True
                    break
            if duplicate:
                break
        if duplicate:
            continue
        kept.append(i)
        for key in cells(word.bbox):
            buckets.setdefault(key, []).append(i)
    return [words[i] for i in sorted(kept)]
