"""The ``classical`` restorer: shading, binary pages, the tile contract, and OCR gain."""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.plugins import PluginManager
from tair_ocr.restorers.classical import ClassicalRestorer, analyze_page, is_binary
from tests.conftest import requires_tesseract

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXT = [
    "The quick brown fox jumps over",
    "the lazy dog near the river bank",
    "Invoice 2041 total amount 318.75",
    "paid on the fourth of March 2024",
    "Please keep this receipt safe",
]


def _page(size: tuple[int, int] = (900, 420), font_px: int = 34) -> np.ndarray:
    """A white gray page with a few lines of black anti-aliased text (uint8 H×W)."""
    try:
        font = ImageFont.truetype(FONT, font_px)
    except OSError:
        pytest.skip("DejaVu fonts are not installed")
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(TEXT):
        draw.text((30, 20 + i * int(font_px * 1.5)), line, font=font, fill=0)
    return np.asarray(image)


def _shade(gray: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """Strong uneven lighting: a diagonal gradient plus a dark corner, lower contrast."""
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - strength * (0.6 * xx / w + 0.4 * yy / h)
    light *= 1.0 - 0.3 * np.exp(-((xx - w) ** 2 + (yy - h) ** 2) / (0.15 * w * w))
    out = (40 + 0.8 * gray.astype(np.float32)) * light
    return np.clip(out, 0, 255).astype(np.uint8)


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def _tiles(gray: np.ndarray, size: int = 256, channels: int = 1) -> np.ndarray:
    """Cut a page into non-overlapping size×size tiles (edges padded white):
    N×channels×size×size float32."""
    h, w = gray.shape
    ph, pw = -h % size, -w % size
    padded = np.pad(gray, ((0, ph), (0, pw)), constant_values=255).astype(np.float32) / 255
    tiles = [
        padded[y : y + size, x : x + size]
        for y in range(0, padded.shape[0], size)
        for x in range(0, padded.shape[1], size)
    ]
    return np.repeat(np.stack(tiles)[:, None], channels, axis=1)


def _restore_page(restorer: ClassicalRestorer, gray: np.ndarray) -> np.ndarray:
    """Hint with the page, restore it as one tile; returns gray float [0, 1]."""
    restorer.page_hint(PageAnalysis(_rgb(gray)))
    tile = (gray.astype(np.float32) / 255)[None, None]
    return restorer.restore(tile).images[0, 0]


def test_registered_as_builtin() -> None:
    restorers = PluginManager(autoload=False).restorers
    assert "classical" in restorers
    assert isinstance(restorers.get("classical"), ClassicalRestorer)
    assert restorers.get("classical").availability().ok


def test_shading_is_removed() -> None:
    clean = _page()
    shaded = _shade(clean)
    paper = clean == 255  # pixels that are paper in the clean page
    # Stay away from the text itself: its halo is not background.
    paper &= np.asarray(Image.fromarray(clean).filter(_min_filter(9))) == 255
    restored = _restore_page(ClassicalRestorer(), shaded)
    before = shaded[paper].astype(np.float32).std() / 255
    after = restored[paper].std()
    assert before > 0.1
    assert after < before / 5
    # Paper goes to white, ink stays dark.
    assert restored[paper].mean() > 0.9
    assert restored[clean < 60].mean() < 0.35


def _min_filter(size: int) -> ImageFilter.Filter:
    return ImageFilter.MinFilter(size)


def test_binary_page_passes_through_unchanged() -> None:
    binary = np.where(_page() < 128, 0, 255).astype(np.uint8)
    assert is_binary(binary)
    restorer = ClassicalRestorer()
    restored = _restore_page(restorer, binary)
    assert restorer.page_params is not None and restorer.page_params.binary
    assert np.array_equal(np.round(restored * 255).astype(np.uint8), binary)


def test_binary_page_loses_isolated_specks_but_keeps_punctuation() -> None:
    binary = np.where(_page() < 128, 0, 255).astype(np.uint8)
    specked = binary.copy()
    rng = np.random.default_rng(0)
    # 2×2 specks in the empty right part of the page, far from any letter.
    for y, x in zip(rng.integers(20, 400, 30), rng.integers(800, 880, 30), strict=True):
        specked[y : y + 2, x : x + 2] = 0
    restorer = ClassicalRestorer()
    restored = np.round(_restore_page(restorer, specked) * 255).astype(np.uint8)
    assert restorer.page_params is not None and restorer.page_params.binary
    # Every speck is gone, every letter, period and i-dot of the page is kept.
    assert np.array_equal(restored, binary)


def test_rendered_and_photographed_pages_are_not_binary() -> None:
    clean = _page()
    assert not is_binary(clean)  # anti-aliased edges
    assert not is_binary(_shade(clean))
    assert not analyze_page(clean).binary


def test_faint_ink_is_darkened_and_dark_ink_left_alone() -> None:
    clean = _page().astype(np.float32) / 255
    faint = np.round((0.62 + 0.38 * clean) * 255).astype(np.uint8)  # grey ink at 0.62
    ink = clean < 0.25
    restored = _restore_page(ClassicalRestorer(), faint)
    assert restored[ink].mean() < 0.3
    # Dark ink (a blurred page's grey stroke cores above black) is not stretched.
    dark = np.round((0.2 + 0.8 * clean) * 255).astype(np.uint8)
    restorer = ClassicalRestorer()
    restorer.page_hint(PageAnalysis(_rgb(dark)))
    assert restorer.page_params is not None and restorer.page_params.ink_level == 0.0


def test_sharpening_is_optional() -> None:
    page = _shade(_page())
    plain = _restore_page(ClassicalRestorer(), page)
    sharp = _restore_page(ClassicalRestorer(sharpen=0.8), page)
    assert not np.array_equal(plain, sharp)
    with pytest.raises(ValueError, match="sharpen"):
        ClassicalRestorer(sharpen=-1)


def test_output_contract() -> None:
    restorer = ClassicalRestorer()
    assert restorer.channels == 1
    page = _shade(_page())
    restorer.page_hint(PageAnalysis(_rgb(page)))
    tiles = _tiles(page)
    out = restorer.restore(tiles)
    assert isinstance(out.images, np.ndarray)
    assert out.images.shape == tiles.shape  # scale 1, gray
    assert out.images.dtype == np.float32
    assert float(out.images.min()) >= 0.0 and float(out.images.max()) <= 1.0
    assert out.words == [[] for _ in range(tiles.shape[0])]
    # RGB tiles (callers outside the tile stage) are read as their luma.
    rgb = restorer.restore(_tiles(page, channels=3)).images
    assert rgb.shape == tiles.shape and np.array_equal(rgb, out.images)


def test_batch_equals_single_calls_and_is_deterministic() -> None:
    page = _shade(_page())
    tiles = _tiles(page)
    restorer = ClassicalRestorer()
    restorer.page_hint(PageAnalysis(_rgb(page)))
    batch = restorer.restore(tiles).images
    singles = np.concatenate([restorer.restore(tiles[i : i + 1]).images for i in range(len(tiles))])
    assert np.array_equal(batch, singles)
    other = ClassicalRestorer()
    other.page_hint(PageAnalysis(_rgb(page)))
    assert np.array_equal(other.restore(tiles).images, batch)


def test_clean_page_is_left_nearly_alone() -> None:
    clean = _page()
    restored = _restore_page(ClassicalRestorer(), clean)
    # Mean absolute change below 2 gray levels: only edge sharpening.
    assert np.abs(restored - clean / 255.0).mean() < 2 / 255


def test_tiles_without_a_hint_are_still_restored() -> None:
    page = _shade(_page())
    out = ClassicalRestorer().restore(_tiles(page)).images
    assert out.shape[0] == _tiles(page).shape[0]
    assert float(out.mean()) > page.mean() / 255  # paper brightened


def test_wrong_tile_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="N×1×H×W"):
        ClassicalRestorer().restore(np.zeros((3, 64, 64), np.float32))


@requires_tesseract
def test_classical_improves_ocr_of_a_strongly_shaded_page() -> None:
    from tair_ocr.pipeline import Pipeline

    reference = "\n".join(TEXT)
    shaded = Image.fromarray(_shade(_page(), strength=0.85))
    shaded.info["dpi"] = (300, 300)
    cers = {}
    for restorer in ("none", "classical"):
        with Pipeline(engine="tesseract", restorer=restorer, fusion="off", jobs=1) as pipeline:
            text = " ".join(pipeline.run(shaded).text.split())
            cers[restorer] = jiwer.cer(" ".join(reference.split()), text)
    assert cers["classical"] < cers["none"]
    assert cers["classical"] < 0.05
