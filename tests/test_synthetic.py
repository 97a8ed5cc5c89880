"""The synthetic page generator, the degradation model and the bundled samples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tair_ocr.errors import ExitCode, UsageError
from tair_workbench.synthetic import (
    DEGRADATION_KINDS,
    LAYOUTS,
    Degraded,
    RenderedPage,
    available_fonts,
    degrade,
    render_page,
    sample_paragraphs,
    sample_text,
    synthesize,
)
from tair_workbench.synthetic import text as T
from tair_workbench.synthetic.__main__ import main as synthetic_main

from .conftest import SAMPLES, requires_tesseract

#: Small pages keep the suite fast: 600 x 400 px at 150 dpi, 10 pt text.
SMALL = {"size_px": (600, 400), "dpi": 150.0, "font_pt": 10.0}


def small_page(seed: int = 0, **kwargs: object) -> RenderedPage:
    options = {**SMALL, "layout": "paragraphs", **kwargs}
    return render_page(seed, **options)  # type: ignore[arg-type]


def darkness(image: Image.Image) -> np.ndarray:
    return 1.0 - np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def box_mask(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def ink_contrast(image: Image.Image, boxes: list[tuple[int, int, int, int]]) -> float:
    """Mean darkness inside the boxes minus mean darkness outside them."""
    dark = darkness(image)
    mask = box_mask(dark.shape, boxes)
    return float(dark[mask].mean() - dark[~mask].mean())


# ------------------------------------------------------------------ text


def test_sample_text_is_deterministic_and_seed_dependent() -> None:
    a = sample_text(np.random.default_rng(1), 60)
    b = sample_text(np.random.default_rng(1), 60)
    c = sample_text(np.random.default_rng(2), 60)
    assert a == b
    assert a != c
    assert a[0].isupper() and a.endswith((".", "!", "?", '"'))


def test_sample_text_exact_length_when_asked() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 7, 50, 400):
        text = sample_text(rng, n, extras=0, whole_sentences=False)
        assert len(text.split()) == n


def test_corpus_has_digits_capitals_punctuation_and_umlauts() -> None:
    rng = np.random.default_rng(3)
    text = " ".join(sample_paragraphs(rng, 60, min_words=40, max_words=80))
    assert re.search(r"\d", text)
    assert re.search(r"[A-Z]", text)
    assert set(",.;:?!'") <= set(text)
    assert re.search(r"[äöüÄÖÜß]", text)


def test_generated_fields() -> None:
    rng = np.random.default_rng(5)
    assert len(T.address_lines(rng)) == 2
    assert re.search(r"\d", T.date_string(rng))
    items = T.invoice_items(rng, 5)
    assert len(items) == 5 and len({i.description for i in items}) == 5
    assert T.money(1234.5) == "1,234.50"
    assert T.money(1234.5, comma=True) == "1.234,50"


# ------------------------------------------------------------------ rendering


def test_fonts_are_found() -> None:
    fonts = available_fonts()
    assert fonts
    for family in fonts.values():
        assert family.regular is None or family.regular.is_file()


def test_render_is_deterministic() -> None:
    a, b = small_page(11), small_page(11)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.text == b.text and a.words == b.words
    c = small_page(12)
    assert c.image.tobytes() != a.image.tobytes()


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_ground_truth_is_consistent(layout: str) -> None:
    page = render_page(4, layout=layout, size_px=(900, 700), dpi=150, font_pt=9)
    assert page.image.mode == "L" and page.image.size[0] == 900
    assert page.layout == layout and page.words
    lines = page.lines
    for i, line in enumerate(lines):
        words = [w.text for w in page.words if w.line == i]
        assert " ".join(words) == line
    w, h = page.image.size
    for word in page.words:
        x0, y0, x1, y1 = word.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, word


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_word_boxes_lie_on_ink(layout: str) -> None:
    page = render_page(7, layout=layout, size_px=(900, 700), dpi=150, font_pt=10)
    boxes = [w.box for w in page.words]
    dark = darkness(page.image)
    mask = box_mask(dark.shape, boxes)
    inside, outside = dark[mask].mean(), dark[~mask].mean()
    assert inside > 0.15 and inside > 8 * outside, (inside, outside)
    # Every box is tight: the ink in and just around it spans exactly the box.
    for box in boxes:
        x0, y0, x1, y1 = box
        wx0, wy0 = max(0, x0 - 2), max(0, y0 - 2)
        ys, xs = np.nonzero(dark[wy0 : y1 + 2, wx0 : x1 + 2] > 0.02)
        ink = (xs.min() + wx0, ys.min() + wy0, xs.max() + wx0 + 1, ys.max() + wy0 + 1)
        assert max(abs(a - b) for a, b in zip(box, ink, strict=True)) <= 1, (box, ink)


def test_render_options() -> None:
    family = next(iter(available_fonts()))
    page = small_page(1, font=family, font_pt=14)
    assert page.font == family and page.font_pt == 14
    path = next(iter(available_fonts().values())).regular
    if path is not None:
        assert small_page(1, font=str(path)).font == path.stem
    a4 = render_page(2, size="a4", dpi=72, layout="lines")
    assert a4.image.size == (595, 842)
    receipt = render_page(2, layout="receipt", dpi=100)
    assert receipt.image.width == round(80 / 25.4 * 100)
    assert receipt.image.height < 14 * 100  # cut to its content


@pytest.mark.parametrize(
    "kwargs",
    [
        {"layout": "poster"},
        {"font": "NoSuchFont"},
        {"font": "/nonexistent/font.ttf"},
        {"dpi": 5},
        {"size": "b5"},
        {"size": (100.0, 2.0)},
        {"size_px": (4, 4)},
        {"font_pt": 1000},
    ],
)
def test_bad_render_arguments_raise_usage_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        render_page(0, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ degradation


@pytest.fixture(scope="module")
def page() -> RenderedPage:
    return small_page(21)


@pytest.mark.parametrize("kind", list(DEGRADATION_KINDS))
def test_kind_is_deterministic_with_right_size_and_mode(page: RenderedPage, kind: str) -> None:
    a = degrade(page, kind, seed=5)
    b = degrade(page, kind, seed=5)
    assert isinstance(a, Degraded) and a.kind == kind
    assert a.image.mode == "RGB"
    assert a.image.tobytes() == b.image.tobytes()
    assert a.params == b.params
    if DEGRADATION_KINDS[kind].changes_resolution and a.dpi < page.dpi:
        assert a.image.width == round(page.image.width * a.scale)
        assert a.image.height == pytest.approx(page.image.height * a.scale, abs=1)
    else:
        assert a.image.size == page.image.size
        assert a.dpi == page.dpi
    assert a.text == page.text and a.words is not None and len(a.words) == len(page.words)


@pytest.mark.parametrize("kind", [k for k in DEGRADATION_KINDS if k != "clean"])
def test_kind_changes_pixels_and_depends_on_seed(page: RenderedPage, kind: str) -> None:
    a = degrade(page, kind, seed=1)
    b = degrade(page, kind, seed=2)
    assert a.image.tobytes() != b.image.tobytes()
    assert a.params, "sampled parameters are recorded"
    if a.image.size == page.image.size:
        clean = np.asarray(page.image.convert("RGB"), dtype=np.float64)
        assert np.abs(np.asarray(a.image, dtype=np.float64) - clean).mean() > 0.5


def test_clean_is_identity(page: RenderedPage) -> None:
    out = degrade(page, "clean", seed=9)
    assert out.image.tobytes() == page.image.convert("RGB").tobytes()
    assert out.transform.is_identity and out.scale == 1.0


@pytest.mark.parametrize("kind", list(DEGRADATION_KINDS))
def test_mapped_word_boxes_stay_on_ink(kind: str) -> None:
    # A larger font so that the 60-dpi kinds still leave text to find.
    page = small_page(8, font_pt=14, size_px=(900, 600))
    out = degrade(page, kind, seed=3)
    assert out.words is not None
    contrast = ink_contrast(out.image, [w.box for w in out.words])
    assert contrast > 0.03, (kind, contrast, out.params)


def test_scan_transform_follows_the_skew() -> None:
    # A dark dot far from the centre moves by several pixels under a 0.5° skew;
    # the recorded transform must say where.
    image = Image.new("L", (1000, 1000), 255)
    image.paste(0, (40, 40, 52, 52))
    out = degrade(image, "scan", seed=4, dpi=300)
    assert abs(float(out.params["skew_deg"])) > 0.4  # seed 4 draws a large skew
    x0, y0, x1, y1 = out.map_box((40, 40, 52, 52))
    assert abs(x0 - 40) + abs(y0 - 40) >= 4, "a skewed page moves the dot"
    dark = darkness(out.image)
    inside = dark[y0:y1, x0:x1].mean()
    assert inside > dark.mean() + 0.4, (inside, out.params)


def test_lowres_transform_scales_boxes() -> None:
    image = Image.new("L", (1200, 800), 255)
    image.paste(0, (400, 200, 440, 240))
    out = degrade(image, "lowres_75dpi", seed=0, dpi=300)
    assert out.image.size == (300, 200)
    assert out.dpi == 75 and out.scale == 0.25 and out.scale_to_clean == 4
    x0, y0, x1, y1 = out.map_box((400, 200, 440, 240))
    assert (x0, y0, x1, y1) == (100, 50, 110, 60)
    assert darkness(out.image)[52:58, 102:108].mean() > 0.8


def test_plain_image_uses_its_dpi_tag() -> None:
    image = Image.new("L", (600, 400), 255)
    image.info["dpi"] = (150, 150)
    out = degrade(image, "lowres_jpeg", seed=0)
    assert out.clean_dpi == 150 and out.dpi == 60
    assert out.image.size == (240, 160)
    assert out.text is None and out.words is None


def test_fax_is_one_bit(page: RenderedPage) -> None:
    out = degrade(page, "fax", seed=4)
    assert set(np.unique(np.asarray(out.image))) <= {0, 255}
    assert out.params["mode"] in ("fine", "standard")


def test_mixed_chains_vary_with_the_seed(page: RenderedPage) -> None:
    chains = {degrade(page, "mixed", seed=s).params["steps"] for s in range(8)}
    assert len(chains) >= 4


def test_aliases_and_errors(page: RenderedPage) -> None:
    assert degrade(page, "blur", seed=0).kind == "defocus"
    with pytest.raises(UsageError, match="known: clean"):
        degrade(page, "sepia", seed=0)
    with pytest.raises(UsageError):
        degrade(page, "noise", seed=-1)
    with pytest.raises(UsageError):
        degrade("page.png", "noise", seed=0)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        degrade(page.image, "noise", seed=0, dpi=2)


def test_synthesize_uses_the_kind_render_hints() -> None:
    a = synthesize("lowres_jpeg", 5, size_px=(600, 400), dpi=150)
    b = synthesize("lowres_jpeg", 5, size_px=(600, 400), dpi=150)
    assert a.image.tobytes() == b.image.tobytes() and a.dpi == 60
    assert a.clean is not None and a.clean.text == a.text
    pages = [synthesize("lowres_jpeg", s, size_px=(300, 200), dpi=100).clean for s in range(6)]
    sizes = {p.font_pt for p in pages if p is not None}
    assert len(sizes) > 1 and all(8 <= pt <= 10 for pt in sizes), sizes
    override = synthesize("lowres_jpeg", 5, size_px=(600, 400), dpi=150, font_pt=20)
    assert override.clean is not None and override.clean.font_pt == 20


@pytest.mark.parametrize(
    ("kind", "ranges"),
    [
        ("motion_blur", {"length": (8.0, 20.0), "angle_deg": (-6.0, 6.0)}),
        ("defocus", {"radius": (2.0, 6.0)}),
        ("lowres_75dpi", {"pre_blur_sigma": (0.3, 1.2), "post_blur_sigma": (0.2, 0.7)}),
        ("small_print", {"target_dpi": (65.0, 100.0), "jpeg_quality": (30, 75)}),
    ],
)
def test_widened_ranges_are_drawn(kind: str, ranges: dict[str, tuple[float, float]]) -> None:
    # The ranges the module docstring documents, and their upper half is reached:
    # heavier blur and lower resolution than users' pages would otherwise be scored on.
    image = Image.new("L", (300, 200), 255)
    draws = [degrade(image, kind, seed=s, dpi=300).params for s in range(24)]
    for name, (low, high) in ranges.items():
        values = [float(d[name]) for d in draws]  # type: ignore[arg-type]
        assert all(low <= v <= high for v in values), (name, values)
        assert max(values) > low + 0.75 * (high - low), (name, values)


def test_small_print_is_small_and_low_resolution() -> None:
    out = synthesize("small_print", 3, size_px=(900, 600), dpi=300)
    assert out.clean is not None and 8 <= out.clean.font_pt <= 10
    assert 65 <= out.dpi <= 100 and out.image.width == round(900 * out.scale)
    assert degrade(out.clean, "small", seed=3).kind == "small_print"
    assert DEGRADATION_KINDS["lowres_75dpi"].render_hints["font_pt"] == (8.0, 11.0)


def test_kind_order_is_pinned_and_described() -> None:
    # Benchmarks derive their seeds from the position of a kind: append, never reorder.
    assert list(DEGRADATION_KINDS) == [
        "clean", "scan", "shaded_photo", "lowres_75dpi", "defocus", "motion_blur", "noise",
        "faded_ink", "jpeg", "lowres_jpeg", "fax", "mixed", "small_print",
    ]  # fmt: skip
    for kind in DEGRADATION_KINDS.values():
        assert kind.description and kind.description[0].isupper()


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(DEGRADATION_KINDS))
def test_a4_page_degrades_in_reasonable_time(kind: str) -> None:
    import time

    page = render_page(0, size="a4", dpi=300, layout="paragraphs")
    started = time.perf_counter()
    degrade(page, kind, seed=0)
    # Generous bound for busy CI machines; a quiet core takes well under a second.
    assert time.perf_counter() - started < 6.0


# ------------------------------------------------------------------ command line


def test_cli_page_writes_image_and_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    args = ["page", "--kind", "blur", "--seed", "3", "-o", str(out), "--size-px", "600x400"]
    assert synthetic_main([*args, "--dpi", "150", "--gt"]) == 0
    with Image.open(out) as image:
        assert image.size == (600, 400)
        assert round(image.info["dpi"][0]) == 150
    meta = json.loads((tmp_path / "x.words.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "defocus" and meta["words"]
    assert (tmp_path / "x.gt.txt").read_text(encoding="utf-8").strip() == meta["text"]


def test_cli_preview_writes_a_grid(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    args = ["preview", "-o", str(out), "--kinds", "clean,fax,lowres_jpeg", "--dpi", "100"]
    assert synthetic_main([*args, "--crop", "200x120", "--columns", "3"]) == 0
    with Image.open(out) as image:
        assert image.width > 3 * 200 and image.height > 120


def test_cli_unknown_kind_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = synthetic_main(["page", "--kind", "sepia", "-o", str(tmp_path / "x.png")])
    assert code == ExitCode.BAD_ARGS
    assert "unknown degradation kind" in capsys.readouterr().err


# ------------------------------------------------------------------ bundled samples

SAMPLE_FILES = ("letter_scan.pdf", "receipt_photo.jpg", "faxed_memo.png")


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_samples_exist_with_ground_truth(name: str) -> None:
    path = SAMPLES / name
    assert path.is_file()
    gt = path.with_suffix(".gt.txt").read_text(encoding="utf-8")
    assert len(gt.split()) > 20


def test_sample_properties() -> None:
    import pymupdf

    total = sum((SAMPLES / n).stat().st_size for n in SAMPLE_FILES)
    assert total < 3_000_000
    with pymupdf.open(SAMPLES / "letter_scan.pdf") as doc:
        assert doc.page_count == 2
        assert not doc[0].get_text().strip(), "a scan has no text layer"
    pages = (SAMPLES / "letter_scan.gt.txt").read_text(encoding="utf-8").split("\f")
    assert len(pages) == 2 and all(p.strip() for p in pages)
    with Image.open(SAMPLES / "faxed_memo.png") as fax:
        assert fax.mode == "1"
    assert (SAMPLES / "receipt_photo.jpg").stat().st_size < 500_000


@pytest.mark.slow
def test_make_samples_reproduces_the_committed_files(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in SAMPLE_FILES:
        for path in (name, str(Path(name).with_suffix(".gt.txt"))):
            assert (tmp_path / path).read_bytes() == (SAMPLES / path).read_bytes(), path


@pytest.mark.slow
@requires_tesseract
def test_letter_scan_is_readable_by_tesseract() -> None:
    import pymupdf
    import pytesseract

    pages = (SAMPLES / "letter_scan.gt.txt").read_text(encoding="utf-8").split("\f")
    with pymupdf.open(SAMPLES / "letter_scan.pdf") as doc:
        for pdf_page, reference in zip(doc, pages, strict=True):
            pix = pdf_page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
            image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
            text = pytesseract.image_to_string(image, lang="eng", config="--dpi 300")
            import jiwer

            cer = jiwer.cer(" ".join(reference.split()), " ".join(text.split()))
            assert cer < 0.05, cer
