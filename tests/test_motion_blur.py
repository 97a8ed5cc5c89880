"""Camera shake: the motion blur estimate and its deconvolution."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tair_ocr.motion_blur import (
    MIN_STRENGTH,
    MotionBlur,
    anisotropy,
    deblur,
    deblur_image,
    estimate_motion_blur,
    motion_kernel,
)
from tair_ocr.page_analysis import PageAnalysis


def glyph_page(seed: int = 0, size: tuple[int, int] = (700, 900)) -> np.ndarray:
    """A page of text-like ink (uint8): rows of letter-sized strokes and bowls of
    varied widths, spaced like words, on white paper."""
    rng = np.random.default_rng(seed)
    h, w = size
    page = np.full((h, w), 255, np.uint8)
    for top in range(30, h - 40, 36):
        x = 30
        while x < w - 60:
            for _ in range(int(rng.integers(2, 8))):  # a word's letters
                kind = rng.integers(3)
                tall = 22 if rng.random() < 0.3 else 14
                y0 = top + 22 - tall
                if kind == 0:  # a stem
                    cv2.rectangle(page, (x, y0), (x + 2, top + 21), 0, -1)
                    x += 6
                elif kind == 1:  # a bowl
                    cv2.ellipse(page, (x + 5, top + 15), (5, 7), 0, 0, 360, 0, 2)
                    x += 13
                else:  # an arch
                    cv2.ellipse(page, (x + 5, top + 15), (5, 7), 0, 180, 360, 0, 2)
                    cv2.rectangle(page, (x, top + 15), (x + 2, top + 21), 0, -1)
                    cv2.rectangle(page, (x + 8, top + 15), (x + 10, top + 21), 0, -1)
                    x += 13
            x += int(rng.integers(10, 16))  # a space
    return page


def blurred(page: np.ndarray, length: float, angle: float) -> np.ndarray:
    kernel = motion_kernel(length, angle)
    out = cv2.filter2D(page.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def test_the_kernel_is_a_segment_of_the_given_length_and_direction():
    kernel = motion_kernel(10.0, 0.0)
    assert kernel.sum() == pytest.approx(1.0)
    rows = kernel.sum(axis=1)
    assert rows.max() > 0.95  # horizontal: one row holds the motion
    columns = np.flatnonzero(kernel.sum(axis=0) > 0.01)
    assert 10 <= columns.size <= 12
    upright = motion_kernel(10.0, 90.0)
    assert upright.sum(axis=0).max() > 0.95  # vertical: one column
    # Counter-clockwise: at 45° the motion runs up to the right.
    rising = motion_kernel(10.0, 45.0)
    n = rising.shape[0]
    assert rising[n // 2 - 3, n // 2 + 3] > rising[n // 2 + 3, n // 2 + 3]


@pytest.mark.parametrize(
    ("length", "angle"), [(8.0, 0.0), (14.5, 4.0), (12.0, -30.0), (18.0, 70.0), (30.0, 3.0)]
)
def test_a_motion_blur_is_measured_on_the_page(length, angle):
    blur = estimate_motion_blur(blurred(glyph_page(), length, angle))
    assert blur is not None
    assert blur.length == pytest.approx(length, abs=0.6)
    assert blur.angle == pytest.approx(angle, abs=1.5)
    assert blur.strength >= MIN_STRENGTH


def test_a_motion_blur_is_found_through_noise_and_jpeg():
    # Both fill the spectrum's zeros and weaken the cepstral dip; the page is still
    # clearly smeared along it.
    shaken = blurred(glyph_page(5), 14.0, 2.0)
    rng = np.random.default_rng(5)
    noisy = np.clip(shaken + rng.normal(0, 10, shaken.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(shaken).save(buffer, "JPEG", quality=60)
    compressed = np.asarray(Image.open(buffer).convert("L"))
    # (JPEG's 8-px blocks pull the length of this small page's dip by 1.5 px.)
    for page, slack in ((noisy, 0.8), (compressed, 1.6)):
        blur = estimate_motion_blur(page)
        assert blur is not None
        assert blur.length == pytest.approx(14.0, abs=slack) and abs(blur.angle - 2.0) <= 2.5


def test_no_motion_blur_is_found_on_sharp_defocused_noisy_or_blank_pages():
    page = glyph_page(1)
    assert estimate_motion_blur(page) is None
    assert estimate_motion_blur(cv2.GaussianBlur(page, (0, 0), 2.5)) is None
    rng = np.random.default_rng(2)
    noisy = np.clip(page + rng.normal(0, 20, page.shape), 0, 255).astype(np.uint8)
    assert estimate_motion_blur(noisy) is None
    assert estimate_motion_blur(np.full((600, 600), 250, np.uint8)) is None
    assert estimate_motion_blur(page[:100, :100]) is None  # too small to measure


def test_a_short_blur_is_not_reported():
    page = blurred(glyph_page(), 3.0, 0.0)
    assert estimate_motion_blur(page) is None
    found = estimate_motion_blur(page, min_length=0.0, min_strength=0.0, max_anisotropy=None)
    assert found is not None and found.length < 4.5


def test_sharp_blocks_are_no_blur():
    # Blocks of a few widths make a cepstral dip of their own, far stronger than a
    # blur's on a page this empty; but nothing on the page is smeared.
    page = np.full((400, 400), 255, np.uint8)
    for top in (30, 330):
        for x0, x1 in ((10, 130), (145, 175), (190, 265)):
            page[top : top + 30, x0:x1] = 0
    dip = estimate_motion_blur(page, max_anisotropy=None)
    assert dip is not None and dip.strength > 10 * MIN_STRENGTH
    assert anisotropy(page, dip.angle) > 0.9
    assert estimate_motion_blur(page) is None
    shaken = blurred(glyph_page(), 10.0, 20.0)
    assert anisotropy(shaken, 20.0) < 0.5 < anisotropy(shaken, 110.0 - 180.0)


def test_deconvolution_brings_the_sharp_page_back():
    sharp = glyph_page(3)
    shaken = blurred(sharp, 14.0, 3.0)
    blur = estimate_motion_blur(shaken)
    assert blur is not None
    restored = deblur(shaken, blur)
    assert restored.dtype == np.uint8 and restored.shape == sharp.shape

    def error(image: np.ndarray) -> float:
        return float(np.abs(image.astype(float) - sharp).mean())

    assert error(restored) < 0.75 * error(shaken)
    # Ink and paper come apart again: a threshold finds the letters.
    ink = sharp < 128
    assert ((restored < 128) == ink).mean() > 0.95 > ((shaken < 128) == ink).mean() + 0.05


def test_a_page_is_deconvolved_in_bands_as_if_whole(monkeypatch):
    import tair_ocr.motion_blur as motion_blur

    shaken = blurred(glyph_page(4), 12.0, 10.0)
    blur = MotionBlur(length=12.0, angle=10.0, strength=100.0)
    whole = deblur(shaken, blur)
    monkeypatch.setattr(motion_blur, "BAND", 96)  # 700 rows: 8 bands, the last short
    banded = deblur(shaken, blur)
    assert np.abs(banded.astype(int) - whole).max() <= 1


def test_a_page_image_keeps_its_mode_and_size():
    shaken = Image.fromarray(blurred(glyph_page(), 12.0, 0.0)).convert("RGB")
    blur = MotionBlur(length=12.0, angle=0.0, strength=100.0)
    out = deblur_image(shaken, blur)
    assert out.mode == "RGB" and out.size == shaken.size
    # The luminance a page's analysis already holds gives the same page.
    measured = PageAnalysis(shaken).gray
    assert np.array_equal(np.asarray(deblur_image(shaken, blur, measured)), np.asarray(out))


def test_the_page_analysis_measures_it_once():
    analysis = PageAnalysis(Image.fromarray(blurred(glyph_page(), 12.0, 0.0)))
    blur = analysis.motion_blur
    assert blur is not None and blur.length == pytest.approx(12.0, abs=0.6)
    assert analysis.motion_blur is blur
