"""The pipeline and CLI end to end, with fault-injection engines (tests/plugins)."""

from __future__ import annotations

import json

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from tair_ocr import BBox, DocumentResult, ExitCode, OcrEngine, Pipeline, Word, hookimpl
from tair_ocr.cli import main
from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.errors import MissingDependencyError, UsageError

from .conftest import TEST_PLUGINS

FAULTS = str(TEST_PLUGINS / "fault_engines.py")


def make_pdf(path, pages=3, marked=(), text="page"):
    """A scanned PDF (pages are pictures of their text, which has to be read)
    whose pages in ``marked`` (0-based) carry the red fault mark."""
    doc = pymupdf.open()
    for i in range(pages):
        typed = pymupdf.open()
        typed.new_page(width=200, height=150).insert_text((20, 80), f"{text} {i + 1}", fontsize=20)
        scan = typed[0].get_pixmap(dpi=144)
        page = doc.new_page(width=200, height=150)
        page.insert_image(page.rect, pixmap=scan)
        if i in marked:
            page.draw_rect(pymupdf.Rect(0, 0, 3, 3), color=(1, 0, 0), fill=(1, 0, 0), width=0)
    doc.save(path)
    return path


#: CLI arguments of a run with the fault-injecting engine at a small DPI.
FAULT_RUN = ("--plugin", FAULTS, "--engine", "crash-marked", "--dpi", "72")


def run_cli(*args):
    return main([*map(str, args), "--no-plugin-autoload", "-q", "--restorer", "none"])


def test_failing_page_is_recorded_and_job_goes_on(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=3, marked={1})
    pipeline = Pipeline(
        restorer="none",
        engine="crash-marked",
        plugins=[FAULTS],
        autoload=False,
        output_types=["json", "txt"],
        dpi=72,
        jobs=2,
    )
    result = pipeline.run(src, output_dir=tmp_path / "out")
    assert [p.ok for p in result.pages] == [True, False, True]
    assert "engine crashed (injected)" in result.pages[1].error.message
    assert [w.text for w in result.pages[0].words()] == ["hello"]
    saved = DocumentResult.model_validate_json((tmp_path / "out" / "doc.json").read_text())
    assert saved == result
    # Failed pages keep their place in the text output (form feeds between pages).
    assert (tmp_path / "out" / "doc.txt").read_text().count("\f") == 2


@pytest.mark.parametrize(
    ("engine", "message"), [("oom-marked", "out of memory"), ("slow-marked", "limit")]
)
def test_oom_and_timeout_fail_only_their_page(tmp_path, engine, message):
    src = make_pdf(tmp_path / "doc.pdf", pages=2, marked={0})
    result = Pipeline(
        restorer="none", engine=engine, plugins=[FAULTS], autoload=False, dpi=72, timeout=0.05
    ).run(src, write=False)
    assert message in result.pages[0].error.message
    assert result.pages[1].ok


def test_cli_exit_code_for_failed_pages(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=2, marked={0})
    code = run_cli(src, *FAULT_RUN, "-o", tmp_path, "-t", "txt")
    assert code == ExitCode.PAGES_FAILED
    assert (tmp_path / "doc.txt").exists()


def test_missing_engine_is_a_dependency_error(tmp_path, capsys):
    with pytest.raises(MissingDependencyError, match="binary not found"):
        Pipeline(restorer="none", engine="missing", plugins=[FAULTS], autoload=False)
    code = run_cli(tmp_path / "x.pdf", "--plugin", FAULTS, "--engine", "missing")
    assert code == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert "apt-get install nothing" in err and "Traceback" not in err


def test_unknown_names_are_usage_errors(capsys):
    with pytest.raises(UsageError, match=r"installed: .*tesseract"):
        Pipeline(restorer="none", engine="nope", autoload=False)
    assert run_cli("x.pdf", "--output-type", "docx") == ExitCode.BAD_ARGS
    assert "unknown output type 'docx'" in capsys.readouterr().err


