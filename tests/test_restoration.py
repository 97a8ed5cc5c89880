"""The restoration stage as a whole: working scale, exact coordinate maps,
restorer selection, the pipeline around it, and memory on large pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.components import Availability, RestoredTiles, Restorer
from tair_ocr.errors import PluginError, UsageError
from tair_ocr.page import Page
from tair_ocr.pipeline import Pipeline
from tair_ocr.plugins import Registry, hookimpl
from tair_ocr.restoration import restore_page
from tair_ocr.restorers import selection
from tair_ocr.restorers.selection import choose_restorer
from tair_ocr.results import BBox
from tair_ocr.working_scale import (
    MIN_X_HEIGHT,
    TARGET_X_HEIGHT,
    TextSize,
    auto_scale,
    choose_scale,
    estimate_text_size,
    resample,
)

from .conftest import requires_tesseract

SERIF = "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"
SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXT = (
    "The committee reviewed the annual figures, quarterly margins and several "
    "pending invoices before the meeting closed in March"
)


def render(font_size: int, *, font: str = SERIF, lines: int = 10, mode: str = "L") -> Image.Image:
    """A page of running text in ``font`` at ``font_size`` px."""
    face = ImageFont.truetype(font, font_size)
    width = int(font_size * 30)
    image = Image.new(mode, (width, int(font_size * (2 + 1.5 * lines))), "white")
    draw = ImageDraw.Draw(image)
    for i in range(lines):
        start = (i * 13) % 50
        draw.text((font_size, font_size + i * 1.5 * font_size), TEXT[start:], font=face, fill=0)
    return image


def make_page(image: Image.Image) -> Page:
    return Page(source=Path("test.png"), index=0, image=image, dpi=300.0)


class Copy(Restorer):
    """Returns tiles unchanged; records the page hint and the batches."""

    name = "copy"
    tile_size = 256
    batch_size = 8

    def __init__(self, scale: int = 1) -> None:
        self.scale = scale  # type: ignore[misc]
        self.hints: list[np.ndarray] = []
        self.calls = 0

    def restore_page_hint(self, page: np.ndarray) -> None:
        self.hints.append(page)

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.calls += 1
        if self.scale > 1:
            tiles = tiles.repeat(self.scale, axis=2).repeat(self.scale, axis=3)
        return RestoredTiles(images=tiles.copy(), words=[[] for _ in tiles])


class Identity(Copy):
    name = "none"
    is_identity = True


# ---------------------------------------------------------------------- working scale


def test_small_text_is_enlarged():
    # Liberation Serif at 12 px: x-height 6 px, far below what OCR reads well.
    scale, text = auto_scale(render(12))
    assert 5 <= text.x_height <= 7 and 8 <= text.cap_height <= 10
    assert scale == pytest.approx(TARGET_X_HEIGHT / text.x_height)
    assert 3 < scale <= 4


def test_normal_300_dpi_text_is_left_alone():
    # 11 pt at 300 dpi is 46 px: x-height about 21 px.
    for font in (SERIF, SANS):
        scale, text = auto_scale(render(46, font=font))
        assert text.x_height >= MIN_X_HEIGHT
        assert scale == 1.0


def test_all_capitals_are_measured_by_their_height():
    face = ImageFont.truetype(SANS, 16)
    image = Image.new("L", (700, 300), "white")
    draw = ImageDraw.Draw(image)
    for i in range(8):
        draw.text((10, 10 + 30 * i), "INVOICE 2024 TOTAL DUE 4,125.00 EUR", font=face, fill=0)
    text = estimate_text_size(image)
    assert 10 <= text.cap_height <= 13
    assert text.x_height == pytest.approx(0.7 * text.cap_height)


def test_pages_without_text_keep_their_size():
    rng = np.random.default_rng(0)
    blank = Image.new("L", (400, 300), 250)
    noisy = Image.fromarray(np.clip(rng.normal(235, 4, (300, 400)), 0, 255).astype(np.uint8))
    ruled = Image.new("L", (400, 300), "white")
    ImageDraw.Draw(ruled).rectangle((20, 20, 380, 280), outline=0, width=2)
    for image in (blank, noisy, ruled):
        scale, text = auto_scale(image)
        assert not text.found and scale == 1.0


def test_specks_and_rules_do_not_change_the_estimate():
    clean = estimate_text_size(render(14))
    image = np.asarray(render(14)).copy()
    rng = np.random.default_rng(2)
    ys, xs = rng.integers(0, image.shape[0], 400), rng.integers(0, image.shape[1], 400)
    image[ys, xs] = 0  # salt noise
    image[5:7, :] = 0  # a rule
    image[:, 3:5] = 0
    noisy = estimate_text_size(image)
    assert noisy.x_height == pytest.approx(clean.x_height, abs=1)


def test_choose_scale_limits():
    assert choose_scale(TextSize(0, 0, 0)) == 1.0
    assert choose_scale(TextSize(2.0, 3.0, 50)) == 4.0
    assert choose_scale(TextSize(MIN_X_HEIGHT, 22, 50)) == 1.0
    assert choose_scale(TextSize(100.0, 140.0, 50)) == 1.0  # never shrinks


@pytest.mark.parametrize("factor", [1.37, 2.0, 2.9, 0.6])
def test_resample_records_the_exact_transform(factor):
    image = Image.new("L", (101, 67), 255)
    ImageDraw.Draw(image).rectangle((30, 20, 49, 39), fill=0)  # pixels 30..49 -> [30, 50)
    out, to_previous = resample(image, factor)
    assert out.size == (round(101 * factor), round(67 * factor))
    # Corners map exactly.
    assert to_previous.point((out.width, out.height)) == pytest.approx((101, 67), abs=1e-9)
    # The square's ink centroid lands back on the square's centre (pixel edges
    # 30..50 -> 40.0): a half-pixel convention error would show here.
    ink = 255.0 - np.asarray(out, dtype=np.float64)
    ys, xs = np.mgrid[0 : out.height, 0 : out.width] + 0.5  # pixel centres
    cx, cy = (xs * ink).sum() / ink.sum(), (ys * ink).sum() / ink.sum()
    x, y = to_previous.point((cx, cy))
    assert x == pytest.approx(40.0, abs=0.05) and y == pytest.approx(30.0, abs=0.05)


# ---------------------------------------------------------------------- restore_page


def test_auto_scale_maps_boxes_back_exactly():
    image = render(12, mode="RGB")
    restorer = Copy()
    result = restore_page(make_page(image), restorer)
    factor = result.scale
    assert factor > 3
    work = result.page
    assert work.image.size == (
        round(image.width * factor),
        round(image.height * factor),
    )
    assert work.image.mode == "RGB"
    corner = work.to_original.point((work.width, work.height))
    assert corner == pytest.approx((image.width, image.height), abs=1e-9)
    assert work.working_dpi == pytest.approx(300 * factor, rel=0.01)
    # The restorer saw the working page once, as H×W×3 uint8.
    (hint,) = restorer.hints
    assert hint.shape == (work.height, work.width, 3) and hint.dtype == np.uint8
    c = result.counters
    assert c["tiles_total"] == c["tiles_restored"] + c["tiles_skipped"] > 0
    assert set(result.timings) == {"prepare", "restore"}


def test_an_upscaling_restorer_gets_the_rest_of_the_scale():
    image = render(12)
    target, _ = auto_scale(image)
    restorer = Copy(scale=2)
    result = restore_page(make_page(image), restorer)
    assert result.scale == pytest.approx(target)
    # The page was resampled by target / 2, then the restorer doubled it.
    pre = (round(image.width * target / 2), round(image.height * target / 2))
    assert result.page.image.size == (pre[0] * 2, pre[1] * 2)
    corner = result.page.to_original.point(result.page.image.size)
    assert corner == pytest.approx(image.size, abs=1e-9)


def test_a_fixed_scale_overrides_the_estimate():
    image = render(46)  # would stay at 1.0
    result = restore_page(make_page(image), Copy(), scale=1.5)
    assert result.scale == 1.5
    assert result.page.image.size == (round(image.width * 1.5), round(image.height * 1.5))


def test_an_identity_restorer_only_scales():
    image = render(12)
    restorer = Identity()
    result = restore_page(make_page(image), restorer, scale=2.5)
    assert restorer.calls == 0 and not restorer.hints
    assert result.page.image.size == (round(image.width * 2.5), round(image.height * 2.5))
    assert result.counters["tiles_total"] == 0 and result.spotted == []
    same = restore_page(make_page(image), restorer, scale=1.0)
    assert same.page.image is image and same.page.to_original.is_identity


def test_other_image_modes_are_normalised():
    image = render(20).convert("1")
    result = restore_page(make_page(image), Copy(), scale=1.0)
    assert result.page.image.mode == "L"
    np.testing.assert_array_equal(np.asarray(result.page.image), np.asarray(image.convert("L")))


def test_bad_settings_are_clear_errors():
    page = make_page(render(20))
    with pytest.raises(UsageError, match="Mpx"):
        restore_page(page, Copy(), scale=8.0 * 40)
    with pytest.raises(UsageError, match="overlap"):
        restore_page(page, Copy(), scale=1.0, tile_size=64, overlap=40)

    class Fractional(Copy):
        scale = 1.5  # type: ignore[assignment]

        def __init__(self) -> None:
            self.hints = []

    with pytest.raises(PluginError, match="scale"):
        restore_page(page, Fractional(), scale=1.0)


# ---------------------------------------------------------------------- auto restorer


class Fake(Restorer):
    def __init__(self, name: str, ok: bool = True, reason: str = "") -> None:
        self.name = name  # type: ignore[misc]
        self._availability = Availability(ok, reason)

    def availability(self) -> Availability:
        return self._availability

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        return RestoredTiles(images=tiles)


def registry(*restorers: Restorer) -> Registry[Restorer]:
    reg: Registry[Restorer] = Registry("restorer")
    for r in restorers:
        reg.add(r, "test")
    return reg


def test_auto_prefers_terediff_on_a_gpu(monkeypatch):
    monkeypatch.setattr(selection, "_cuda_available", lambda: True)
    reg = registry(Fake("none"), Fake("classical"), Fake("cleaner"), Fake("terediff"))
    restorer, why = choose_restorer(reg)
    assert restorer.name == "terediff" and "skipped" not in why


def test_auto_skips_what_cannot_run_and_says_why(monkeypatch):
    monkeypatch.setattr(selection, "_cuda_available", lambda: False)
    reg = registry(
        Fake("none"),
        Fake("classical"),
        Fake("cleaner", ok=False, reason="weights not found"),
        Fake("terediff"),
    )
    restorer, why = choose_restorer(reg)
    assert restorer.name == "classical"
    assert "terediff: no CUDA device" in why and "cleaner: weights not found" in why


def test_auto_falls_back_to_no_restoration(monkeypatch):
    monkeypatch.setattr(selection, "_cuda_available", lambda: False)

    class Raising(Fake):
        def availability(self) -> Availability:
            raise OSError("driver exploded")

    restorer, why = choose_restorer(registry(Fake("none"), Raising("classical")))
    assert restorer.name == "none"
    assert "terediff: not installed" in why and "driver exploded" in why
    # Even when "none" itself was blocked.
    restorer, _ = choose_restorer(registry())
    assert restorer.name == "none" and restorer.is_identity


# ---------------------------------------------------------------------- pipeline


class CopyPlugin:
    @hookimpl
    def register_restorers(self) -> list[Restorer]:
        return [Copy()]


@requires_tesseract
def test_pipeline_reads_small_text_at_the_working_scale():
    """Small text is enlarged for OCR, and word boxes come back in page pixels.
    (``restore="always"``: the whole page is restored and re-read at the working
    scale; in ``auto`` only the unsure regions are.)"""
    face = ImageFont.truetype(SERIF, 13)  # x-height ~6 px: too small as loaded
    image = Image.new("L", (420, 60), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 20), "Quarterly report for the district", font=face, fill=0)
    boxes = {}
    x = 10.0
    for word in ("Quarterly", "report", "for", "the", "district"):
        boxes[word] = draw.textbbox((x, 20), word, font=face)
        x += draw.textlength(word + " ", font=face)
    pipeline = Pipeline(
        engine="tesseract",
        restorer="copy",
        plugins=[CopyPlugin()],
        autoload=False,
        output_types=[],
        fusion="off",
        restore="always",
    )
    page = pipeline.run(image).pages[0]
    assert page.ok, page.error
    assert page.scale > 2 and page.counters["tiles_total"] > 0
    assert page.decision is not None and page.decision.tiles_restored > 0
    words = list(page.words())
    assert [w.text for w in words] == list(boxes)
    for w in words:
        x0, y0, x1, y1 = boxes[w.text]
        assert abs(w.bbox.x0 - x0) <= 2 and abs(w.bbox.x1 - x1) <= 2
        assert w.bbox.y1 <= y1 + 2 and w.bbox.y0 >= y0 - 3


# ---------------------------------------------------------------------- memory


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, time
    import numpy as np
    from pathlib import Path
    from PIL import Image
    from tair_ocr.components import Restorer, RestoredTiles
    from tair_ocr.page import Page
    from tair_ocr.restoration import restore_page

    class Invert(Restorer):
        name = "invert"
        batch_size = 8
        def restore(self, tiles):
            return RestoredTiles(images=1.0 - tiles, words=[[] for _ in tiles])

    def rss_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize() / 2**20

    w, h = 5000, 7000
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 50, w // 50), dtype=np.uint8)
    image = Image.fromarray(small).resize((w, h), Image.Resampling.NEAREST)
    del small
    page = Page(source=Path("big.png"), index=0, image=image, dpi=600)
    # Warm up the allocator on a small page: only the page counts.
    warm = Page(source=Path("warm.png"), index=0, image=image.crop((0, 0, 1200, 1200)), dpi=600)
    restore_page(warm, Invert(), scale=1.0)
    before = rss_mb()
    started = time.perf_counter()
    result = restore_page(page, Invert(), scale=1.0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = bool((np.asarray(result.page.image)[::97, ::89]
               == 255 - np.asarray(image)[::97, ::89]).all())
    print(json.dumps({"page_mb": w * h / 2**20, "before_mb": before, "peak_mb": peak,
                      "seconds": seconds, "counters": result.counters, "ok": ok}))
    """
)


