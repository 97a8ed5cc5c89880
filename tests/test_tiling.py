"""The tile stage: grid, blank tiles, blending, stitching, spotted words, batching.

Property tests run :func:`tair_ocr.restoration.restore_page` with small test
restorers on small random pages and small tiles, so every border case (pages
smaller than a tile, a last tile mostly in the padding, many overlaps) shows up.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from tair_ocr.components import RestoredTiles, Restorer, SpottedWord
from tair_ocr.errors import PluginError
from tair_ocr.page import Page
from tair_ocr.restoration import restore_page
from tair_ocr.results import BBox, Word
from tair_ocr.tiling import (
    TileGrid,
    axis_starts,
    axis_weights,
    blend_ramp,
    deduplicate_words,
    extract_tile,
    reflect_indices,
    upsample_tile,
)

FAST = settings(max_examples=40, deadline=None)


# ---------------------------------------------------------------------- test restorers


class Recorder(Restorer):
    """Returns tiles unchanged (but is not an identity restorer, so tiling runs)
    and records every batch it receives."""

    name = "recorder"
    tile_size = 32
    batch_size = 4

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        return tiles.copy()

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.batches.append(tiles.copy())
        return RestoredTiles(images=self.transform(tiles), words=[[] for _ in tiles])


class Upsampler(Recorder):
    """Upsamples each tile by ``scale`` with an interpolation kernel."""

    def __init__(self, scale: int, mode: str) -> None:
        super().__init__()
        self.scale = scale  # type: ignore[misc]  # instance value for the test
        self.mode = mode

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        return upsample(tiles, self.scale, self.mode)


class Offsetter(Recorder):
    """Adds a random brightness offset per tile: neighbours that disagree."""

    def __init__(self, amplitude: float, seed: int = 0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.generator = np.random.default_rng(seed)

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        offsets = (self.generator.random((len(tiles), 1, 1, 1), np.float32) * 2 - 1) * (
            self.amplitude
        )
        return tiles + offsets  # no clamp: the stitcher clamps


class Darkener(Recorder):
    def transform(self, tiles: np.ndarray) -> np.ndarray:
        return tiles * 0.5


class MarkSpotter(Recorder):
    """'Spots' every dark square it sees in a tile as the word ``mark``, with the
    visible part's box and a score that grows with the visible area (a clipped
    square is a weaker reading); upsamples by ``scale`` (nearest)."""

    def __init__(self, scale: int = 1, full_area: int = 1) -> None:
        super().__init__()
        self.scale = scale  # type: ignore[misc]
        self.full_area = full_area

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.batches.append(tiles.copy())
        s = self.scale
        words: list[list[SpottedWord]] = []
        for tile in tiles:
            labels, _ = ndimage.label(tile[0] < 0.5)
            found = []
            for sl in ndimage.find_objects(labels):
                y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
                score = min(1.0, (y1 - y0) * (x1 - x0) / self.full_area)
                poly = [(x0 * s, y0 * s), (x1 * s, y0 * s), (x1 * s, y1 * s), (x0 * s, y1 * s)]
                found.append(SpottedWord("mark", score, [(float(x), float(y)) for x, y in poly]))
            words.append(found)
        return RestoredTiles(images=upsample(tiles, s, "nearest"), words=words)


class OutOfMemory(Recorder):
    """Fails like a GPU that is full whenever a batch has more than ``limit`` tiles."""

    def __init__(self, limit: int, error: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.limit = limit
        self.error = error
        self.attempts: list[int] = []
        self.batch_size = 8

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.attempts.append(len(tiles))
        if len(tiles) > self.limit:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().restore(tiles)


# ---------------------------------------------------------------------- helpers


def upsample(tiles: np.ndarray, scale: int, mode: str) -> np.ndarray:
    """N×C×H×W float tiles ``scale`` times larger: nearest, bilinear or bicubic
    (pixel-centre aligned, edge pixels repeated past the border). Bicubic is the
    framework's own kernel (the one blank tiles get), unclamped values clamped."""
    if scale == 1:
        return tiles.copy()
    if mode == "nearest":
        return tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    if mode == "bicubic":
        return np.stack([upsample_tile(t, scale) for t in tiles])
    rows, cols = _linear_matrix(tiles.shape[2], scale), _linear_matrix(tiles.shape[3], scale)
    return np.matmul(np.matmul(rows, tiles), cols.T)