def test_multi_file_run_continues_after_a_bad_input(tmp_path, capsys):
    good = make_pdf(tmp_path / "good.pdf", pages=1)
    bad = tmp_path / "bad.pdf"
    bad.write_text("this is not a pdf")
    missing = tmp_path / "missing.png"
    code = run_cli(bad, missing, good, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt")
    assert code == ExitCode.INPUT_ERROR
    assert (tmp_path / "out" / "good.txt").read_text().strip() == "hello"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tair-ocr: error: ") for line in err)
    assert "bad.pdf" in err[0] and "missing.png" in err[1]


def test_existing_output_needs_force(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=1)
    out = tmp_path / "doc.txt"
    out.write_text("keep me")
    args = [src, *FAULT_RUN, "-o", tmp_path, "-t", "txt"]
    assert run_cli(*args) == ExitCode.OUTPUT_ERROR
    assert out.read_text() == "keep me"
    assert run_cli(*args, "--force") == ExitCode.OK
    assert out.read_text().strip() == "hello"


def test_input_is_never_modified(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=2)
    before = src.read_bytes()
    assert run_cli(src, *FAULT_RUN, "-o", tmp_path, "-t", "pdf,txt,json") == ExitCode.OK
    assert src.read_bytes() == before
    assert (tmp_path / "doc.ocr.pdf").exists()


def test_page_selection_and_order(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=5)
    result = Pipeline(
        restorer="none",
        engine="crash-marked",
        plugins=[FAULTS],
        autoload=False,
        dpi=72,
        pages="4-,2",
        jobs=3,
    ).run(src, write=False)
    assert [p.page_number for p in result.pages] == [4, 5, 2]


def test_in_memory_image(tmp_path):
    image = Image.new("RGB", (120, 80), "white")
    result = Pipeline(restorer="none", engine="crash-marked", plugins=[FAULTS], autoload=False).run(
        image
    )
    assert result.source == "<image>" and result.pages[0].width == 120
    assert list(tmp_path.iterdir()) == []


def test_plugins_command_lists_availability(capsys):
    assert main(["plugins", "--json", "--no-plugin-autoload", "--plugin", FAULTS]) == 0
    report = json.loads(capsys.readouterr().out)
    engines = {row["name"]: row for row in report["components"]["engines"]}
    assert engines["missing"]["available"] is False
    assert engines["missing"]["hint"] == "apt-get install nothing"
    assert engines["crash-marked"]["available"] is True
    assert {"pdf", "txt", "hocr", "alto", "json"} <= {
        row["name"] for row in report["components"]["writers"]
    }


# ------------------------------------------------------------- read first, restore where unsure
#
# "Blob" pages stand in for text: each word is a black block whose shape (width
# over height) names it, so a fake engine reads a crop or a rescaled page
# correctly, with the confidences its script gives.

#: Word -> x range of its block (y 30..60 on a blob page).
BLOB_BOXES = {"Fusion": (10, 130), "is": (145, 175), "here": (190, 265)}
BLOB_RATIOS = {word: (x1 - x0) / 30 for word, (x0, x1) in BLOB_BOXES.items()}


def blob_page(size=(400, 100)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x0, x1 in BLOB_BOXES.values():
        draw.rectangle((x0, 30, x1 - 1, 59), fill="black")
    return image


class BlobEngine(OcrEngine):
    """Reads the blocks of a blob page as its ``script`` says: word -> (text as
    read, confidence); words not in the script are not seen. Records the size of
    every image it is given."""

    parallel_safe = True

    def __init__(self, name, script, *, ids=True, crash=False):
        self.name = name  # type: ignore[misc]
        self.script = script
        self.ids = ids
        self.crash = crash
        self.images: list[tuple[int, int]] = []

    def recognize(self, image, *, languages, dpi, timeout=None):
        self.images.append(image.size)
        if self.crash:
            raise RuntimeError("scripted crash")
        gray = np.asarray(image.convert("L"))
        labels, _ = ndimage.label(gray < 128)
        words = []
        for ys, xs in ndimage.find_objects(labels):
            if min(ys.start, xs.start) == 0 or ys.stop == gray.shape[0] or xs.stop == gray.shape[1]:
                continue  # cut by the edge of a crop
            ratio = (xs.stop - xs.start) / (ys.stop - ys.start)
            word = min(BLOB_RATIOS, key=lambda w: abs(BLOB_RATIOS[w] - ratio))
            if abs(BLOB_RATIOS[word] - ratio) > 0.15 * BLOB_RATIOS[word] or word not in self.script:
                continue
            text, confidence = self.script[word]
            words.append(
                Word(
                    text=text,
                    confidence=confidence,
                    bbox=BBox(x0=xs.start, y0=ys.start, x1=xs.stop, y1=ys.stop),
                    source=self.name,
                    line_id=0 if self.ids else None,
                    block_id=0 if self.ids else None,
                )
            )
        return sorted(words, key=lambda w: w.bbox.x0)


class CountingCopy(Restorer):
    """Returns tiles unchanged; counts the tiles it restores."""

    name = "counting-copy"
    tile_size = 128
    batch_size = 4

    def __init__(self) -> None:
        self.tiles = 0

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        self.tiles += tiles.shape[0]
        return RestoredTiles(images=tiles.copy(), words=[[] for _ in tiles])


class Components:
    """A plugin registering the given engines and restorers."""

    def __init__(self, *components) -> None:
        self.components = components

    @hookimpl
    def register_engines(self):
        return [c for c in self.components if isinstance(c, OcrEngine)]

    @hookimpl
    def register_restorers(self):
        return [c for c in self.components if isinstance(c, Restorer)]


SURE = {"Fusion": ("Fusion", 0.95), "is": ("is", 0.95), "here": ("here", 0.95)}
#: "is" read with a calibrated confidence under 0.8: unsure.
UNSURE_IS = {**SURE, "is": ("is", 0.3)}


def blob_pipeline(*components, hooks=(), **settings) -> Pipeline:
    """A pipeline of ``components``, with plugins implementing other ``hooks``."""
    engines = [c.name for c in components if isinstance(c, OcrEngine)]
    settings.setdefault("engine", ",".join(engines))
    settings.setdefault("restorer", "none")
    plugins = [Components(*components), *hooks]
    return Pipeline(plugins=plugins, autoload=False, output_types=[], **settings)


def test_a_confidently_read_page_is_read_once_and_not_restored():
    engine, restorer = BlobEngine("blob", SURE), CountingCopy()
    page = blob_pipeline(engine, restorer, restorer="counting-copy").run(blob_page()).pages[0]
    assert page.ok, page.error
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    assert engine.images == [(400, 100)]  # one read of the page as loaded
    assert restorer.tiles == 0
    decision = page.decision
    assert decision is not None and decision.mode == "auto"
    assert decision.tiles_restored == 0 and decision.regions == [] and decision.reasons == {}
    assert "restore" not in page.timings and "prepare" not in page.timings
    assert page.counters.get("tiles_restored", 0) == 0


def test_an_unsure_word_is_restored_and_reread_alone():
    engine, restorer = BlobEngine("blob", UNSURE_IS), CountingCopy()
    page = blob_pipeline(engine, restorer, restorer="counting-copy").run(blob_page()).pages[0]
    assert page.ok, page.error
    decision = page.decision
    assert decision.reasons == {"low_confidence": 1}
    (region,) = decision.regions
    # Around "is" and the neighbours its context touches, grown to whole words.
    assert region.x0 <= 145 and region.x1 >= 175 and region.x1 - region.x0 < 400
    # Only the tiles that meet the region were restored; the others kept page pixels.
    assert 0 < decision.tiles_restored == page.counters["tiles_restored"] == restorer.tiles
    assert page.counters["tiles_kept"] > 0
    assert "restore" in page.timings and "ocr:blob:restored" in page.timings
    # The page as loaded, then one crop of the restored page.
    assert engine.images[0] == (400, 100) and engine.images[1][0] < 400
    words = list(page.words())
    assert [w.text for w in words] == ["Fusion", "is", "here"]
    assert [w.source for w in words] == ["fused", "fused", "fused"]  # all in the region
    assert page.counters["fusion_readings"] == 2


def test_regions_re_read_apart_keep_apart_lines():
    # Two unsure words far apart: two regions, two crops, and an engine that numbers
    # each crop's lines from 0. The crops' lines must stay different lines.
    image = Image.new("RGB", (400, 400), "white")
    draw = ImageDraw.Draw(image)
    for top in (30, 330):
        for x0, x1 in BLOB_BOXES.values():
            draw.rectangle((x0, top, x1 - 1, top + 29), fill="black")
    seen = []

    class Recorder:
        @hookimpl(tryfirst=True)
        def fuse_readings(self, readings, mode):
            seen.extend(readings)

    engine, restorer = BlobEngine("blob", UNSURE_IS), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, hooks=[Recorder()], restorer="counting-copy")
    page = pipeline.run(image).pages[0]
    assert page.ok, page.error
    assert len(page.decision.regions) == 2
    (reread,) = [r for r in seen if r.restored]
    rows = {w.bbox.y0 > 200: (w.block_id, w.line_id) for w in reread.words}
    assert len(reread.words) == 6 and len(set(rows.values())) == 2


def test_restore_never_makes_no_decision():
    engine, restorer = BlobEngine("blob", UNSURE_IS), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, restorer="counting-copy", restore="never")
    page = pipeline.run(blob_page()).pages[0]
    assert page.ok, page.error
    assert page.decision is None
    assert restorer.tiles == 0 and engine.images == [(400, 100)]
    assert "restore" not in page.timings
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]