@pytest.mark.slow
def test_large_pages_are_restored_in_bounded_memory():
    """A 5000×7000 gray page (35 MB): the tile stage streams; it holds the input,
    the output and a few tile rows of float accumulators, not float copies of the
    page."""
    # A fixed mmap threshold makes glibc return big freed blocks at once, so the
    # peak measures what the tile stage allocates, not the allocator's slack
    # (which adds 50-100 MB here with glibc's default dynamic threshold).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True, env=env
    )
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    print(stats)
    assert stats["ok"]
    assert stats["counters"]["tiles_restored"] == stats["counters"]["tiles_total"] == 12 * 16
    # The input and output arrays (2 pages) and, independent of the page size, a
    # batch of 8 float tiles in and out (~50 MB) and a few strips of accumulators
    # (~20 MB each here). Full-page float accumulators alone would be 8 pages.
    assert stats["peak_mb"] - stats["before_mb"] < 4 * stats["page_mb"] + 100


def test_binary_pages_keep_their_resolution_unless_text_is_tiny() -> None:
    from tair_ocr.working_scale import MIN_BINARY_X_HEIGHT, auto_scale, is_binary
    from tair_workbench.synthetic import render_page

    gray = render_page(seed=5, size=(4.0, 3.0), dpi=200, font_pt=9.0).image.convert("L")
    factor, text = auto_scale(gray)
    assert factor > 1.0 and text.x_height >= MIN_BINARY_X_HEIGHT  # small anti-aliased text
    bilevel = gray.point(lambda v: 255 if v > 160 else 0)
    assert is_binary(np.asarray(bilevel))
    assert auto_scale(bilevel)[0] == 1.0  # same text size, but a fax-like page
    tiny = render_page(seed=5, size=(4.0, 3.0), dpi=100, font_pt=7.0).image.convert("L")
    tiny_bilevel = tiny.point(lambda v: 255 if v > 160 else 0)
    assert auto_scale(tiny_bilevel)[0] > 1.0  # below a 10 px x-height: enlarged anyway


