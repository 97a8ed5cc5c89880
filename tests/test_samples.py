"""Regression tests on the bundled samples, through the whole default pipeline
(read first, restore where unsure, calibrated fusion) with tesseract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tair_ocr import Pipeline

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def tesseract_pipeline() -> Pipeline:
    return Pipeline(engine="tesseract", output_types=[])


def test_faxed_memo_keeps_words_every_reading_gives(tesseract_pipeline: Pipeline) -> None:
    # Both readings of "strive on" (as loaded and restored) once came out as
    # "strive'on" with confidence 0, and fusion dropped it: "let us to finish".
    result = tesseract_pipeline.run(SAMPLES / "faxed_memo.png", write=False)
    (page,) = result.pages
    assert page.ok, page.error
    text = " ".join(result.text.split())
    assert "let us to finish" not in text
    truth = " ".join((SAMPLES / "faxed_memo.gt.txt").read_text().split())
    assert truth.count("to finish the work") == text.count("to finish the work") == 2
    assert len(re.findall(r"us strive\W?\s?on to finish", text)) == 2


def test_receipt_prices_read_whole(tesseract_pipeline: Pipeline) -> None:
    # The price column once lost its integer parts ("19.84" -> "84", "2.39" -> ".39").
    result = tesseract_pipeline.run(SAMPLES / "receipt_photo.jpg", write=False)
    (page,) = result.pages
    assert page.ok, page.error
    truth = (SAMPLES / "receipt_photo.gt.txt").read_text().split()
    amounts = [t for t in truth if re.fullmatch(r"\d+\.\d\d", t)]
    read = result.text.split()
    assert [a for a in amounts if a not in read] == []
    assert not [w for w in read if re.fullmatch(r"\.\d\d", w)]