def test_restore_always_restores_every_non_blank_tile():
    engine, restorer = BlobEngine("blob", SURE), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, restorer="counting-copy", restore="always")
    page = pipeline.run(blob_page(size=(800, 400))).pages[0]
    assert page.ok, page.error
    c, decision = page.counters, page.decision
    assert decision.mode == "always" and decision.reasons == {"always": 1}
    assert decision.regions == [BBox(x0=0, y0=0, x1=800, y1=400)]
    assert c["tiles_skipped"] > 0 and c["tiles_kept"] == 0
    assert c["tiles_restored"] == c["tiles_total"] - c["tiles_skipped"] == restorer.tiles > 0
    assert decision.tiles_restored == c["tiles_restored"]
    # The engine read the page as loaded and the restored page, both whole.
    assert len(engine.images) == 2 and engine.images[0] == (800, 400)
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]


def test_fusion_off_keeps_the_reading_order_around_a_reread_region():
    # --fusion off: the restored re-read replaces the first reading inside the
    # region; the page must still read in order.
    engine, restorer = BlobEngine("blob", UNSURE_IS), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, restorer="counting-copy", fusion="off")
    page = pipeline.run(blob_page()).pages[0]
    assert page.ok, page.error
    assert page.decision.tiles_restored > 0
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"], (
        "unguarded re-read words are appended after the kept words with the crop's "
        "line ids, so the layout puts them out of reading order"
    )