class Inverter(Copy):
    """Inverts the tiles it gets, so restored regions differ from the input."""

    tile_size = 512

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.calls += 1
        return RestoredTiles(images=1.0 - tiles, words=[[] for _ in tiles])


def _letter_scan_pages() -> list[Image.Image]:
    import pymupdf

    samples = Path(__file__).resolve().parents[1] / "samples"
    pages = []
    with pymupdf.open(samples / "letter_scan.pdf") as doc:
        for pdf_page in doc:
            pix = pdf_page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
            pages.append(Image.frombytes("L", (pix.width, pix.height), pix.samples))
    return pages


def test_only_tiles_meeting_the_regions_are_restored():
    image = render(30, lines=20)  # 900×960: four 512 px tiles, text in each
    page = make_page(image)
    box = BBox(x0=40, y0=40, x1=200, y1=120)  # inside the first tile's core
    restorer = Inverter()
    result = restore_page(page, restorer, scale=1.0, regions=[box])
    c = result.counters
    assert c["tiles_total"] == 4
    assert c["tiles_restored"] == 1 and c["tiles_kept"] == 3 and c["tiles_skipped"] == 0
    out = np.asarray(result.page.image, np.int16)
    ref = np.asarray(image, np.int16)
    # The box was restored (inverted)...
    np.testing.assert_array_equal(out[40:120, 40:200], 255 - ref[40:120, 40:200])
    # ...and pixels far from it are the page's own.
    np.testing.assert_array_equal(out[600:, 600:], ref[600:, 600:])
    np.testing.assert_array_equal(out[:, 700:], ref[:, 700:])
    # A box across a tile border restores both tiles; no region restores none.
    border = BBox(x0=400, y0=40, x1=560, y1=120)
    assert (
        restore_page(page, Inverter(), scale=1.0, regions=[border]).counters["tiles_restored"] == 2
    )
    none = restore_page(page, Inverter(), scale=1.0, regions=[])
    assert none.counters["tiles_restored"] == 0 and none.counters["tiles_kept"] == 4
    np.testing.assert_array_equal(np.asarray(none.page.image), np.asarray(image))