def _linear_matrix(size: int, scale: int) -> np.ndarray:
    """Bilinear upsampling along one axis, as a (size·scale)×size matrix."""
    source = np.maximum((np.arange(size * scale) + 0.5) / scale - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    t = source - low
    matrix = np.zeros((size * scale, size), np.float32)
    rows = np.arange(size * scale)
    np.add.at(matrix, (rows, low), 1 - t)
    np.add.at(matrix, (rows, high), t)
    return matrix


def make_page(array: np.ndarray) -> Page:
    mode = "L" if array.ndim == 2 else "RGB"
    return Page(source=Path("test.png"), index=0, image=Image.fromarray(array, mode), dpi=300.0)


def random_page(seed: int, width: int, height: int, rgb: bool, blank_share: float) -> np.ndarray:
    """Noise with white rectangles (blank areas) covering about ``blank_share``."""
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if rgb else (height, width)
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    if blank_share > 0:
        array[: int(height * blank_share)] = 255
        array[:, : int(width * blank_share)] = 255
    return array


def run(array: np.ndarray, restorer: Restorer, **kwargs):
    kwargs.setdefault("scale", float(restorer.scale))
    return restore_page(make_page(array), restorer, **kwargs)


def pixels(result) -> np.ndarray:
    return np.asarray(result.page.image)


tile_params = st.integers(16, 64).flatmap(
    lambda size: st.tuples(st.just(size), st.integers(0, (size - 1) // 2))
)


# ---------------------------------------------------------------------- grid and weights


@given(st.integers(1, 400), tile_params)
@FAST
def test_grid_covers_the_axis_with_exact_overlaps(length, tile):
    size, overlap = tile
    starts = axis_starts(length, size, overlap)
    assert starts[0] == 0
    assert starts[-1] + size >= length  # covered
    assert len(starts) == 1 or starts[-2] + size < length  # as few tiles as possible
    assert all(b - a == size - overlap for a, b in itertools.pairwise(starts))


@given(st.integers(1, 80), st.integers(1, 80), tile_params, st.integers(1, 4))
@FAST
def test_cores_partition_the_page(width, height, tile, scale):
    grid = TileGrid.cover(width, height, *tile)
    owners = np.zeros((height, width), dtype=np.int32)
    for t in grid:
        x0, y0, x1, y1 = grid.core(t)
        assert t.x <= x0 < x1 <= t.x + grid.size and t.y <= y0 < y1 <= t.y + grid.size
        xs = np.arange(width) + 0.5
        ys = np.arange(height) + 0.5
        owners += np.outer((ys >= y0) & (ys < y1), (xs >= x0) & (xs < x1))
    assert (owners == 1).all()


@given(st.integers(1, 31), st.integers(1, 4))
@FAST
def test_blend_weights_sum_to_one_and_never_vanish_at_the_page_border(overlap, scale):
    size = 2 * overlap + 1 + overlap % 5
    ramp = blend_ramp(overlap, scale)
    assert len(ramp) == overlap * scale
    assert np.all(np.diff(ramp) >= 0) and ramp.min() >= 0 and ramp.max() <= 1
    inner = axis_weights(size, overlap, scale, True, True)
    first = axis_weights(size, overlap, scale, False, True)
    n = overlap * scale
    # Where two neighbours overlap, their weights add to one.
    np.testing.assert_allclose(first[-n:] + inner[:n], 1.0, atol=1e-6)
    # On the page border side the weight is 1, never 0.
    assert first[0] == 1.0 and axis_weights(size, overlap, scale, True, False)[-1] == 1.0
    # Tile edges facing a neighbour are left out (the outer quarter of the overlap).
    margin = (overlap // 4) * scale
    assert np.all(inner[:margin] == 0) and np.all(inner[size * scale - margin :] == 0)


@given(st.integers(-50, 100), st.integers(1, 60), st.integers(1, 30))
@FAST
def test_reflect_indices_match_numpy_reflect(start, length, size):
    axis = np.arange(size)
    pad = 200
    padded = np.pad(axis, pad, mode="reflect") if size > 1 else np.zeros(size + 2 * pad, int)
    expected = padded[start + pad : start + pad + length]
    np.testing.assert_array_equal(reflect_indices(start, length, size), expected)


def test_extract_tile_pads_pages_smaller_than_a_tile():
    page = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    grid = TileGrid.cover(4, 3, 8, 2)
    (tile,) = list(grid)
    out = extract_tile(page, tile, 8)
    assert out.shape == (8, 8, 1)
    np.testing.assert_array_equal(out[:3, :4], page)
    np.testing.assert_array_equal(out[:3, 4], page[:, 2])  # mirrored, edge not repeated


def test_invalid_overlap_is_a_clear_error():
    with pytest.raises(ValueError, match="under half the tile"):
        TileGrid.cover(100, 100, 32, 16)


# ---------------------------------------------------------------------- identity


@given(
    seed=st.integers(0, 2**16),
    width=st.integers(20, 300),
    height=st.integers(20, 300),
    tile=tile_params,
    rgb=st.booleans(),
    blank_share=st.sampled_from([0.0, 0.3, 0.7]),
    skip_blank=st.booleans(),
    batch=st.integers(1, 5),
)
@FAST
def test_identity_like_restorer_reproduces_the_page_exactly(
    seed, width, height, tile, rgb, blank_share, skip_blank, batch
):
    array = random_page(seed, width, height, rgb, blank_share)
    size, overlap = tile
    restorer = Recorder()
    result = run(
        array, restorer, tile_size=size, overlap=overlap, batch_size=batch, skip_blank=skip_blank
    )
    out = pixels(result)
    assert out.dtype == np.uint8 and out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    assert result.page.image.mode == ("RGB" if rgb else "L")
    assert result.page.to_original.is_identity
    c = result.counters
    assert c["tiles_total"] == len(TileGrid.cover(width, height, size, overlap))
    assert c["tiles_restored"] + c["tiles_skipped"] == c["tiles_total"]
    assert c["tiles_restored"] == sum(len(b) for b in restorer.batches)
    assert all(len(b) <= batch for b in restorer.batches)
    if not skip_blank:
        assert c["tiles_skipped"] == 0


# ---------------------------------------------------------------------- upscaling


@given(
    seed=st.integers(0, 2**16),
    width=st.integers(20, 120),
    height=st.integers(20, 120),
    size=st.integers(24, 48),
    overlap_share=st.floats(0.0, 1.0),
    scale=st.sampled_from([2, 3, 4]),
    mode=st.sampled_from(["bicubic", "bilinear", "nearest"]),
    rgb=st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_tiled_upsampling_equals_upsampling_the_whole_page(
    seed, width, height, size, overlap_share, scale, mode, rgb
):
    # An overlap of 8+ leaves 2+ px of context at tile edges: a bicubic kernel's reach.
    overlap = 8 + int(overlap_share * ((size - 1) // 2 - 8))
    # Blank tiles are upsampled bicubically by the framework: give this kernel some.
    # Other kernels must see every tile: noise is not reliably "not blank" (on an
    # RGB noise page, luma averages the channels and the 3×3 blur the pixels, so
    # now and then a tile stays within the detector's ±40 and is skipped).
    bicubic = mode == "bicubic"
    array = random_page(seed, width, height, rgb, 0.4 if bicubic else 0.0)
    result = run(array, Upsampler(scale, mode), tile_size=size, overlap=overlap, skip_blank=bicubic)
    out = pixels(result).astype(np.int16)

    chw = array[None, None] if not rgb else array.transpose(2, 0, 1)[None]
    whole = upsample(chw.astype(np.float32) / 255, scale, mode)
    expected = np.clip(np.floor(whole[0] * 255 + 0.5), 0, 255).astype(np.int16)
    expected = expected[0] if not rgb else expected.transpose(1, 2, 0)
    assert out.shape == expected.shape == (height * scale, width * scale, *array.shape[2:])
    border = 3 * scale  # the page border: tiles mirror the page, the kernel clamps
    diff = np.abs(out - expected)[border:-border, border:-border]
    assert diff.max() <= 1
    # Restored pixels map back to the page exactly.
    corner = result.page.to_original.point((width * scale, height * scale))
    assert corner == pytest.approx((width, height), abs=1e-9)


# ---------------------------------------------------------------------- seams


def _seam_columns(grid: TileGrid) -> np.ndarray:
    """Columns between tiles: the whole overlaps, where blending happens."""
    mask = np.zeros(grid.width - 1, dtype=bool)
    for x in grid.xs[1:]:
        mask[max(0, x - 1) : x + grid.overlap] = True
    return mask


@pytest.mark.parametrize("overlap", [16, 24])
def test_disagreeing_tiles_leave_no_step_on_a_smooth_page(overlap):
    height, width, size = 150, 170, 64
    yy, xx = np.mgrid[0:height, 0:width]
    smooth = 128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    array = np.round(smooth).astype(np.uint8)
    amplitude = 0.1  # offsets within ±0.1: neighbours differ by up to 0.2 (51 levels)

    def max_steps(ov):
        # No ink on this page: every tile must be restored for the check to mean anything.
        result = run(array, Offsetter(amplitude), tile_size=size, overlap=ov, skip_blank=False)
        out = pixels(result) / 255.0
        return np.abs(np.diff(out, axis=1)).max(), np.abs(np.diff(out, axis=0)).max()

    input_step = max(np.abs(np.diff(array / 255.0, axis=a)).max() for a in (0, 1))
    # A raised cosine over the middle half of the overlap has slope <= pi / (2 L).
    ramp = overlap - 2 * (overlap // 4)
    bound = input_step + 2 * amplitude * np.pi / (2 * ramp) + 2 / 255
    blended = max_steps(overlap)
    assert max(blended) <= bound
    # The check can fail: without overlap the tiles meet with a visible step.
    assert max(max_steps(0)) > 2 * bound


def test_seams_are_not_sharper_than_the_inside_of_tiles():
    rng = np.random.default_rng(7)
    height, width, size, overlap = 200, 230, 80, 32
    # Fine texture: small gradients everywhere, like paper grain and strokes.
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), 1.0)
    array = np.clip(150 + 12 * texture / texture.std(), 0, 255).astype(np.uint8)
    grid = TileGrid.cover(width, height, size, overlap)
    seams = _seam_columns(grid)

    def profile(ov):
        # Mean |dx| per column, over five draws of the tiles' offsets: the largest
        # column of a single draw varies by several per cent from draw to draw.
        steps = []
        for seed in range(5):
            restorer = Offsetter(0.15, seed=seed)
            result = run(array, restorer, tile_size=size, overlap=ov, skip_blank=False)
            steps.append(np.abs(np.diff(pixels(result) / 255.0, axis=1)).mean(axis=0))
        return np.mean(steps, axis=0)

    blended = profile(overlap)
    assert blended[seams].mean() <= 1.05 * blended[~seams].mean()
    assert blended[seams].max() <= 1.05 * blended[~seams].max()
    # Without blending the tile borders stand out: the metric does see seams.
    hard = profile(0)
    hard_seams = _seam_columns(TileGrid.cover(width, height, size, 0))
    assert hard[hard_seams].max() > 2 * hard[~hard_seams].max()


# ---------------------------------------------------------------------- spotted words


@given(
    data=st.data(),
    size=st.integers(32, 64),
    scale=st.sampled_from([1, 2]),
    width=st.integers(40, 200),
    height=st.integers(40, 200),
)
@FAST
def test_spotted_words_from_overlapping_tiles_appear_once_at_the_right_place(
    data, size, scale, width, height
):
    overlap = data.draw(st.integers(12, (size - 1) // 2))
    side = data.draw(st.integers(3, overlap - 2))  # a square fits in any overlap
    array = np.full((height, width), 255, np.uint8)
    squares = []
    for _ in range(data.draw(st.integers(1, 3))):
        x = data.draw(st.integers(1, width - side - 1))
        y = data.draw(st.integers(1, height - side - 1))
        if any(abs(x - a) < side + 2 and abs(y - b) < side + 2 for a, b in squares):
            continue  # keep the squares apart
        array[y : y + side, x : x + side] = 0
        squares.append((x, y))
    restorer = MarkSpotter(scale, full_area=side * side)
    result = run(array, restorer, tile_size=size, overlap=overlap)
    spotted = result.spotted
    assert len(spotted) == len(squares)
    got = sorted(w.bbox.as_tuple() for w in spotted)
    want = sorted(
        (float(x * scale), float(y * scale), float((x + side) * scale), float((y + side) * scale))
        for x, y in squares
    )
    assert got == want
    assert all(w.source == "spotter:recorder" and w.text == "mark" for w in spotted)
    assert all(w.confidence == 1.0 and w.polygon is not None for w in spotted)
    # Restored pixels -> page pixels: the square's box maps back onto the square.
    x, y = squares[0]
    match = [w for w in spotted if w.bbox.x0 == x * scale and w.bbox.y0 == y * scale]
    assert result.page.to_original.box(match[0].bbox) == BBox(x0=x, y0=y, x1=x + side, y1=y + side)


def test_near_duplicates_keep_the_more_confident_reading():
    def word(text, conf, x0, y0=10.0):
        box = BBox(x0=x0, y0=y0, x1=x0 + 40, y1=y0 + 12)
        return Word(text=text, confidence=conf, bbox=box, source="spotter:t")

    words = [
        word("Invoice", 0.6, 100),
        word("invoice", 0.9, 103),  # same word, shifted: a duplicate
        word("Invoica", 0.5, 101),  # similar text: a duplicate
        word("Total", 0.7, 102),  # same place, different text: kept
        word("Invoice", 0.8, 300),  # same text elsewhere: kept
        word("Invoice", 0.4, 1000, y0=1000),
    ]
    kept = deduplicate_words(words)
    assert [(w.text, w.confidence) for w in kept] == [
        ("invoice", 0.9),
        ("Total", 0.7),
        ("Invoice", 0.8),
        ("Invoice", 0.4),
    ]


# ---------------------------------------------------------------------- blank tiles


def _text_corner_page(width=300, height=260) -> np.ndarray:
    from PIL import ImageDraw, ImageFont

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 14)
    draw.text((6, 4), "Dear Sir,\nplease find", fill=0, font=font)
    return np.asarray(image).copy()


@pytest.mark.parametrize("rgb", [False, True])
def test_blank_tiles_are_skipped_and_left_untouched(rgb):
    array = _text_corner_page()
    if rgb:
        array = np.repeat(array[..., None], 3, axis=2)
    size, overlap = 48, 12
    restorer = Darkener()
    result = run(array, restorer, tile_size=size, overlap=overlap)
    out = pixels(result)
    grid = TileGrid.cover(array.shape[1], array.shape[0], size, overlap)
    page3 = array if rgb else array[..., None]
    # Tiles with clear ink must be restored; tiles of pure white must not be.
    inked = [t for t in grid if (extract_tile(page3, t, size) < 128).any()]
    tinted = [t for t in grid if (extract_tile(page3, t, size) < 255).any()]
    c = result.counters
    assert c["tiles_total"] == len(grid) == 56
    assert len(inked) <= c["tiles_restored"] <= len(tinted) <= 8
    assert c["tiles_skipped"] == len(grid) - c["tiles_restored"]
    # The restorer never saw a tile without ink.
    received = np.concatenate(restorer.batches)
    assert len(received) == c["tiles_restored"]
    assert all(tile.min() < 0.5 for tile in received)
    # Pixels no restored tile covers are the input's, exactly.
    touched = np.zeros(array.shape[:2], dtype=bool)
    for t in tinted:
        touched[t.y : t.y + size, t.x : t.x + size] = True
    np.testing.assert_array_equal(out[~touched], array[~touched])
    # ...and restored tiles did change their part.
    assert (out[touched] != array[touched]).any()


def test_noisy_paper_margins_are_still_blank():
    rng = np.random.default_rng(1)
    array = _text_corner_page(200, 200).astype(np.float64)
    array = np.clip(array * 0.94 + rng.normal(0, 5, array.shape), 0, 255).astype(np.uint8)
    result = run(array, Recorder(), tile_size=40, overlap=8)
    assert result.counters["tiles_skipped"] >= result.counters["tiles_total"] // 2
    np.testing.assert_array_equal(pixels(result), array)


# ---------------------------------------------------------------------- out of memory


def _onnxruntime_allocation_failure() -> type[BaseException]:
    from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

    class Failure(RuntimeException):  # what onnxruntime raises: no MemoryError
        def __init__(self, message: str) -> None:
            super().__init__("Failed to allocate memory for requested buffer of size 1073741824")

    return Failure


def _torch_out_of_memory() -> type[BaseException]:
    return pytest.importorskip("torch").OutOfMemoryError


@pytest.mark.parametrize(
    "error",
    [
        lambda: RuntimeError,
        lambda: MemoryError,
        _torch_out_of_memory,
        _onnxruntime_allocation_failure,
    ],
    ids=["RuntimeError", "MemoryError", "torch", "onnxruntime"],
)
def test_out_of_memory_halves_the_batch(error):
    error = error()
    array = random_page(3, 200, 150, rgb=True, blank_share=0.0)
    restorer = OutOfMemory(limit=2, error=error)
    result = run(array, restorer, tile_size=32, overlap=8)
    np.testing.assert_array_equal(pixels(result), array)
    c = result.counters
    assert c["oom_retries"] == 2  # 8 -> 4 -> 2, then 2 for the rest of the page
    assert restorer.attempts[:3] == [8, 4, 2]
    assert all(len(b) <= 2 for b in restorer.batches)
    assert c["tiles_restored"] == c["tiles_total"] == len(TileGrid.cover(200, 150, 32, 8))
    assert c["batches"] == len(restorer.batches)


def test_out_of_memory_on_a_single_tile_is_raised():
    restorer = OutOfMemory(limit=0)
    with pytest.raises(RuntimeError, match="out of memory"):
        run(random_page(1, 64, 64, False, 0.0), restorer, tile_size=32, overlap=8)
    assert restorer.attempts == [8, 4, 2, 1]


def test_other_restorer_errors_are_not_retried():
    class Broken(Recorder):
        def restore(self, tiles):
            raise RuntimeError("CUDA error: device-side assert triggered")

    with pytest.raises(RuntimeError, match="device-side assert"):
        run(random_page(1, 64, 64, False, 0.0), Broken(), tile_size=32, overlap=8)


# ---------------------------------------------------------------------- contract


@pytest.mark.parametrize(
    ("images", "words", "message"),
    [
        (lambda t: t[:, :, :-1], None, "shape"),
        (lambda t: t[:1], None, "shape"),
        (lambda t: t * float("nan"), None, "NaN"),
        (lambda t: t, lambda n: [[]] * (n + 1), "words for"),
    ],
)
def test_restorer_breaking_the_contract_is_a_plugin_error(images, words, message):
    class Bad(Recorder):
        def restore(self, tiles):
            w = words(len(tiles)) if words else [[] for _ in tiles]
            return RestoredTiles(images=images(tiles), words=w)

    with pytest.raises(PluginError, match=message):
        run(random_page(1, 64, 64, False, 0.0), Bad(), tile_size=32, overlap=8)


def test_restorer_returning_other_arrays_is_a_plugin_error():
    class ListReturner(Recorder):
        def restore(self, tiles):
            return RestoredTiles(images=tiles.tolist(), words=[[] for _ in tiles])

    with pytest.raises(PluginError, match="numpy array"):
        run(random_page(1, 64, 64, False, 0.0), ListReturner(), tile_size=32, overlap=8)


class GrayRecorder(Recorder):
    """A 1-channel restorer that returns its gray tiles darkened."""

    channels = 1

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        assert tiles.shape[1] == 1 and tiles.dtype == np.float32
        return tiles * 0.5


@pytest.mark.parametrize("rgb", [False, True])
def test_gray_restorers_get_one_channel_tiles(rgb):
    """A 1-channel restorer gets N×1×H×W batches: a gray page's own values (never
    replicated to three channels and reduced again), an RGB page's BT.601 luma; its
    gray output is written to every channel of an RGB page."""
    array = random_page(4, 90, 70, rgb=rgb, blank_share=0.0)
    restorer = GrayRecorder()
    result = run(array, restorer, tile_size=32, overlap=8, skip_blank=False)
    assert restorer.batches and all(b.shape[1:] == (1, 32, 32) for b in restorer.batches)
    first = restorer.batches[0][0, 0]  # the top-left tile: no padding
    if rgb:
        luma = array[:32, :32] @ np.array([0.299, 0.587, 0.114]) / 255
        assert np.abs(first - luma).max() < 1e-6
    else:
        assert np.array_equal(first, array[:32, :32].astype(np.float32) / 255)
    out = pixels(result).astype(np.int16)
    gray = np.asarray(make_page(array).image.convert("L"), np.int16) if rgb else array
    assert result.page.image.mode == ("RGB" if rgb else "L")
    if rgb:
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
        out = out[..., 0]
    assert np.abs(out - np.floor(gray * 0.5 + 0.5)).max() <= 1


def test_three_channel_restorers_get_gray_pages_replicated():
    array = random_page(5, 60, 50, rgb=False, blank_share=0.0)
    restorer = Recorder()
    assert restorer.channels == 3
    result = run(array, restorer, tile_size=32, overlap=8, skip_blank=False)
    batch = restorer.batches[0]
    assert batch.shape[1] == 3 and batch.dtype == np.float32
    assert np.array_equal(batch[:, 0], batch[:, 1]) and np.array_equal(batch[:, 0], batch[:, 2])
    np.testing.assert_array_equal(pixels(result), array)


@pytest.mark.parametrize("channels", [0, 2, 4, True])
def test_restorer_declaring_other_channels_is_a_plugin_error(channels):
    restorer = Recorder()
    restorer.channels = channels  # type: ignore[misc]
    with pytest.raises(PluginError, match="channels"):
        run(random_page(1, 64, 64, False, 0.0), restorer, tile_size=32, overlap=8)


def test_bicubic_blank_tiles_match_torch_interpolation():
    """The framework upsamples blank tiles itself, with numpy: torch's bicubic
    ``interpolate(align_corners=False)`` is the reference it reproduces."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape, scale in (((3, 40, 24), 2), ((1, 7, 5), 3), ((1, 1, 3), 4)):
        tile = rng.random(shape, dtype=np.float32)
        reference = torch.nn.functional.interpolate(
            torch.from_numpy(tile)[None], scale_factor=scale, mode="bicubic", align_corners=False
        )[0].clamp(0, 1)
        assert np.abs(upsample_tile(tile, scale) - reference.numpy()).max() < 1e-5