class SmallPrintEngine(BlobEngine):
    """A blob engine that reads small text better enlarged: images at least
    ``enlarged_from`` px high are read with ``enlarged_script``."""

    enlarge_to_x_height = 16.0
    enlarge_below_quality = 0.9

    def __init__(self, name, script, enlarged_script, enlarged_from=150):
        super().__init__(name, script)
        self.enlarged_script, self.enlarged_from = enlarged_script, enlarged_from

    def recognize(self, image, *, languages, dpi, timeout=None):
        if image.height >= self.enlarged_from:
            plain, self.script = self.script, self.enlarged_script
            try:
                return super().recognize(image, languages=languages, dpi=dpi, timeout=timeout)
            finally:
                self.script = plain
        return super().recognize(image, languages=languages, dpi=dpi, timeout=timeout)


def small_print_page() -> Image.Image:
    """A blob page with a line of small print under the blobs: 5×10-px strokes that
    no blob engine reads (wrong shape), for the text size the page is measured by."""
    image = blob_page()
    draw = ImageDraw.Draw(image)
    for x in range(10, 390, 12):
        draw.rectangle((x, 75, x + 4, 84), fill="black")
    return image


#: A first reading that collapsed: its median score is under 0.9.
COLLAPSED = {"Fusion": ("Fusion", 0.6), "is": ("is", 0.3), "here": ("here", 0.95)}


def _no_restored_rereads(monkeypatch):
    # What the calibration says of the cleaner's enlarged output for rapidocr (see
    # the next test): no engine reads it better than the page as loaded.
    monkeypatch.setattr(Pipeline, "_rereaders", lambda self, always, scale: [])


def test_shipped_calibration_keeps_rapidocr_off_the_cleaners_enlarged_output():
    # The real decision on the shipped data, for a pipeline led by rapidocr with the
    # cleaner: sharpened regions are re-read, enlarged ones are not (they are what
    # the enlarged re-read by resampling is for).
    from types import SimpleNamespace

    pipeline = SimpleNamespace(
        engines=[SimpleNamespace(name="rapidocr")], restorer=SimpleNamespace(name="cleaner")
    )
    assert [e.name for e in Pipeline._rereaders(pipeline, False, 1.0)] == ["rapidocr"]
    assert Pipeline._rereaders(pipeline, False, 2.5) == []
    assert [e.name for e in Pipeline._rereaders(pipeline, True, 2.5)] == ["rapidocr"]


