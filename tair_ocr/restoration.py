"""The restoration stage: working scale, then tile-wise restoration of one page.

:func:`restore_page` runs the *prepare* and *restore* steps of the data path
(ARCHITECTURE.md): it enlarges small text to the working scale, cuts the working
image into overlapping tiles, skips blank tiles, sends the others to the restorer
in batches (halving the batch on out-of-memory), blends the restored tiles back
without seams and maps the words the restorer's spotter read to page pixels.
Tiling, blending and word mapping live in :mod:`tair_ocr.tiling`, the text-size
measurement in :mod:`tair_ocr.working_scale`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.errors import PluginError, UsageError
from tair_ocr.geometry import Affine
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.results import BBox, Word
from tair_ocr.tiling import (
    BlankDetector,
    Stitcher,
    Tile,
    TileGrid,
    deduplicate_words,
    extract_tile,
    map_spotted_words,
    upsample_tile,
)
from tair_ocr.working_scale import resample

__all__ = [
    "DEFAULT_OVERLAP",
    "MAX_RESTORED_PIXELS",
    "RestoredPage",
    "restore_page",
    "working_scale",
]

log = logging.getLogger(__name__)

#: Overlap between neighbouring tiles, in input pixels (at most a quarter tile).
DEFAULT_OVERLAP = 64
#: Largest restored page (pixels): an A3 page at about 900 dpi. The automatic
#: working scale stays below it; a fixed scale beyond it is an error.
MAX_RESTORED_PIXELS = 160_000_000
#: Tile rows the stitcher may hold before a partial batch is run to let them finish.
_MAX_OPEN_ROWS = 3
#: BT.601 luma weights, to turn a restorer's RGB output into an "L" page.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class RestoredPage:
    """A page after the restoration stage."""

    #: The working image after restoration; ``page.to_original`` maps its pixels
    #: to the pixels of the page as loaded.
    page: Page
    #: Words the restorer's spotter read, in pixels of ``page.image``.
    spotted: list[Word] = field(default_factory=list)
    #: Scale from the input page's pixels to the restored pixels (working scale
    #: times the restorer's own upscale).
    scale: float = 1.0
    #: ``tiles_total``, ``tiles_restored``, ``tiles_skipped``, ``batches``, ``oom_retries``.
    counters: dict[str, int] = field(default_factory=dict)
    #: Seconds spent in ``prepare`` (working scale) and ``restore`` (tiles).
    timings: dict[str, float] = field(default_factory=dict)


def restore_page(
    page: Page,
    restorer: Restorer,
    *,
    scale: float | None = None,
    overlap: int | None = None,
    tile_size: int | None = None,
    batch_size: int | None = None,
    skip_blank: bool = True,
    regions: Sequence[BBox] | None = None,
    analysis: PageAnalysis | None = None,
) -> RestoredPage:
    """Bring ``page`` to its working scale and restore it tile by tile.

    ``scale`` is the total factor from ``page`` to the restored image: ``None``
    chooses it from the text size (:func:`tair_ocr.working_scale.auto_scale`). A
    restorer that upscales by ``s`` itself gets the page resampled by ``scale / s``
    first. ``tile_size`` and ``batch_size`` default to the restorer's; ``overlap``
    to :data:`DEFAULT_OVERLAP`, or a quarter tile for tiles under 256 px.
    ``skip_blank=False`` sends every tile to the restorer. With ``regions`` (boxes
    in ``page`` pixels), only the tiles whose core meets a region are restored; the
    others keep the page's own pixels (counted in ``tiles_kept``). ``analysis`` is
    the :class:`~tair_ocr.page_analysis.PageAnalysis` of ``page.image`` when the
    caller has one: what it measured is not measured again, and what is measured
    here (the text size, the restorer's page hint, the blank tiles' background)
    stays in it. A page resampled to another scale gets an analysis of its own.

    An identity restorer (``is_identity``) only gets the page scaled. Raises
    :class:`~tair_ocr.errors.PluginError` when the restorer breaks its contract
    (wrong output shape, NaN) and re-raises its out-of-memory error when even a
    batch of one tile does not fit.
    """
    # 1. Working scale.
    started = time.perf_counter()
    s = _restorer_scale(restorer)
    image = _normalise_mode(page.image)
    work = page if image is page.image else page.transformed(image, Affine())
    measured = PageAnalysis.reuse(image, analysis)
    factor = working_scale(measured, scale)
    effective = 1 if restorer.is_identity else s
    resampled, to_previous = resample(image, factor / effective)
    if resampled is not image:
        work = work.transformed(resampled, to_previous)
        measured = PageAnalysis(resampled)
    prepare_seconds = time.perf_counter() - started
    counters = dict.fromkeys(
        ("tiles_total", "tiles_restored", "tiles_skipped", "tiles_kept", "batches", "oom_retries"),
        0,
    )
    timings = {"prepare": prepare_seconds}

    if restorer.is_identity:
        timings["restore"] = 0.0
        return RestoredPage(page=work, scale=factor, counters=counters, timings=timings)

    # 2.-7. Tiles: hint, grid, blank skipping, batches, stitching, spotted words.
    started = time.perf_counter()
    run = _TileRun(
        restorer,
        measured,
        scale=s,
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        skip_blank=skip_blank,
        counters=counters,
        wanted=_tile_selector(regions, to_previous) if regions is not None else None,
    )
    pixels, spotted = run.restore()
    del run, measured  # the input pixels and luminance: the output image is built next

    # 8. The restored page: exact affine from the restored to the working pixels.
    out_image = Image.fromarray(pixels[..., 0] if work.image.mode == "L" else pixels)
    del pixels
    to_work = Affine.scaling(work.width / out_image.width, work.height / out_image.height)
    restored = work.transformed(out_image, to_work)
    timings["restore"] = time.perf_counter() - started
    return RestoredPage(
        page=restored, spotted=spotted, scale=factor, counters=counters, timings=timings
    )


# ---------------------------------------------------------------------- helpers


def working_scale(image: Image.Image | PageAnalysis, scale: float | None = None) -> float:
    """The working scale of a page (its image, or its analysis, which keeps the
    text size measured): ``scale`` when given (checked against the size limit), else
    chosen from the text size and capped so the page stays under
    :data:`MAX_RESTORED_PIXELS`."""
    if scale is not None:
        factor = float(scale)
        if not factor > 0:
            raise UsageError(f"the working scale must be positive, got {scale}")
        if factor * factor * image.width * image.height > MAX_RESTORED_PIXELS:
            raise UsageError(
                f"page of {image.width}×{image.height} px at scale {factor:g} would be "
                f"{factor * factor * image.width * image.height / 1e6:.0f} Mpx; "
                f"the limit is {MAX_RESTORED_PIXELS / 1e6:.0f} Mpx: use a smaller --scale"
            )
        return factor
    factor, text = PageAnalysis.of(image).auto_scale()
    limit = (MAX_RESTORED_PIXELS / max(1, image.width * image.height)) ** 0.5
    if factor > limit:
        log.info("working scale %.2f capped at %.2f (page too large)", factor, limit)
        factor = max(1.0, limit)
    log.debug(
        "text x-height %.1f px (cap %.1f): working scale %.2f",
        text.x_height,
        text.cap_height,
        factor,
    )
    return factor


def _tile_selector(
    regions: Sequence[BBox], to_page: Affine
) -> Callable[[tuple[float, float, float, float]], bool]:
    """A test on tile cores (working pixels): does the core meet one of ``regions``
    (page pixels; ``to_page`` maps working pixels to page pixels)?"""
    boxes = [r.as_tuple() for r in regions]

    def wanted(core: tuple[float, float, float, float]) -> bool:
        b = to_page.box(BBox(x0=core[0], y0=core[1], x1=core[2], y1=core[3]))
        return any(b.x0 < r[2] and r[0] < b.x1 and b.y0 < r[3] and r[1] < b.y1 for r in boxes)

    return wanted


def _restorer_scale(restorer: Restorer) -> int:
    s = getattr(restorer, "scale", 1)
    if not isinstance(s, int) or isinstance(s, bool) or s < 1:
        raise PluginError(f"restorer {restorer.name!r} declares scale {s!r}; expected an int >= 1")
    return s


def _normalise_mode(image: Image.Image) -> Image.Image:
    """The page as 8-bit "L" or "RGB" (what the tile stage and the writers handle)."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F", "LA", "La"):
        return image.convert("L")
    return image.convert("RGB")


