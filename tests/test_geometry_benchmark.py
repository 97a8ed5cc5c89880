"""The geometry benchmark's bookkeeping: how it presents pages, where it finds them,
and its report on made-up records (no OCR runs here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import geometry_accuracy as ga


def test_present_turns_counter_clockwise_and_skews_onto_a_larger_canvas() -> None:
    image = Image.new("L", (60, 40), 255)
    image.putpixel((0, 0), 0)  # the top-left corner
    turned = ga.present(image, ga.Variant("t", turn=90))
    assert turned.size == (40, 60)
    assert turned.getpixel((0, 59)) == 0  # counter-clockwise: top-left to bottom-left
    skewed = ga.present(image.convert("RGB"), ga.Variant("s", skew=5.0))
    assert skewed.width > 60 and skewed.height > 40
    # The new corners take the colour along the edges (white here).
    assert skewed.getpixel((0, skewed.height - 1)) == (255, 255, 255)


def test_pages_synthetic_samples_and_a_missing_real_folder(tmp_path: Path) -> None:
    synthetic = ga.synthetic_tasks(3)
    assert [t.group for t in synthetic] == list(ga.KINDS[:3])
    assert [t.spec["seed"] for t in synthetic] == [70_000, 70_001, 70_002]
    samples = ga.sample_tasks()
    assert {t.item for t in samples} >= {"letter_scan.pdf p1", "letter_scan.pdf p2"}
    assert all(t.spec["text"].strip() for t in samples)
    notes: list[str] = []
    assert ga.real_tasks(tmp_path / "absent", notes) == []
    assert notes and "not found" in notes[0]


def _records() -> list[ga.Record]:
    """Two pages, tesseract; page b reads worse turned by 90 and was not turned."""
    cer = {"upright:off": 0.02, "upright": 0.02, "turn90": 0.02, "turn180": 0.025}
    cer |= {"turn270": 0.02, "skew+2": 0.021, "skew-5": 0.02}
    out = []
    for item in ("a", "b"):
        for variant in ga.VARIANTS:
            value = cer[variant.name]
            rotation = variant.turn
            if item == "b" and variant.name == "turn90":
                value, rotation = 0.8, 0
            out.append(
                ga.Record(
                    "synthetic",
                    "clean",
                    item,
                    "tesseract",
                    variant.name,
                    cer=value,
                    rotation=rotation if variant.filters else None,
                    expected_rotation=variant.turn,
                    skew=variant.skew + 0.1 if variant.filters else None,
                    skew_corrected=variant.skew,
                    filter_seconds={"orientation": 0.1, "deskew": 0.05},
                )
            )
    return out


def test_report_checks_the_bar_and_counts_what_the_filters_found() -> None:
    records = _records()
    lines = ga.accuracy_report(records, ["tesseract"], list(ga.VARIANTS))
    text = "\n".join(lines)
    # turn90: (0 + 78) / 2 = +39 pp on average: the bar fails there only.
    assert "| tesseract | turn90 | 2 | 41.00 | +39.00 | +78.00 | **no** |" in text
    assert "| tesseract | turn180 | 2 | 2.50 | +0.50 | +0.50 | yes |" in text
    assert "**not met**: tesseract turn90" in text
    found = "\n".join(ga.geometry_report(records, list(ga.VARIANTS)))
    assert "| turn90 | 2 | 1 | 0 | 1 |" in found  # one right, none wrong, one missed
    assert "| skew-5 | 2 | 2 | 0.000 | 0.000 | 0 |" in found


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_present_keeps_every_pixel_of_a_turned_page(turn: int) -> None:
    rng = np.random.default_rng(turn)
    image = Image.fromarray(rng.integers(0, 255, (30, 50), dtype=np.uint8), "L")
    back = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180}
    back[270] = Image.Transpose.ROTATE_90
    turned = ga.present(image, ga.Variant("t", turn=turn))
    assert np.array_equal(np.asarray(turned.transpose(back[turn])), np.asarray(image))