def test_small_text_no_restorer_helps_is_reread_enlarged(monkeypatch):
    _no_restored_rereads(monkeypatch)
    from tair_ocr.page_analysis import PageAnalysis

    x_height = PageAnalysis(small_print_page()).text_size.x_height
    factor = SmallPrintEngine.enlarge_to_x_height / x_height
    assert 2 <= factor < 4  # small for this engine, and within the enlargement cap
    engine = SmallPrintEngine("small", COLLAPSED, {**SURE, "is": ("is", 0.9)})
    restorer = CountingCopy()
    seen = []

    class Recorder:
        @hookimpl(tryfirst=True)
        def fuse_readings(self, readings, mode):
            seen.extend(readings)

    pipeline = blob_pipeline(engine, restorer, hooks=[Recorder()], restorer="counting-copy")
    page = pipeline.run(small_print_page()).pages[0]
    assert page.ok, page.error
    decision = page.decision
    assert decision.reasons.get("low_confidence") == 1 and decision.regions
    assert decision.enlarged == {"small": pytest.approx(factor, abs=1e-3)}
    assert restorer.tiles == 0 and decision.tiles_restored == 0  # resampled, not restored
    # The page as loaded, then the crop around the region, enlarged by the factor.
    (region,) = decision.regions
    assert engine.images[0] == (400, 100) and len(engine.images) == 2
    assert engine.images[1][0] >= (region.x1 - region.x0) * factor - 1
    assert "ocr:small:enlarged" in page.timings
    (reread,) = [r for r in seen if r.restored]
    assert reread.source == "small:enlarged" and reread.engine_name == "small"
    assert reread.regions == decision.regions
    # Its words are mapped back to the page's pixels.
    x0, x1 = BLOB_BOXES["is"]
    (is_word,) = [w for w in reread.words if w.text == "is"]
    assert is_word.bbox.x0 == pytest.approx(x0, abs=1) and is_word.bbox.x1 == pytest.approx(
        x1, abs=1
    )
    assert is_word.bbox.y0 == pytest.approx(30, abs=1)
    # More likely right enlarged: the enlarged reading wins "is".
    words = {w.text: w for w in page.words()}
    assert list(words) == ["Fusion", "is", "here"]
    assert words["is"].confidence > 0.8


def test_an_enlarged_reread_less_sure_than_the_first_reading_loses(monkeypatch):
    _no_restored_rereads(monkeypatch)
    first = {**COLLAPSED, "is": ("is", 0.45)}
    engine = SmallPrintEngine("small", first, {**COLLAPSED, "is": ("1s", 0.3)})
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(small_print_page())
    page = page.pages[0]
    assert page.ok, page.error
    assert page.decision.enlarged and len(engine.images) == 2
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]


def test_no_enlarged_reread_without_restoration_readable_text_or_a_good_reading(monkeypatch):
    _no_restored_rereads(monkeypatch)
    enlarged = {**SURE, "is": ("is", 0.9)}
    # --restore never: the page as loaded only.
    engine = SmallPrintEngine("small", COLLAPSED, enlarged)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy", restore="never")
    assert pipeline.run(small_print_page()).pages[0].ok and len(engine.images) == 1
    # Text nearly as large as the engine wants it (7 px of 10): a re-read would
    # cost a detector run per region for nothing measurable.
    engine = SmallPrintEngine("small", COLLAPSED, enlarged)
    engine.enlarge_to_x_height = 10.0  # type: ignore[misc]
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(small_print_page())
    assert page.pages[0].decision.enlarged == {} and len(engine.images) == 1
    # Small enough, but the page is too large to enlarge 2× within the pixel budget.
    monkeypatch.setattr("tair_ocr.pipeline.MAX_ENLARGED_PIXELS", 3.9 * 400 * 100)
    engine = SmallPrintEngine("small", COLLAPSED, enlarged)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(small_print_page()).pages[0]
    assert page.decision.regions and page.decision.enlarged == {}
    assert len(engine.images) == 1
    monkeypatch.undo()
    _no_restored_rereads(monkeypatch)
    # Small enough, but the page as loaded read well (median score 0.95): only its
    # unsure word is unsure, and enlarged re-reads there only swap misreads.
    engine = SmallPrintEngine("small", UNSURE_IS, enlarged)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(small_print_page()).pages[0]
    assert page.decision.regions and page.decision.enlarged == {}
    assert len(engine.images) == 1


