"""One page analysis: the whole-page measurements (luminance, binary or not, text
size, ink levels, background) made once per page image and shared by the stages;
the source read and decoded once; outputs planned once."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import tair_ocr.cli
import tair_ocr.engines.tesseract.engine as tesseract_engine
import tair_ocr.engines.tesseract.tables as tesseract_tables
import tair_ocr.loaders.image as image_loader
import tair_ocr.page_analysis as page_analysis
import tair_ocr.pipeline
import tair_ocr.restorers.classical as classical
import tair_ocr.tiling as tiling
import tair_ocr.working_scale as working_scale
from tair_ocr import ExitCode, Pipeline
from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.restoration import restore_page
from tair_ocr.tiling import BlankDetector
from tair_ocr.working_scale import auto_scale, estimate_text_size, is_binary, luminance

from .conftest import SAMPLES, TEST_PLUGINS, requires_tesseract


def _page_image(mode: str = "L", seed: int = 0) -> Image.Image:
    """A page of dark "letters" (small rectangles) on grey paper with some noise."""
    rng = np.random.default_rng(seed)
    gray = np.full((300, 400), 235, np.uint8)
    for y in range(20, 280, 24):
        for x in range(20, 380, 11):
            if rng.random() < 0.8:
                h = 12 if rng.random() < 0.7 else 17
                gray[y + 17 - h : y + 17, x : x + 7] = 30
    gray = np.clip(gray + rng.normal(0, 3, gray.shape), 0, 255).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(gray)
    tint = np.stack([gray, np.clip(gray.astype(int) - 10, 0, 255), gray], axis=2)
    return Image.fromarray(tint.astype(np.uint8), "RGB")


# ---------------------------------------------------------------------- the analysis


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_measurements_are_those_of_the_stage_functions(mode):
    image = _page_image(mode)
    page = PageAnalysis(image)
    gray = luminance(image)
    assert np.array_equal(page.gray, gray) and not page.gray.flags.writeable
    assert page.is_binary == is_binary(gray)
    assert page.text_size == estimate_text_size(image) and page.text_size.found
    assert page.auto_scale() == auto_scale(image)
    assert page.ink_levels is not None and page.paper_level == page.ink_levels.paper
    # The blank detector's page statistics, as it measured them itself.
    histogram = np.bincount(gray.ravel(), minlength=256)
    median = int(np.searchsorted(np.cumsum(histogram), (gray.size + 1) // 2))
    assert page.background.level == median
    spread = np.abs(gray.astype(int) - median)
    mad = int(np.searchsorted(np.cumsum(np.bincount(spread.ravel())), (gray.size + 1) // 2))
    assert page.background.noise == pytest.approx(1.4826 * mad)
    detector = BlankDetector(page)
    assert detector.background == median
    assert detector.delta == BlankDetector(np.asarray(image)).delta


def test_each_measurement_is_made_once(monkeypatch):
    calls: Counter[str] = Counter()
    for name in ("luminance", "is_binary", "estimate_text_size", "ink_levels"):
        real = getattr(page_analysis, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(page_analysis, name, counted)
    page = PageAnalysis(_page_image("RGB"))
    for _ in range(3):
        measured = (page.gray, page.is_binary, page.text_size, page.ink_levels, page.background)
        assert measured[0] is page.gray and page.auto_scale()[1] is page.text_size
    assert calls == {"luminance": 1, "is_binary": 1, "estimate_text_size": 1, "ink_levels": 1}


def test_nothing_is_measured_before_it_is_asked_for(monkeypatch):
    monkeypatch.setattr(page_analysis, "luminance", lambda image: pytest.fail("measured"))
    page = PageAnalysis(_page_image())
    assert (page.width, page.height) == (400, 300)


def test_pixels_of_a_gray_page_are_its_luminance_and_rgb_a_view():
    page = PageAnalysis(_page_image("L"))
    pixels = page.pixels()
    assert pixels.shape == (300, 400, 1) and np.shares_memory(pixels, page.gray)
    rgb = page.rgb()
    assert rgb.shape == (300, 400, 3) and np.shares_memory(rgb, page.gray)
    color = PageAnalysis(_page_image("RGB"))
    assert color.pixels().shape == (300, 400, 3)
    assert np.array_equal(color.rgb(), np.asarray(color.image))


def test_of_and_reuse():
    image = _page_image()
    page = PageAnalysis(image)
    assert PageAnalysis.of(page) is page and PageAnalysis.of(image) is not page
    assert PageAnalysis.reuse(image, page) is page
    other = image.copy()
    assert PageAnalysis.reuse(other, page).image is other
    assert PageAnalysis.reuse(image, None).image is image


# ---------------------------------------------------------------------- restorers' hint


class _Hinted(Restorer):
    name = "hinted"
    tile_size = 128

    def __init__(self) -> None:
        self.hints: list[PageAnalysis] = []

    def page_hint(self, page: PageAnalysis) -> None:
        self.hints.append(page)

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        return RestoredTiles(images=tiles.copy(), words=[[] for _ in tiles])


def test_the_restorer_hint_gets_the_analysis_it_was_given():
    image = _page_image()
    page = Page(source=Path("p.png"), index=0, image=image, dpi=300.0)
    analysis = PageAnalysis(image)
    restorer = _Hinted()
    restore_page(page, restorer, scale=1.0, analysis=analysis)
    assert restorer.hints == [analysis]
    # A page resampled to another scale is other pixels: an analysis of its own.
    restored = restore_page(page, restorer, scale=1.5, analysis=analysis)
    hint = restorer.hints[-1]
    assert hint is not analysis and hint.width == round(400 * 1.5)
    assert restored.page.width == hint.width


def test_restorers_written_for_the_pixel_hint_still_get_pixels():
    class Legacy(_Hinted):
        page_hint = Restorer.page_hint  # the default: forwards to restore_page_hint

        def restore_page_hint(self, page: np.ndarray) -> None:
            self.pixels = page

    restorer = Legacy()
    image = _page_image()
    restore_page(Page(source=Path("p.png"), index=0, image=image, dpi=300.0), restorer, scale=1.0)
    assert restorer.pixels.shape == (300, 400, 3) and restorer.pixels.dtype == np.uint8
    assert np.array_equal(restorer.pixels[..., 1], np.asarray(image))


# ---------------------------------------------------------------------- one page, once


def _digest(array: np.ndarray) -> str:
    return f"{array.shape}:{hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()}"


class _Counts:
    """Counts, by image content, the luminance conversions and binary tests the
    framework makes, the engine's own conversions, and how often the source is
    sniffed, opened and decoded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, source: Path) -> None:
        self.luminance: Counter[str] = Counter()
        self.engine_luminance = 0
        self.recognize = 0
        self.is_binary: Counter[str] = Counter()
        self.sniffed = self.opened = self.decoded = 0
        real_luminance, real_is_binary = working_scale.luminance, working_scale.is_binary

        def conversion(image):
            # A PIL image or an H×W×C array is converted; an H×W array passes through.
            return isinstance(image, Image.Image) or np.asarray(image).ndim == 3

        def framework_luminance(image):
            gray = real_luminance(image)
            if conversion(image):
                self.luminance[_digest(gray)] += 1
            return gray

        def engine_luminance(image):
            self.engine_luminance += conversion(image)
            return real_luminance(image)

        def counted_is_binary(gray):
            self.is_binary[_digest(gray)] += 1
            return real_is_binary(gray)

        for module in (working_scale, page_analysis, tiling):
            monkeypatch.setattr(module, "luminance", framework_luminance)
        for module in (tesseract_engine, tesseract_tables):
            monkeypatch.setattr(module, "luminance", engine_luminance)
        for module in (working_scale, page_analysis, classical):
            monkeypatch.setattr(module, "is_binary", counted_is_binary)

        real_recognize = tesseract_engine.TesseractEngine.recognize

        def recognize(engine, *args, **kwargs):
            self.recognize += 1
            return real_recognize(engine, *args, **kwargs)

        monkeypatch.setattr(tesseract_engine.TesseractEngine, "recognize", recognize)

        real_sniff = image_loader.sniff_format

        def sniff(head):
            self.sniffed += 1
            return real_sniff(head)

        monkeypatch.setattr(image_loader, "sniff_format", sniff)
        real_open, real_load = Image.open, ImageFile.ImageFile.load

        def open_image(fp, *args, **kwargs):
            self.opened += Path(str(fp)) == source
            return real_open(fp, *args, **kwargs)

        def load(image):
            if image.tile and Path(str(getattr(image, "filename", ""))) == source:
                self.decoded += 1
            return real_load(image)

        monkeypatch.setattr(Image, "open", open_image)
        monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.fixture(scope="module")
