"""Photographed pages: the ``perspective`` filter (page outline, correction), its guard,
``--output-page`` and what the outputs show."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from tair_ocr.filters import perspective as perspective_module
from tair_ocr.filters.perspective import (
    Outline,
    PerspectiveFilter,
    correct,
    find_page_outline,
    judge,
)
from tair_ocr.page import Page
from tair_ocr.perspective import map_points
from tair_ocr.pipeline import Pipeline
from tair_ocr.results import BBox, DocumentResult, Word
from tair_workbench.synthetic import degrade, render_page
from tair_workbench.synthetic.photo import photograph

from .conftest import requires_tesseract

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from metrics import cer


def _page(seed: int = 5):
    return render_page(seed, dpi=120, size="a5", layout="paragraphs", font_pt=11)


def _photo(seed: int = 5, background: str = "dark"):
    return photograph(_page(seed), seed=seed, background=background, max_tilt=20)


def _run(image: Image.Image | Path, tmp_path: Path | None = None, **options):
    pipeline = Pipeline(
        engine="tesseract",
        restorer="none",
        output_types=["pdf", "json", "txt", "hocr", "alto"],
        options={"perspective": options},
    )
    if isinstance(image, Path):
        return pipeline.run(image, output_dir=tmp_path)
    return pipeline.run(image)


@pytest.fixture(scope="module")
def photo():
    return _photo()


@pytest.fixture(scope="module")
def photo_file(photo, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    photo.image.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def corrected_run(photo_file: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return _run(photo_file, out), out


# ---------------------------------------------------------------------- outline


@pytest.mark.parametrize("background", ["dark", "wood", "coloured"])
def test_outline_found_within_a_few_pixels(background: str) -> None:
    shot = _photo(seed=11, background=background)
    outline = find_page_outline(shot.image)
    assert outline.quad is not None, outline.reason
    error = np.abs(np.array(outline.quad) - np.array(shot.quad)).max()
    assert error < 4.0, (outline.quad, shot.quad)


def test_scans_and_clean_pages_are_left_alone() -> None:
    clean = _page(3)
    scan = degrade(clean, "scan", seed=3)
    for image in (clean.image, scan.image, degrade(clean, "shaded_photo", seed=3).image):
        outline = find_page_outline(image)
        assert outline.quad is None
        assert "fills the image" in outline.reason or "runs off" in outline.reason
        page = Page(source=Path("<test>"), index=0, image=image, dpi=120.0)
        out = PerspectiveFilter().apply(page)
        assert out.image is image and out.to_original.is_identity
        assert out.geometry is not None and out.geometry.perspective is not None
        assert out.geometry.perspective.status == "not-found"


def test_small_or_odd_regions_are_rejected() -> None:
    dark = np.full((600, 800, 3), 30, np.uint8)
    small = dark.copy()
    small[200:400, 300:500] = 235  # a card covering 8 % of the image
    assert find_page_outline(Image.fromarray(small)).quad is None
    blob = dark.copy()
    yy, xx = np.mgrid[0:600, 0:800]
    blob[((xx - 400) / 300) ** 2 + ((yy - 300) / 250) ** 2 < 1] = 235  # an ellipse
    assert find_page_outline(Image.fromarray(blob)).quad is None
    assert find_page_outline(Image.fromarray(dark)).quad is None  # nothing
    # A pdf page with text of its own is not touched.
    page = Page(source=Path("<test>"), index=0, image=_photo().image, dpi=120.0)
    page.existing_text = object()  # type: ignore[assignment]
    assert PerspectiveFilter().apply(page) is page


@requires_tesseract
def test_corrected_page_reads(photo) -> None:
    from tair_ocr.engines.tesseract import TesseractEngine

    outline = find_page_outline(photo.image)
    assert outline.quad is not None
    corrected, h, size = correct(photo.image, outline.quad, flatten=True)
    # The homography takes the corrected page's corners to the outline.
    w, hh = size
    assert np.allclose(map_points(h, [(0, 0), (w, 0), (w, hh), (0, hh)]), outline.quad, atol=1e-3)
    words = TesseractEngine().recognize(corrected, languages=["eng"], dpi=120.0)
    text = " ".join(w.text for w in words)
    assert cer(" ".join(photo.text.split()), text) < 0.05


def test_judge_counts_sure_words() -> None:
    def words(*confidences: float) -> list[Word]:
        box = BBox(x0=0, y0=0, x1=1, y1=1)
        return [Word(text="a", confidence=c, bbox=box, source="t") for c in confidences]

    assert judge(words(0.9, 0.8, 0.6), words(0.9, 0.4, 0.3))[0]
    assert not judge(words(0.9, 0.4), words(*[0.9] * 5))[0]
    assert not judge(words(), words())[0]  # nothing read either way: leave the photo
    # As many sure words: kept (the photo's lines, not its words, are what suffer).
    keep, _, scores = judge(words(0.6, 0.6), words(0.9, 0.9))
    assert keep and scores["corrected_sure"] == scores["photo_sure"] == 2
    # 3 % fewer is within the tolerance, 4 % is not.
    assert judge(words(*[0.9] * 97), words(*[0.9] * 100))[0]
    assert not judge(words(*[0.9] * 96), words(*[0.9] * 100))[0]
    # On small pages, 3 words.
    assert judge(words(*[0.9] * 7), words(*[0.9] * 10))[0]
    assert not judge(words(*[0.9] * 6), words(*[0.9] * 10))[0]
    # Strict (a deconvolution): better, by the sure words' summed confidence (the
    # number expected right), then by their count; the same is not better.
    assert judge(words(*[0.99] * 9), words(*[0.6] * 10), strict=True)[0]
    assert not judge(words(*[0.6] * 10), words(*[0.99] * 9), strict=True)[0]
    assert not judge(words(0.6, 0.6), words(0.6, 0.6), strict=True)[0]
    assert not judge(words(0.6, 0.6, 0.3), words(0.6, 0.6), strict=True)[0]
    assert judge(words(0.5, 0.5, 0.2), words(0.9, 0.1), strict=True)[0]


# ---------------------------------------------------------------------- pipeline


@requires_tesseract
def test_pipeline_reads_the_photo_corrected(photo, corrected_run) -> None:
    result, _ = corrected_run
    page = result.pages[0]
    record = page.geometry.perspective
    assert record.status == "kept" and record.shown == "corrected"
    assert (page.width, page.height) == tuple(record.corrected_size)
    assert page.counters["perspective_corrected"] == 1
    reference = " ".join(photo.text.split())
    assert cer(reference, " ".join(result.text.split())) < 0.05
    # Off, the same photo reads far worse (the bar of issue 14: at most half).
    off = _run(photo.image, enabled=False)
    assert off.pages[0].geometry.perspective is None
    assert cer(reference, " ".join(off.text.split())) > 2 * cer(
        reference, " ".join(result.text.split())
    )


@requires_tesseract
def test_json_records_homography_and_decision(photo, corrected_run) -> None:
    _, out = corrected_run
    data = json.loads((out / "photo.json").read_text())
    record = data["pages"][0]["geometry"]["perspective"]
    assert record["status"] == "kept"
    assert "reads as well or better corrected" in record["reason"]
    assert np.array(record["homography"]).shape == (3, 3)
    assert record["scores"]["corrected_sure"] > record["scores"]["photo_sure"]
    assert len(record["quad"]) == 4
    assert np.abs(np.array(record["quad"]) - np.array(photo.quad)).max() < 4.0
    w, h = record["corrected_size"]
    corners = map_points(record["homography"], [(0, 0), (w, 0), (w, h), (0, h)])
    assert np.allclose(corners, record["quad"], atol=0.05)
    loaded = DocumentResult.model_validate_json((out / "photo.json").read_text())
    assert loaded.pages[0].geometry.perspective.homography == record["homography"]


@requires_tesseract
def test_text_outputs_describe_the_page_shown(corrected_run) -> None:
    result, out = corrected_run
    page = result.pages[0]
    w, h = page.geometry.perspective.corrected_size
    assert f"bbox 0 0 {w} {h}" in (out / "photo.hocr").read_text()
    alto = (out / "photo.alto.xml").read_text()
    assert f'WIDTH="{w}" HEIGHT="{h}"' in alto
    assert (out / "photo.txt").read_text().strip() == result.text.strip()
    for word in page.words():  # every word box lies on the corrected page
        assert 0 <= word.bbox.x0 < word.bbox.x1 <= w and 0 <= word.bbox.y0 < word.bbox.y1 <= h


@requires_tesseract
def test_pdf_shows_the_corrected_page(photo_file: Path, corrected_run) -> None:
    result, out = corrected_run
    page_result = result.pages[0]
    record = page_result.geometry.perspective
    doc = pymupdf.open(out / "photo.ocr.pdf")
    try:
        page = doc[0]
        scale = 72.0 / page_result.dpi
        assert page.rect.width == pytest.approx(page_result.width * scale, abs=0.01)
        ((xref, *_),) = page.get_images()
        info = doc.extract_image(xref)
        # Not the photo's JPEG byte for byte: the corrected page.
        assert (info["width"], info["height"]) == tuple(record.corrected_size)
        assert info["image"] != photo_file.read_bytes()
        shown = page.get_pixmap(dpi=round(page_result.dpi), colorspace=pymupdf.csGRAY)
        pixels = np.frombuffer(shown.samples, np.uint8).reshape(shown.height, shown.width)
        # The text layer selects the words where the picture shows their ink.
        long_words = [w for w in page_result.words() if len(w.text) >= 6 and w.confidence > 0.8]
        assert len(long_words) >= 10
        for word in long_words[:15]:
            b = word.bbox
            rect = pymupdf.Rect(b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale)
            assert word.text in page.get_textbox(rect)
            ink = pixels[int(b.y0) : int(b.y1) + 1, int(b.x0) : int(b.x1) + 1]
            assert ink.min() < 110  # dark strokes inside the word's box
    finally:
        doc.close()


@requires_tesseract
def test_output_page_original_maps_words_onto_the_photo(photo) -> None:
    result = _run(photo.image, output_page="original")
    page = result.pages[0]
    assert page.geometry.perspective.status == "kept"
    assert page.geometry.perspective.shown == "original"
    assert (page.width, page.height) == photo.image.size
    truth: dict[str, list[np.ndarray]] = {}
    for text, quad in photo.words:
        truth.setdefault(text, []).append(np.mean(quad, axis=0))
    distances = []
    for word in page.words():
        assert word.polygon is not None and len(word.polygon) == 4
        assert word.bbox == BBox.from_points(word.polygon)
        if word.text in truth and len(truth[word.text]) == 1:
            centre = np.mean(word.polygon, axis=0)
            distances.append(float(np.linalg.norm(centre - truth[word.text][0])))
    assert len(distances) >= 20
    assert np.median(distances) < 4.0  # on the photo's ink, within a few pixels
    assert np.percentile(distances, 90) < 10.0
    # The text is that of the corrected reading.
    assert cer(" ".join(photo.text.split()), " ".join(result.text.split())) < 0.05


@requires_tesseract
def test_guard_rejects_a_correction_that_reads_worse(monkeypatch) -> None:
    clean = _page(7)
    image = clean.image.convert("RGB")
    w, h = image.size
    # A wrong outline: the page's middle, mirrored (reads as nonsense).
    wrong = [(0.8 * w, 0.2 * h), (0.2 * w, 0.2 * h), (0.2 * w, 0.8 * h), (0.8 * w, 0.8 * h)]
    monkeypatch.setattr(
        perspective_module, "find_page_outline", lambda image: Outline(wrong, "forced")
    )
    result = _run(image)
    page = result.pages[0]
    record = page.geometry.perspective
    assert record.status == "rejected" and "reads worse corrected" in record.reason
    assert record.scores["photo_sure"] > record.scores["corrected_sure"]
    assert (page.width, page.height) == (w, h)
    assert cer(" ".join(clean.text.split()), " ".join(result.text.split())) < 0.05
    # Without the guard the wrong correction is kept (and reads badly).
    unguarded = _run(image, guard=False)
    assert unguarded.pages[0].geometry.perspective.status == "kept"
    assert cer(" ".join(clean.text.split()), " ".join(unguarded.text.split())) > 0.3