class ShakyEngine(BlobEngine):
    """A blob engine that misreads motion-blurred blobs: images whose sharpest
    horizontal step is under 60 gray levels are read with ``blurred_script``."""

    def __init__(self, name, script, blurred_script):
        super().__init__(name, script)
        self.blurred_script = blurred_script

    def recognize(self, image, *, languages, dpi, timeout=None):
        gray = np.asarray(image.convert("L")).astype(int)
        if np.abs(np.diff(gray, axis=1)).max() >= 60:
            return super().recognize(image, languages=languages, dpi=dpi, timeout=timeout)
        sharp, self.script = self.script, self.blurred_script
        try:
            return super().recognize(image, languages=languages, dpi=dpi, timeout=timeout)
        finally:
            self.script = sharp


#: How a shaky engine misreads the blurred blobs: nothing sure.
SHAKEN = {"Fusion": ("Fusi0n", 0.3), "is": ("1s", 0.3), "here": ("hene", 0.3)}
#: The camera shake of :func:`shaken_blob_page`.
SHAKE = (12.0, 0.0)


def shaken_blob_page() -> Image.Image:
    """The blob page, smeared horizontally by 12 px (a camera shake)."""
    from tair_ocr.motion_blur import motion_kernel

    gray = np.asarray(blob_page().convert("L"), dtype=np.float32)
    smeared = ndimage.convolve(gray, motion_kernel(*SHAKE), mode="reflect")
    return Image.fromarray(np.clip(smeared + 0.5, 0, 255).astype(np.uint8)).convert("RGB")


def _shaken(monkeypatch, found=True):
    # The blob page is too small for the estimate's patches (tests/test_motion_blur.py
    # measures it on text-like pages): the analysis reports the shake it was made with.
    from tair_ocr.motion_blur import MotionBlur
    from tair_ocr.page_analysis import PageAnalysis

    blur = MotionBlur(*SHAKE, strength=100.0) if found else None
    monkeypatch.setattr(PageAnalysis, "motion_blur", property(lambda self: blur))


def test_a_motion_blurred_page_is_read_deconvolved(monkeypatch):
    _shaken(monkeypatch)
    engine, restorer = ShakyEngine("shaky", SURE, SHAKEN), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, restorer="counting-copy")
    page = pipeline.run(shaken_blob_page()).pages[0]
    assert page.ok, page.error
    # Read as loaded (nothing sure), then deconvolved (all sure): the page goes on
    # deconvolved, read confidently, so nothing is restored or read again.
    assert engine.images == [(400, 100), (400, 100)]
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    assert restorer.tiles == 0
    record = page.decision.deblurred
    assert record.status == "kept" and (record.length, record.angle) == SHAKE
    assert record.scores["corrected_sure"] == 3 and record.scores["photo_sure"] == 0
    assert "ocr:shaky:deblurred" in page.timings and "deblur" in page.timings
    # In the page's pixels: the deconvolved page is the page, pixel for pixel.
    x0, x1 = BLOB_BOXES["is"]
    (word,) = [w for w in page.words() if w.text == "is"]
    assert abs(word.bbox.x0 - x0) <= 2 and abs(word.bbox.x1 - x1) <= 2
    assert json.loads(page.model_dump_json())["decision"]["deblurred"]["status"] == "kept"


def test_save_restored_writes_the_deconvolved_page(monkeypatch, tmp_path):
    # Read confidently once deconvolved, so never restored: the picture to look at is
    # the deconvolved page.
    _shaken(monkeypatch)
    source = tmp_path / "shaken.png"
    shaken_blob_page().save(source)
    engine = ShakyEngine("shaky", SURE, SHAKEN)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy", save_restored=True)
    page = pipeline.run(source, output_dir=tmp_path / "out").pages[0]
    assert page.decision.deblurred.status == "kept" and page.decision.tiles_restored == 0
    with Image.open(page.restored_image) as saved:
        gray = np.asarray(saved.convert("L")).astype(int)
    assert saved.size == (400, 100)
    assert np.abs(np.diff(gray, axis=1)).max() >= 60  # sharp again (the shaken page: 22)