#: Words in the messages of onnxruntime's allocation failures (it raises its own
#: exception classes, not MemoryError): "Failed to allocate memory", "bad_alloc".
_ALLOCATION_FAILURES = ("out of memory", "failed to allocate", "bad_alloc", "bad allocation")


def _is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says a batch did not fit in memory: ``MemoryError``, torch's
    ``OutOfMemoryError`` (only looked up when a restorer has imported torch; the
    tile stage never imports it), an onnxruntime allocation failure, or a
    ``RuntimeError`` that says "out of memory"."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if isinstance(oom, type) and isinstance(exc, oom):
        return True
    message = str(exc).lower()
    if any(c.__module__.startswith("onnxruntime") for c in type(exc).__mro__):
        return any(words in message for words in _ALLOCATION_FAILURES)
    return isinstance(exc, RuntimeError) and "out of memory" in message


def _release_accelerator_memory() -> None:
    """Give torch's cached CUDA memory back after an out-of-memory error (only when
    a restorer has imported torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # only a courtesy to the allocator; never fail on it
        pass


class _TileRun:
    """One page through the tile stage (steps 2–7 of :func:`restore_page`)."""

    def __init__(
        self,
        restorer: Restorer,
        page: PageAnalysis,
        *,
        scale: int,
        tile_size: int | None,
        overlap: int | None,
        batch_size: int | None,
        skip_blank: bool,
        counters: dict[str, int],
        wanted: Callable[[tuple[float, float, float, float]], bool] | None = None,
    ) -> None:
        self.restorer = restorer
        self.page = page
        # H×W×1 for a gray page (a view of its luminance: gray stays gray), H×W×3.
        self.pixels = page.pixels()
        self.channels = self.pixels.shape[2]
        self.restorer_channels = _restorer_channels(restorer)
        self.scale = scale
        size = int(tile_size if tile_size is not None else restorer.tile_size)
        if size < 1:
            raise UsageError(f"tile size must be positive, got {size}")
        if overlap is None:
            overlap = min(DEFAULT_OVERLAP, size // 4)
        h, w = self.pixels.shape[:2]
        try:
            self.grid = TileGrid.cover(w, h, size, int(overlap))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.batch_size = int(batch_size if batch_size is not None else restorer.batch_size)
        if self.batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {self.batch_size}")
        self.skip_blank = skip_blank
        self.wanted = wanted
        self.counters = counters
        self.source = f"spotter:{restorer.name}"
        self.words: list[Word] = []

    def restore(self) -> tuple[np.ndarray, list[Word]]:
        pixels, grid = self.pixels, self.grid
        # 2. The restorer sees the whole page once: its analysis, shared with the
        # working-scale choice and the blank tiles (measured once).
        self.restorer.page_hint(self.page)

        detector = BlankDetector(self.page) if self.skip_blank else None
        stitcher = Stitcher(grid, self.scale, self.channels)
        self.counters["tiles_total"] = len(grid)
        pending: list[tuple[Tile, np.ndarray]] = []
        # 3.-6. Tiles in row-major order: blank ones are resampled and stitched at
        # once, the others wait for a full batch.
        for tile in grid:
            if pending and tile.row - stitcher.next_row >= _MAX_OPEN_ROWS:
                # Rows wait for a pending tile: run a short batch to bound memory.
                self._run(pending, stitcher)
                pending = []
            array = extract_tile(pixels, tile, grid.size)
            if self.wanted is not None and not self.wanted(grid.core(tile)):
                # Read with confidence: the page's own pixels, resampled.
                self.counters["tiles_kept"] += 1
                stitcher.add(tile, self._unrestored(array))
                continue
            if detector is not None and detector.is_blank(self._gray_tile(tile, array)):
                self.counters["tiles_skipped"] += 1
                stitcher.add(tile, self._blank(array))
                continue
            pending.append((tile, array))
            if len(pending) >= self.batch_size:
                self._run(pending, stitcher)
                pending = []
        if pending:
            self._run(pending, stitcher)
        assert stitcher.done, "every tile row must have been written"
        # 7. One reading per word.
        return stitcher.output, deduplicate_words(self.words)

    def _gray_tile(self, tile: Tile, array: np.ndarray) -> np.ndarray:
        """The luminance of ``tile`` (``array``: its pixels): the gray page's own
        pixels, or cut from the page's luminance (measured once for the page)."""
        if self.channels == 1:
            return array[..., 0]
        return extract_tile(self.page.gray, tile, self.grid.size)

    def _blank(self, array: np.ndarray) -> np.ndarray:
        """A skipped tile as the stitcher takes it: C×H×W float at the output scale."""
        paper = self.restorer.blank_paper
        if paper is not None:
            h, w, c = array.shape
            return np.full((c, h * self.scale, w * self.scale), float(paper), np.float32)
        return self._unrestored(array)

    def _unrestored(self, array: np.ndarray) -> np.ndarray:
        """A tile as loaded, as the stitcher takes it: C×H×W float at the output scale."""
        planes = array.transpose(2, 0, 1).astype(np.float32)
        planes /= 255.0
        return upsample_tile(planes, self.scale)

    def _run(self, tiles: list[tuple[Tile, np.ndarray]], stitcher: Stitcher) -> None:
        """Restore ``tiles`` in batches of at most ``batch_size``, halving it for
        good on out-of-memory; a single tile that does not fit re-raises."""
        start = 0
        while start < len(tiles):
            chunk = tiles[start : start + self.batch_size]
            try:
                result = self._call(chunk)
            except Exception as exc:
                if not _is_out_of_memory(exc) or len(chunk) == 1:
                    raise
                failed = len(chunk)
            else:
                failed = 0
            if failed:
                # Outside the except block, so the failed batch's tensors are freed.
                _release_accelerator_memory()
                self.batch_size = max(1, failed // 2)
                self.counters["oom_retries"] += 1
                log.warning(
                    "restorer out of memory on %d tiles; retrying with %d", failed, self.batch_size
                )
                continue
            self._stitch(chunk, result, stitcher)
            start += len(chunk)

    def _call(self, chunk: list[tuple[Tile, np.ndarray]]) -> RestoredTiles:
        size = self.grid.size
        batch = np.empty((len(chunk), self.restorer_channels, size, size), dtype=np.float32)
        for i, (_, array) in enumerate(chunk):
            _tile_planes(array, batch[i])
        result = self.restorer.restore(batch)
        del batch
        return self._check(result, len(chunk))

    def _check(self, result: RestoredTiles, n: int) -> RestoredTiles:
        name = self.restorer.name
        if not isinstance(result, RestoredTiles):
            raise PluginError(
                f"restorer {name!r} returned {type(result).__name__}, not RestoredTiles"
            )
        if not isinstance(result.images, np.ndarray):
            raise PluginError(
                f"restorer {name!r} returned images as {type(result.images).__name__}; "
                "expected a numpy array"
            )
        out = self.grid.size * self.scale
        shape = result.images.shape
        if len(shape) != 4 or shape[0] != n or shape[1] not in (1, 3) or shape[2:] != (out, out):
            raise PluginError(
                f"restorer {name!r} returned images of shape {shape} for {n} tiles; "
                f"expected {(n, self.restorer_channels, out, out)}"
            )
        if result.words and len(result.words) != n:
            raise PluginError(
                f"restorer {name!r} returned words for {len(result.words)} tiles, not {n}"
            )
        return result

    def _stitch(
        self, chunk: list[tuple[Tile, np.ndarray]], result: RestoredTiles, stitcher: Stitcher
    ) -> None:
        images = np.asarray(result.images, dtype=np.float32)
        # NaN propagates through min/max; no boolean temporary.
        if not (np.isfinite(images.min()) and np.isfinite(images.max())):
            raise PluginError(f"restorer {self.restorer.name!r} returned NaN or infinite values")
        # A copy: the restorer may still hold (and share memory with) its output.
        images = np.clip(images, 0.0, 1.0)
        for i, (tile, _) in enumerate(chunk):
            stitcher.add(tile, self._to_page_channels(images[i]))
            if result.words and result.words[i]:
                self.words += map_spotted_words(
                    result.words[i], tile, self.grid, self.scale, source=self.source
                )
        self.counters["tiles_restored"] += len(chunk)
        self.counters["batches"] += 1

    def _to_page_channels(self, image: np.ndarray) -> np.ndarray:
        """C×H×W restorer output in [0, 1] -> (page channels)×H×W."""
        if self.channels == 1 and image.shape[0] == 3:
            gray = image[0] * _LUMA[0]
            gray += image[1] * _LUMA[1]
            gray += image[2] * _LUMA[2]
            return gray[None]
        if self.channels == 3 and image.shape[0] == 1:
            return np.broadcast_to(image, (3, *image.shape[1:]))
        return image


def _restorer_channels(restorer: Restorer) -> int:
    c = getattr(restorer, "channels", 3)
    if c not in (1, 3) or isinstance(c, bool):
        raise PluginError(f"restorer {restorer.name!r} declares channels {c!r}; expected 1 or 3")
    return int(c)


def _tile_planes(array: np.ndarray, out: np.ndarray) -> None:
    """Write the H×W×C uint8 tile ``array`` into ``out`` (C'×H×W float32 in [0, 1],
    C' the restorer's channels): planes as they are, a gray tile replicated to three
    planes, or an RGB tile reduced to BT.601 luma for a 1-channel restorer."""
    if out.shape[0] == array.shape[2]:
        for c in range(out.shape[0]):
            np.divide(array[..., c], 255.0, out=out[c])
    elif out.shape[0] == 3:
        np.divide(array[..., 0], 255.0, out=out[0])
        out[1] = out[2] = out[0]
    else:
        plane = np.empty(array.shape[:2], np.float32)
        np.divide(array[..., 0], 255.0, out=plane)
        np.multiply(plane, _LUMA[0], out=out[0])
        for c in (1, 2):
            np.divide(array[..., c], 255.0, out=plane)
            plane *= _LUMA[c]
            out[0] += plane