def test_regions_select_tiles_at_the_working_scale():
    # Regions are in page pixels; tiles in working pixels (here twice as large).
    image = render(30, lines=20)
    box = BBox(x0=40, y0=40, x1=200, y1=120)
    result = restore_page(make_page(image), Inverter(), scale=2.0, regions=[box])
    c = result.counters
    assert c["tiles_total"] > 4 and 0 < c["tiles_restored"] < c["tiles_total"]
    out = np.asarray(result.page.image, np.int16)
    ref = np.asarray(image.resize(result.page.image.size), np.int16)
    # Around the box (working pixels 80..400 × 80..240), the page is inverted;
    # the bottom-right corner is the resampled page.
    assert np.abs(out[100:220, 100:380] - (255 - ref[100:220, 100:380])).mean() < 10
    assert np.abs(out[-300:, -300:] - ref[-300:, -300:]).mean() < 10


def test_blank_tiles_of_the_bundled_letter_scan_are_skipped_and_kept():
    """The bundled scan (a letter, then an invoice table) is a typical text page:
    at least 30 % of its tiles are skipped, and where they are the output is the
    input. (The other samples, a receipt filling a phone photo and a full fax
    page, have ink in nearly every tile.)"""
    skipped = total = 0
    for image in _letter_scan_pages():
        page = Page(source=Path("letter_scan.pdf"), index=0, image=image, dpi=300.0)
        result = restore_page(page, Inverter())
        assert result.scale == 1.0  # 300-dpi text is read as is
        skipped += result.counters["tiles_skipped"]
        total += result.counters["tiles_total"]
        out = np.asarray(result.page.image.convert("L"), np.int16)
        ref = np.asarray(image, np.int16)
        # Skipped regions keep the input exactly (paper stays paper instead of
        # being inverted); restored tiles did change.
        assert (out == ref).mean() >= 0.2
        assert (out == 255 - ref).mean() > 0.2
    assert skipped >= 0.3 * total, (skipped, total)