def default_pipeline() -> Pipeline:
    return Pipeline(engine="tesseract", restorer="cleaner", output_types=["txt", "pdf"])


@requires_tesseract
@pytest.mark.parametrize("sample", ["faxed_memo.png", "receipt_photo.jpg"])
def test_one_page_is_analysed_once_and_its_source_decoded_once(
    sample, default_pipeline, monkeypatch, tmp_path
):
    source = SAMPLES / sample
    counts = _Counts(monkeypatch, source)
    result = default_pipeline.run(source, output_dir=tmp_path)
    (page,) = result.pages
    assert page.ok, page.error
    assert page.counters["tiles_restored"] > 0  # the page went through every stage
    # Each image (the page as loaded, the working page, the restored page) is
    # converted to luminance once at most, however many stages read it ...
    assert counts.luminance and max(counts.luminance.values()) == 1
    # ... and found binary or not once.
    assert counts.is_binary and max(counts.is_binary.values()) == 1
    # The engine measures the image it is given once per reading.
    assert counts.engine_luminance <= counts.recognize
    # The source: its head sniffed once, the file opened once, its pixels decoded
    # once (the searchable PDF shows the page the loader delivered, or embeds the
    # JPEG as it is).
    assert (counts.sniffed, counts.opened, counts.decoded) == (1, 1, 1)
    assert (tmp_path / source.with_suffix(".ocr.pdf").name).stat().st_size > 0
    assert result.loaded is None  # the kept page images go once the outputs are written
    if sample == "faxed_memo.png":
        # A fax page keeps its scale: one image analysed, found binary once in all
        # (the working scale, the cleaner's hint and the classical despeckling).
        assert page.scale == 1.0 and sum(counts.is_binary.values()) == 1
    else:
        # Small print: enlarged, so the working page is another image.
        assert page.scale > 1 and len(counts.luminance) >= 2


def test_the_command_line_plans_the_outputs_once(tmp_path, monkeypatch):
    source = tmp_path / "blank.png"
    Image.new("L", (64, 48), 255).save(source)
    calls: list[int] = []
    for module in (tair_ocr.cli, tair_ocr.pipeline):
        real = module.plan_outputs

        def counted(sources, *args, _real=real, **kwargs):
            calls.append(len(sources))
            return _real(sources, *args, **kwargs)

        monkeypatch.setattr(module, "plan_outputs", counted)
    args = [str(source), "--plugin", str(TEST_PLUGINS / "fault_engines.py")]
    args += ["--engine", "crash-marked", "--restorer", "none", "-o", str(tmp_path), "-t", "txt"]
    assert tair_ocr.cli.main([*args, "--no-plugin-autoload", "-q"]) == ExitCode.OK
    assert calls == [1] and (tmp_path / "blank.txt").exists()
    # Existing outputs are still refused per input without --force.
    assert tair_ocr.cli.main([*args, "--no-plugin-autoload", "-q"]) == ExitCode.OUTPUT_ERROR