def test_a_deconvolution_that_reads_worse_is_rejected(monkeypatch):
    # A false alarm (or a deconvolution gone wrong): the page as loaded reads better,
    # so it is read as loaded.
    _shaken(monkeypatch)
    engine = ShakyEngine("shaky", SHAKEN, SURE)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(shaken_blob_page()).pages[0]
    assert page.ok, page.error
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    assert page.decision.deblurred.status == "rejected"
    assert "reads no better" in page.decision.deblurred.reason


def test_a_failed_deconvolution_leaves_the_page_read_as_loaded(monkeypatch):
    # Extra work on a page already read: an engine crash on the deconvolved page (or
    # running out of memory deconvolving it) must not fail the page.
    _shaken(monkeypatch)

    class CrashesWhenSharp(ShakyEngine):
        def recognize(self, image, *, languages, dpi, timeout=None):
            if np.abs(np.diff(np.asarray(image.convert("L")).astype(int), axis=1)).max() >= 60:
                raise RuntimeError("scripted crash")
            return super().recognize(image, languages=languages, dpi=dpi, timeout=timeout)

    engine = CrashesWhenSharp("shaky", SURE, SURE)
    page = blob_pipeline(engine, CountingCopy(), restorer="counting-copy").run(shaken_blob_page())
    page = page.pages[0]
    assert page.ok, page.error
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    assert page.decision.deblurred.status == "failed"
    assert any("camera shake failed: " in w and "scripted crash" in w for w in page.warnings)

    import tair_ocr.pipeline

    def out_of_memory(*args):
        raise MemoryError

    monkeypatch.setattr(tair_ocr.pipeline, "deblur_image", out_of_memory)
    page = blob_pipeline(ShakyEngine("shaky", SURE, SURE)).run(shaken_blob_page())
    assert page.pages[0].ok  # restorer none: never tried
    pipeline = blob_pipeline(
        ShakyEngine("shaky", SURE, SURE), CountingCopy(), restorer="counting-copy"
    )
    page = pipeline.run(shaken_blob_page()).pages[0]
    assert page.ok and page.decision.deblurred.status == "failed"


def test_no_deconvolution_without_restoration_or_a_blur(monkeypatch):
    engine = ShakyEngine("shaky", SURE, SHAKEN)
    _shaken(monkeypatch, found=False)
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy")
    page = pipeline.run(shaken_blob_page()).pages[0]
    # Unsure everywhere, so restored and re-read, but never deconvolved.
    assert page.decision.deblurred is None and page.decision.tiles_restored
    assert "ocr:shaky:deblurred" not in page.timings  # "deblur": the estimate's time
    _shaken(monkeypatch)
    engine.images.clear()
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy", restore="never")
    page = pipeline.run(shaken_blob_page()).pages[0]
    assert len(engine.images) == 1 and page.decision is None
    engine.images.clear()
    page = blob_pipeline(engine).run(shaken_blob_page()).pages[0]  # restorer none
    assert len(engine.images) == 1 and page.decision is None
    engine.images.clear()
    pipeline = blob_pipeline(engine, CountingCopy(), restorer="counting-copy", deblur=False)
    page = pipeline.run(shaken_blob_page()).pages[0]  # --no-deblur
    assert page.decision.deblurred is None and "ocr:shaky:deblurred" not in page.timings


def test_the_command_line_passes_no_deblur(monkeypatch, tmp_path):
    import tair_ocr.pipeline

    seen = {}

    class Stop(Exception):
        pass

    def configured(**settings):
        seen.update(settings)
        raise Stop

    monkeypatch.setattr(tair_ocr.pipeline, "Pipeline", configured)
    source = tmp_path / "page.png"
    blob_page().save(source)
    for flags, expected in (((), True), (("--no-deblur",), False)):
        with pytest.raises(Stop):
            main([str(source), "--no-plugin-autoload", *flags])
        assert seen["deblur"] is expected


def test_restore_never_with_a_fixed_scale_resamples_without_restoring():
    # --restore never --scale 2: the engines read the page enlarged, and the
    # restorer (selected, but told never to run) restores nothing.
    engine, restorer = BlobEngine("blob", UNSURE_IS), CountingCopy()
    pipeline = blob_pipeline(engine, restorer, restorer="counting-copy", restore="never", scale=2)
    page = pipeline.run(blob_page()).pages[0]
    assert page.ok, page.error
    assert restorer.tiles == 0 and page.scale == 2
    assert engine.images == [(800, 200)]
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