class Whitener(Copy):
    """Turns every tile it gets into white paper, as paper-whitening restorers do."""

    tile_size = 512
    blank_paper = 1.0

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.calls += 1
        return RestoredTiles(images=np.ones_like(tiles), words=[[] for _ in tiles])


def test_blank_tiles_become_paper_for_restorers_that_whiten_it():
    """Skipped tiles of grey, textured paper are written white for a restorer that
    whitens paper, so they match the restored ones (no patchwork of grey and white
    tiles, which made tesseract drop a column of prices)."""
    rng = np.random.default_rng(3)
    paper = np.clip(200 + rng.normal(0, 4, (1200, 1400)), 0, 255).astype(np.uint8)
    paper[100:130, 100:600] = 30  # ink in the first tiles only
    page = Page(source=Path("x.png"), index=0, image=Image.fromarray(paper), dpi=300.0)
    restorer = Whitener()
    result = restore_page(page, restorer)
    assert 0 < result.counters["tiles_skipped"] < result.counters["tiles_total"]
    assert np.asarray(result.page.image).min() == 255
    # Restorers that do not declare it keep skipped tiles as they are.
    kept = restore_page(page, Inverter())
    assert (np.asarray(kept.page.image)[-200:, -200:] == paper[-200:, -200:]).all()
