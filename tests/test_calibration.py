"""Word-confidence calibration: isotonic maps, data files, labels, shipped data.

Fast: no engine runs; the fitting data is fabricated.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

import tair_ocr.calibration as cal
from tair_ocr.calibration import (
    Calibration,
    IsotonicMap,
    LengthClass,
    calibrate_words,
    load_calibration,
    read_calibrations,
)
from tair_ocr.results import BBox, Word
from tair_workbench.calibration.fit import (
    Sample,
    brier_score,
    expected_calibration_error,
    fit_calibration,
    fit_isotonic,
    label_words,
    page_folds,
    select_and_fit,
    select_poor_pages,
    write_data,
)


def _samples(n: int = 2000, seed: int = 0, short_penalty: float = 0.0) -> list[Sample]:
    """Words whose chance of being right is their raw score squared (overconfident
    engine); short words are wrong more often by ``short_penalty``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        raw = rng.random()
        text = "ab" if i % 3 == 0 else "word"
        p = raw**2 - (short_penalty if len(text) <= 2 else 0.0)
        out.append(Sample(raw, text, rng.random() < p, "clean", i % 10))
    return out


@pytest.fixture
def fake_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the shipped-data lookup at ``tmp_path`` (caches cleared around the test)."""
    monkeypatch.setattr(cal, "data_path", lambda engine: tmp_path / f"{engine}.json")
    cal.load_calibration.cache_clear()
    cal._shipped.cache_clear()
    yield tmp_path
    cal.load_calibration.cache_clear()
    cal._shipped.cache_clear()


# ---------------------------------------------------------------------- isotonic maps


def test_pav_pools_violators_and_smooths() -> None:
    m = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1], min_block=1)
    assert m.xs == pytest.approx((0.1, 0.25, 0.4))
    # (right + 0.5) / (words + 1) per step: 0.5/2, 1.5/3, 1.5/2.
    assert m.ys == pytest.approx((0.25, 0.5, 0.75))
    assert m(0.0) == pytest.approx(0.25)  # flat beyond the end knots
    assert m(1.0) == pytest.approx(0.75)
    assert m(0.325) == pytest.approx(0.625)  # linear between knots


def test_isotonic_map_is_monotone_and_in_unit_interval() -> None:
    samples = _samples(3000, seed=1)
    m = fit_isotonic([s.raw for s in samples], [s.right for s in samples], min_block=25)
    values = [m(i / 500) for i in range(-10, 511)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(b >= a for a, b in pairwise(values))
    assert m.ys[0] > 0.0 and m.ys[-1] < 1.0  # smoothing: never certain
    # Fewer, larger steps with a bigger minimum block.
    coarse = fit_isotonic([s.raw for s in samples], [s.right for s in samples], min_block=300)
    assert len(coarse.xs) <= 3000 // 300 + 1 and len(coarse.xs) < len(m.xs) + 1


def test_equal_scores_get_one_probability() -> None:
    m = fit_isotonic([0.5] * 10 + [0.9] * 10, [0] * 5 + [1] * 5 + [1] * 10, min_block=1)
    assert m.xs == (0.5, 0.9)


def test_isotonic_map_rejects_broken_knots() -> None:
    with pytest.raises(ValueError):
        IsotonicMap((0.2, 0.1), (0.1, 0.2))
    with pytest.raises(ValueError):
        IsotonicMap((0.1, 0.2), (0.5, 0.4))
    with pytest.raises(ValueError):
        IsotonicMap((0.1,), (1.5,))


def test_length_class_labels_round_trip() -> None:
    for label in ("1-2", "3+", "1", "3-5"):
        assert LengthClass.parse(label).label == label
    assert 2 in LengthClass.parse("1-2") and 3 not in LengthClass.parse("1-2")
    assert 40 in LengthClass.parse("3+")
    with pytest.raises(ValueError):
        LengthClass.parse("short")


# ---------------------------------------------------------------------- calibrations


def test_probability_rises_with_raw_score_and_is_calibrated() -> None:
    samples = _samples(4000, seed=2)
    c = fit_calibration("fake", "original", samples, length_classes=())
    assert c.probability(0.95, "word") > c.probability(0.3, "word")
    # The truth is raw**2: the map should be near it, not near the raw score.
    assert c.probability(0.5, "word") == pytest.approx(0.25, abs=0.08)
    assert c.words == 4000
    assert c.accuracy == pytest.approx(sum(s.right for s in samples) / 4000)
    # Calibrated scores beat the overconfident raw ones.
    test = _samples(2000, seed=3)
    labels = [s.right for s in test]
    raw = [s.raw for s in test]
    fitted = [c.probability(s.raw, s.text) for s in test]
    assert brier_score(fitted, labels) < brier_score(raw, labels)
    assert expected_calibration_error(fitted, labels) < expected_calibration_error(raw, labels)


def test_length_classes_need_enough_words_and_fall_back_to_pooled() -> None:
    samples = _samples(900, seed=4, short_penalty=0.3)  # 300 short words, 600 long
    c = fit_calibration(
        "fake", "original", samples, length_classes=("1-2", "3+"), min_class_words=400
    )
    labels = [lc.label for lc, _ in c.by_length]
    assert labels == ["3+"]  # the short class is too small for a map of its own
    assert c.map_for("ab") is c.pooled
    assert c.map_for("word") is c.by_length[0][1]
    assert c.probability(0.9, "ab") == c.pooled(0.9)


def test_select_and_fit_keeps_a_class_that_helps_on_held_out_words() -> None:
    samples = _samples(4500, seed=5, short_penalty=0.4)
    folds = [
        ([s for s in samples if s.seed % 3 != f], [s for s in samples if s.seed % 3 == f])
        for f in range(3)
    ]
    c, report = select_and_fit("fake", "original", folds, length_classes=("1-2", "3+"))
    assert "1-2" in [lc.label for lc, _ in c.by_length]
    assert report["length_classes"]["1-2"]["own_map"]
    assert c.probability(0.9, "ab") < c.probability(0.9, "word")
    assert report["folds"] == 3 and report["test_words"] == 4500
    assert report["brier_calibrated"] < report["brier_raw"]
    assert report["ece_calibrated"] < report["ece_raw"]
    assert c.words == 4500  # the final maps are fitted on every word


def test_page_folds_hold_every_kind_when_they_can() -> None:
    @dataclass
    class P:
        kind: str
        index: int
        seed: int

    three = [P(k, i, 1000 * n + i) for n, k in enumerate("abc") for i in range(3)]
    folds = page_folds(three)
    for f in range(3):
        assert sorted(p.kind for p in three if folds[p.seed] == f) == ["a", "b", "c"]
    two = [P(k, i, 1000 * n + i) for n, k in enumerate("abc") for i in range(2)]
    assert sorted(Counter(page_folds(two).values()).values()) == [2, 2, 2]


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    samples = _samples(2000, seed=7, short_penalty=0.3)
    calibrations = {
        "original": fit_calibration("fake", "original", samples, stats={"counts": {"right": 1}}),
        "restored": fit_calibration("fake", "restored", samples[:1000], length_classes=()),
    }
    path = tmp_path / "fake.json"
    write_data(path, "fake", calibrations, {"command": "test", "seeds": "none"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == cal.FORMAT_VERSION and data["fitting"]["command"] == "test"
    loaded = read_calibrations(path)
    assert set(loaded) == {"original", "restored"}
    for condition, before in calibrations.items():
        after = loaded[condition]
        assert after.engine == "fake" and after.condition == condition
        assert after.words == before.words
        assert after.accuracy == pytest.approx(before.accuracy, abs=1e-6)
        assert [lc for lc, _ in after.by_length] == [lc for lc, _ in before.by_length]
        for raw in (0.0, 0.1, 0.33, 0.5, 0.77, 0.9, 1.0):
            for text in ("a", "ab", "word"):
                assert after.probability(raw, text) == pytest.approx(
                    before.probability(raw, text), abs=1e-5
                )
    assert loaded["original"].stats["counts"] == {"right": 1}


# ---------------------------------------------------------------------- runtime lookup


def _word(text: str, confidence: float, source: str = "fake") -> Word:
    return Word(
        text=text, confidence=confidence, bbox=BBox(x0=0, y0=0, x1=10, y1=10), source=source
    )


def test_calibrate_words_sets_confidence_and_raw_confidence(fake_data: Path) -> None:
    c = fit_calibration("fake", "original", _samples(2000, seed=8), length_classes=())
    write_data(fake_data / "fake.json", "fake", {"original": c}, {"command": "test"})
    words = [_word("word", 0.95), _word("ab", 0.3)]
    out = calibrate_words(words, "fake")
    assert [w.raw_confidence for w in out] == [0.95, 0.3]
    assert out[0].confidence == pytest.approx(c.probability(0.95, "word"), abs=1e-5)
    assert out[1].confidence == pytest.approx(c.probability(0.3, "ab"), abs=1e-5)
    assert out[0].confidence > out[1].confidence
    assert words[0].raw_confidence is None and words[0].confidence == 0.95  # copies
    # Calibrating calibrated words maps from the raw score again.
    again = calibrate_words(out, "fake")
    assert [w.confidence for w in again] == [w.confidence for w in out]
    # No "restored" entry: the "original" map serves.
    restored = load_calibration("fake", "restored")
    assert restored is not None and restored.condition == "original"


def test_unknown_engines_are_left_untouched(fake_data: Path) -> None:
    words = [_word("word", 0.95)]
    assert load_calibration("third-party") is None
    out = calibrate_words(words, "third-party")
    assert out == words and out[0].raw_confidence is None
    assert load_calibration("../../etc/passwd") is None
    with pytest.raises(ValueError):
        load_calibration("fake", "sideways")


@pytest.mark.parametrize("engine", ["tesseract", "rapidocr"])
def test_shipped_data_loads_and_is_monotone(engine: str) -> None:
    for condition in cal.CONDITIONS:
        c = load_calibration(engine, condition)
        assert c is not None, f"no shipped calibration for {engine}"
        assert c.engine == engine and c.words > 0 and 0.0 < c.accuracy <= 1.0
        for text in ("a", "ab", "word", "calibration"):
            assert c.probability(0.95, text) > c.probability(0.3, text)
            values = [c.probability(i / 100, text) for i in range(101)]
            assert all(0.0 <= v <= 1.0 for v in values)
            assert all(b >= a for a, b in pairwise(values))
    path = cal.data_path(engine)
    assert path is not None
    fitting = json.loads(path.read_text(encoding="utf-8"))["fitting"]
    # The data files keep the literal command they were fitted with (the fit command
    # was ``python -m tair_ocr.calibration fit`` before it moved to the workbench).
    assert fitting["command"].startswith(
        ("python -m tair_workbench.calibration fit", "python -m tair_ocr.calibration fit")
    )
    assert fitting["pages"] > 0 and fitting["date"]


def test_runtime_module_imports_no_heavy_parts() -> None:
    code = (
        "import sys, tair_ocr; before = set(sys.modules); import tair_ocr.calibration; "
        "new = set(sys.modules) - before; "
        "bad = [m for m in new if m.split('.')[0] == 'torch' or m.startswith("
        "('tair_workbench', 'tair_ocr.pipeline'))]; "
        "assert not bad, bad; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------- labels


def _at(text: str, x0: float, x1: float, y0: float = 0, y1: float = 20) -> Word:
    return Word(text=text, confidence=0.9, bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1), source="t")


def test_label_words() -> None:
    truth = [
        ("Hello", (0, 0, 50, 20)),
        ("world", (60, 0, 110, 20)),
        ("again", (120, 0, 170, 20)),
        ("split", (200, 0, 260, 20)),
        ("twice", (300, 0, 350, 20)),
    ]
    words = [
        _at("Hello", 1, 49, -4, 24),  # right (a looser box, as rapidocr's)
        _at("world", 59, 111),  # right
        _at("agaim", 120, 170),  # misread
        _at("spl", 200, 228),  # split in two
        _at("it", 230, 260),
        _at("twice", 300, 350),  # right, then read again
        _at("twice", 302, 348),
        _at("noise", 500, 540),  # nothing there
        _at("HelloWorld", 0, 110, 0, 20),  # two words as one
    ]
    assert label_words(words, truth) == [
        "right",
        "right",
        "misread",
        "split",
        "split",
        "right",
        "duplicate",
        "unmatched",
        "merged",
    ]
    assert label_words(words[:2], []) == ["unmatched", "unmatched"]


def test_calibration_is_a_frozen_dataclass() -> None:
    c = fit_calibration("fake", "original", _samples(500), length_classes=())
    assert isinstance(c, Calibration)
    with pytest.raises(AttributeError):
        c.accuracy = 1.0  # type: ignore[misc]


def test_symbol_only_words_get_the_rate_they_are_right(tmp_path: Path) -> None:
    """Specks and rules read as "|" or "—" score high but are almost never right."""
    pooled = cal.IsotonicMap((0.0, 1.0), (0.1, 0.99))
    calibration = cal.Calibration("fake", "original", pooled, symbols=(98, 0))
    assert calibration.probability(0.99, "|") == pytest.approx(1 / 100)
    assert calibration.probability(0.99, "I") == pytest.approx(0.99 * 0.89 + 0.1, abs=1e-3)
    assert calibration.probability(0.99, "4.") > 0.9  # a digit: a real word
    path = tmp_path / "fake.json"
    write_data(path, "fake", {"original": calibration}, {"command": "test"})
    assert read_calibrations(path)["original"].symbols == (98, 0)
    # Without symbol counts the map decides.
    plain = cal.Calibration("fake", "original", pooled)
    assert plain.probability(0.99, "|") == pytest.approx(plain.probability(0.99, "I"))


def test_knots_that_rounding_made_equal_are_merged() -> None:
    data = {"x": [0.2, 0.99996, 0.99996, 1.0], "y": [0.1, 0.8, 0.9, 1]}
    mapping = cal.IsotonicMap.from_dict(data)
    assert mapping.xs == (0.2, 0.99996, 1.0) and mapping.ys == (0.1, 0.9, 1.0)


def test_restored_conditions_belong_to_the_restorer_they_were_fitted_on() -> None:
    fitted = json.loads(cal.data_path("tesseract").read_text())["fitting"]["restorer"]
    assert load_calibration("tesseract", "restored", fitted).condition == "restored"
    # A restorer never fitted gets the page's calibration, not another restorer's.
    assert load_calibration("tesseract", "restored", "not-fitted").condition == "original"
    # Without a restorer named, the shipped restored condition is used.
    assert load_calibration("tesseract", "restored-enlarged").condition == "restored-enlarged"


def test_a_second_restorer_joins_the_data_file_without_changing_the_first(
    fake_data: Path,
) -> None:
    samples = _samples(1500, seed=3)
    path = fake_data / "fake.json"
    first = {c: fit_calibration("fake", c, samples) for c in ("original", "restored")}
    write_data(path, "fake", first, {"restorer": "cleaner"})
    # The second fit's own "original" (other readings) must not replace the file's.
    other = _samples(1500, seed=4, short_penalty=0.4)
    second = {c: fit_calibration("fake", c, other) for c in ("original", "restored-enlarged")}
    write_data(path, "fake", second, {"restorer": "classical"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["fitting"]["restorer"] == "cleaner"
    assert set(data["restorers"]) == {"classical"}
    assert set(data["restorers"]["classical"]["conditions"]) == {"restored-enlarged"}

    def p(condition: str, restorer: str | None) -> float:
        found = load_calibration("fake", condition, restorer)
        assert found is not None
        return found.probability(0.6, "ab")

    def fitted(calibration: Calibration) -> float:
        return pytest.approx(calibration.probability(0.6, "ab"), abs=1e-5)

    assert p("original", "classical") == fitted(first["original"])
    assert p("restored", "cleaner") == fitted(first["restored"])
    assert p("restored-enlarged", "classical") == fitted(second["restored-enlarged"])
    # "restored" falls back within the restorer's own conditions, then to the page's.
    assert load_calibration("fake", "restored", "classical").condition == "original"
    assert load_calibration("fake", "restored", "terediff").condition == "original"
    # Refitting the first restorer keeps the second one's section.
    write_data(path, "fake", first, {"restorer": "cleaner", "command": "again"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["fitting"]["command"] == "again" and set(data["restorers"]) == {"classical"}


# ---------------------------------------------------------------------- page quality


def _pages(poor_effect: bool, pages: int = 30, words: int = 150, seed: int = 3) -> list[Sample]:
    """Readings of ``pages`` pages; a quarter are poor (their raw scores are low).
    With ``poor_effect`` the engine is over-confident on the poor pages: a word
    there is right with half the chance its raw score gives on the others."""
    rng = random.Random(seed)
    out = []
    for page in range(pages):
        poor = page % 4 == 0
        raws = [min(1.0, max(0.0, rng.gauss(0.45 if poor else 0.9, 0.15))) for _ in range(words)]
        quality = cal.page_quality(raws)
        for raw in raws:
            p = raw * (0.3 if poor and poor_effect else 1.0)
            out.append(Sample(raw, "word", rng.random() < p, "k", page, quality=quality))
    return out


def _page_folds(samples: list[Sample]) -> list[tuple[list[Sample], list[Sample]]]:
    return [
        ([s for s in samples if s.seed % 3 != f], [s for s in samples if s.seed % 3 == f])
        for f in range(3)
    ]


def test_poor_page_map_is_chosen_where_scores_mislead_and_scores_better() -> None:
    samples = _pages(poor_effect=True)
    below, report = select_poor_pages("fake", "original", _page_folds(samples), length_classes=())
    assert below is not None and 0.5 <= below <= 0.9
    assert report["tried"][f"{below:g}"] < report["brier_without"]
    c, full = select_and_fit("fake", "original", _page_folds(samples), length_classes=())
    assert c.poor_pages is not None and full["poor_pages"]["chosen"] == below
    # The same raw score means less on a poor page, and the held-out score improves.
    assert c.probability(0.7, "word", quality=0.4) < c.probability(0.7, "word", quality=0.9) - 0.2
    assert c.probability(0.7, "word") == c.probability(0.7, "word", quality=0.9)
    plain = fit_calibration("fake", "original", samples, length_classes=())
    held = [s for _, test in _page_folds(samples) for s in test]
    assert full["brier_calibrated"] < brier_score(
        [plain.probability(s.raw, s.text) for s in held], [s.right for s in held]
    )


def test_no_poor_page_map_without_a_page_effect() -> None:
    samples = _pages(poor_effect=False)
    below, _ = select_poor_pages("fake", "original", _page_folds(samples), length_classes=())
    assert below is None


def test_poor_page_map_round_trips_and_calibrate_words_uses_the_reading_median(
    fake_data: Path,
) -> None:
    c = fit_calibration("fake", "original", _pages(poor_effect=True), poor_below=0.7)
    assert c.poor_pages is not None
    write_data(fake_data / "fake.json", "fake", {"original": c}, {"command": "test"})
    loaded = read_calibrations(fake_data / "fake.json")["original"]
    assert loaded.poor_pages is not None and loaded.poor_pages[0] == 0.7
    for raw in (0.2, 0.5, 0.8):
        assert loaded.probability(raw, "word", 0.3) == pytest.approx(c.poor_pages[1](raw), abs=1e-5)
    # One confident word among weak ones: its reading is of a poor page ...
    weak = calibrate_words([_word("word", 0.8)] + [_word("word", 0.3)] * 4, "fake")
    # ... among strong ones, of an ordinary page.
    strong = calibrate_words([_word("word", 0.8)] + [_word("word", 0.95)] * 4, "fake")
    assert weak[0].confidence < strong[0].confidence - 0.2
    assert weak[0].confidence == pytest.approx(loaded.probability(0.8, "word", 0.3), abs=1e-5)
    # Calibrating again (a reading put together from crops) keeps the raw scores.
    again = calibrate_words(weak + strong[1:], "fake")
    assert [w.raw_confidence for w in again] == [0.8] + [0.3] * 4 + [0.95] * 4
