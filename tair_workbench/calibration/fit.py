"""Fit the word-confidence calibrations of :mod:`tair_ocr.calibration` on synthetic pages.

For every degradation kind of :data:`tair_workbench.synthetic.degrade.DEGRADATION_KINDS`,
``pages_per_kind`` pages are made with :func:`~tair_workbench.synthetic.degrade.synthesize`
from seeds ``SEED_BASE + 1000 * kind_index + i`` (40 000 and up: the benchmarks use
10 000+ and 20 000+, training and samples stay below 10 000). Each engine reads each
page as it is (condition ``original``) and, with a restorer, the page restored by it
(``restored``, or ``restored-enlarged`` where the working scale enlarged small text;
words mapped back to the degraded page's pixels). Every word the
engine returns is labelled right or wrong against the ground-truth word boxes
(:func:`label_words`); the label and the engine's raw score are the fitting data.

Per engine and condition: isotonic maps (pool adjacent violators, :func:`fit_isotonic`)
are fitted on two thirds of the pages and scored (Brier, expected calibration error)
on the other third, raw and calibrated, three times over (:func:`page_folds`: with
three pages or more per kind, every third holds every kind); a word-length class
gets its own map only when it has enough words and its maps beat the pooled ones on
the held-out words (:func:`select_and_fit`). Pages an engine can hardly read make
its scores over-confident, so words are also classed by their reading's page
quality (:func:`tair_ocr.calibration.page_quality`, the median raw score): a
threshold from :data:`POOR_PAGE_THRESHOLDS` that splits the pages into poor ones
(a map of their own) and the rest is kept where it scores better on held-out
pages (:func:`select_poor_pages`). Then the maps are refitted on all pages and
written to ``<out>/<engine>.json``.

    python -m tair_workbench.calibration fit --engines tesseract,rapidocr --pages-per-kind 3 \\
        --out tair_ocr/calibration/data --restorer cleaner --jobs 2

``--save-readings FILE`` keeps the labelled words; ``--from-readings FILE`` refits
from them without reading a page (to try other length classes, say).

The heavy imports (generator, restoration, engines) happen inside the functions that
read pages, so the fitting maths can be used (and tested) without them.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tair_ocr.calibration import (
    FORMAT_VERSION,
    Calibration,
    IsotonicMap,
    LengthClass,
    page_quality,
    restored_condition,
    word_length,
)
from tair_ocr.results import BBox, Word

__all__ = [
    "DEFAULT_LENGTH_CLASSES",
    "SEED_BASE",
    "Sample",
    "brier_score",
    "expected_calibration_error",
    "fit_calibration",
    "fit_isotonic",
    "label_words",
    "limit_threads",
    "run_fit",
    "select_and_fit",
    "select_poor_pages",
]

log = logging.getLogger(__name__)

#: First seed of the calibration pages: kind k, page i uses ``SEED_BASE + 1000 k + i``.
SEED_BASE = 40_000
#: Word-length classes tried for maps of their own (the rest use the pooled map).
DEFAULT_LENGTH_CLASSES: tuple[str, ...] = ("1-3", "4+")
#: A length class needs this many fitting words for a map of its own.
MIN_CLASS_WORDS = 300
#: Each knot of a map summarises at least this many words: isotonic regression on
#: its own puts a knot at every violation-free step, and steps of a handful of words
#: are noise (and would bloat the data file).
MIN_BLOCK_WORDS = 40
#: Page-quality thresholds tried for a poor-page map (median raw score of a reading).
POOR_PAGE_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
#: A poor-page map must lower the held-out Brier score by this share at least: a
#: smaller gain is noise, and the map would be one more thing to go stale.
MIN_POOR_PAGE_GAIN = 0.01
#: Poor pages must be at least this many in every fold's training pages: one
#: hopeless page is no class.
MIN_POOR_PAGES = 2
#: Bins of the expected calibration error (equal width on [0, 1]).
ECE_BINS = 10
#: A wrong word at or above this raw score counts as "confidently wrong" in reports.
CONFIDENT = 0.9
#: Languages the pages are read in (the generator writes English text).
LANGUAGES = ["eng"]

#: Label of each engine word (:func:`label_words`); only ``right`` is right.
RIGHT, MISREAD, SPLIT, MERGED, DUPLICATE, UNMATCHED = (
    "right",
    "misread",
    "split",
    "merged",
    "duplicate",
    "unmatched",
)


# ---------------------------------------------------------------------- maths


def fit_isotonic(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    min_block: int = MIN_BLOCK_WORDS,
) -> IsotonicMap:
    """The non-decreasing map from ``xs`` (raw scores) to ``ys`` (0/1 labels) that
    fits best in squares: pool adjacent violators.

    Equal ``xs`` are pooled first (equal scores must get one probability); steps
    of fewer than ``min_block`` samples are merged into their neighbours (a merged
    step's mean lies between its parts', so the result stays monotone). The knots
    are the steps' centroids; values get add-half smoothing so that no finite
    sample claims certainty (0 or 1).
    """
    if len(xs) != len(ys) or not len(xs):
        raise ValueError("fit_isotonic needs as many labels as scores, and at least one")
    x = np.clip(np.asarray(xs, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(ys, dtype=np.float64)
    ux, inverse = np.unique(x, return_inverse=True)
    n = np.bincount(inverse).astype(np.float64)
    sy = np.bincount(inverse, weights=y)
    # Blocks as [count, sum of y, sum of x]; each unique score starts one.
    blocks: list[list[float]] = []
    for count, total, value in zip(n, sy, ux * n, strict=True):
        blocks.append([count, total, value])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            last = blocks.pop()
            for k in range(3):
                blocks[-1][k] += last[k]
    merged: list[list[float]] = []
    for block in blocks:
        if merged and merged[-1][0] < min_block:
            for k in range(3):
                merged[-1][k] += block[k]
        else:
            merged.append(list(block))
    if len(merged) > 1 and merged[-1][0] < min_block:
        last = merged.pop()
        for k in range(3):
            merged[-1][k] += last[k]
    knots_x = [b[2] / b[0] for b in merged]
    knots_y = [(b[1] + 0.5) / (b[0] + 1.0) for b in merged]
    # Smoothing can undo the order between a small step and a big one: restore it.
    knots_y = list(np.maximum.accumulate(knots_y))
    # Centroids are strictly increasing in exact arithmetic; guard float ties.
    out_x: list[float] = []
    out_y: list[float] = []
    for kx, ky in zip(knots_x, knots_y, strict=True):
        if out_x and kx <= out_x[-1]:
            out_y[-1] = max(out_y[-1], ky)
            continue
        out_x.append(float(kx))
        out_y.append(float(min(1.0, max(0.0, ky))))
    return IsotonicMap(tuple(out_x), tuple(out_y))


def brier_score(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean squared difference between probability and outcome (0 is perfect)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if len(p) else float("nan")


def expected_calibration_error(
    probabilities: Sequence[float], labels: Sequence[bool], bins: int = ECE_BINS
) -> float:
    """Word-weighted mean |mean probability - share right| over equal-width bins."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if not len(p):
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(p))


@dataclass(frozen=True)
class Sample:
    """One engine word of the fitting pages: its raw score, its text and its label."""

    raw: float
    text: str
    right: bool
    #: The degradation kind and the seed of its page.
    kind: str = ""
    seed: int = 0
    #: How :func:`label_words` labelled it (``right``, ``misread``, ``split``...).
    status: str = ""
    #: The page quality of the reading it belongs to (its median raw score).
    quality: float | None = None

    def poor(self, below: float | None) -> bool:
        """On a page poorer than ``below`` (never, without a threshold)."""
        return below is not None and self.quality is not None and self.quality < below


def _in_class(samples: Iterable[Sample], length_class: LengthClass) -> list[Sample]:
    return [s for s in samples if word_length(s.text) in length_class]


def _fit_map(samples: Sequence[Sample], min_block: int) -> IsotonicMap:
    return fit_isotonic([s.raw for s in samples], [s.right for s in samples], min_block=min_block)


def fit_calibration(
    engine: str,
    condition: str,
    samples: Sequence[Sample],
    *,
    length_classes: Sequence[LengthClass | str] = DEFAULT_LENGTH_CLASSES,
    min_class_words: int = MIN_CLASS_WORDS,
    min_block: int = MIN_BLOCK_WORDS,
    poor_below: float | None = None,
    stats: dict[str, Any] | None = None,
) -> Calibration:
    """Fit a pooled map and one map per length class with at least
    ``min_class_words`` samples (the others fall back to the pooled map). With
    ``poor_below``, the words of poorer pages also get a map of their own.

    The other maps stay fitted on all pages, poor ones included: fitted on the
    good synthetic pages alone they credit low scores more than real scans bear
    out (stains and textures the generator does not make are read as junk with
    low scores, which on clean synthetic pages are still often right)."""
    if not samples:
        raise ValueError(f"no words to fit {engine} ({condition}) on")
    poor = [s for s in samples if s.poor(poor_below)]
    poor_pages = None
    if poor and len(poor) < len(samples) and poor_below is not None:
        poor_pages = (poor_below, _fit_map(poor, min_block))
    ordinary = list(samples)
    classes = [c if isinstance(c, LengthClass) else LengthClass.parse(c) for c in length_classes]
    by_length = []
    for length_class in classes:
        members = _in_class(ordinary, length_class)
        if len(members) >= min_class_words:
            by_length.append((length_class, _fit_map(members, min_block)))
    return Calibration(
        engine=engine,
        condition=condition,
        pooled=_fit_map(ordinary, min_block),
        by_length=tuple(by_length),
        poor_pages=poor_pages,
        accuracy=sum(s.right for s in samples) / len(samples),
        words=len(samples),
        stats=stats or {},
    )


def _probabilities(calibration: Calibration | None, samples: Sequence[Sample]) -> list[float]:
    if calibration is None:
        return [s.raw for s in samples]
    return [calibration.probability(s.raw, s.text, s.quality) for s in samples]


def _sse(probabilities: Sequence[float], samples: Sequence[Sample]) -> float:
    return sum((p - s.right) ** 2 for p, s in zip(probabilities, samples, strict=True))


def select_poor_pages(
    engine: str,
    condition: str,
    folds: Sequence[Fold],
    *,
    length_classes: Sequence[LengthClass] = (),
    thresholds: Sequence[float] = POOR_PAGE_THRESHOLDS,
    min_class_words: int = MIN_CLASS_WORDS,
    min_block: int = MIN_BLOCK_WORDS,
    min_pages: int = MIN_POOR_PAGES,
    min_gain: float = MIN_POOR_PAGE_GAIN,
) -> tuple[float | None, dict[str, Any]]:
    """The page-quality threshold below which a poor-page map pays, or None.

    A threshold is tried where every fold's training words have at least
    ``min_class_words`` words on ``min_pages`` pages below it and as many above
    it; it is scored by the squared error over all held-out words of the maps
    fitted with it, against the maps fitted without. The lowest error wins, if it
    beats the maps without a threshold by ``min_gain`` (a share). Returns the
    threshold and a report (the held-out Brier score of each threshold tried)."""
    held = [s for _, test in folds for s in test]

    def held_out_sse(below: float | None) -> float | None:
        total = 0.0
        for train, test in folds:
            if below is not None:
                poor = [s for s in train if s.poor(below)]
                if (
                    len(poor) < min_class_words
                    or len({s.seed for s in poor}) < min_pages
                    or len(train) - len(poor) < min_class_words
                ):
                    return None
            fitted = fit_calibration(
                engine,
                condition,
                train,
                length_classes=length_classes,
                min_class_words=min_class_words,
                min_block=min_block,
                poor_below=below,
            )
            total += _sse(_probabilities(fitted, test), test)
        return total

    baseline = held_out_sse(None)
    assert baseline is not None
    n = max(1, len(held))
    report: dict[str, Any] = {"brier_without": round(baseline / n, 5), "tried": {}}
    best: tuple[float, float | None] = (baseline * (1.0 - min_gain), None)
    for below in thresholds:
        sse = held_out_sse(below)
        report["tried"][f"{below:g}"] = round(sse / n, 5) if sse is not None else None
        if sse is not None and sse < best[0]:
            best = (sse, below)
    report["chosen"] = best[1]
    return best[1], report


def _scores(probabilities: Sequence[float], samples: Sequence[Sample]) -> dict[str, float]:
    labels = [s.right for s in samples]
    return {
        "brier": round(brier_score(probabilities, labels), 5),
        "ece": round(expected_calibration_error(probabilities, labels), 5),
    }


Fold = tuple[Sequence[Sample], Sequence[Sample]]


def select_and_fit(
    engine: str,
    condition: str,
    folds: Sequence[Fold],
    *,
    length_classes: Sequence[LengthClass | str] = DEFAULT_LENGTH_CLASSES,
    min_class_words: int = MIN_CLASS_WORDS,
    min_block: int = MIN_BLOCK_WORDS,
) -> tuple[Calibration, dict[str, Any]]:
    """Choose the length classes by cross-validation, score the choice, refit on all.

    ``folds`` are ``(train, test)`` splits whose tests partition the words (e.g.
    three folds of pages: fit on two thirds, score on the other third). A class
    keeps a map of its own when every fold has ``min_class_words`` training words of
    it and its maps score a held-out Brier score on the class's words no worse than
    the pooled maps'. The report gives raw and calibrated Brier/ECE over all
    held-out words (each scored by the maps of the fold that held it out), per fold
    and per class. Returns the calibration fitted on all words and the report.
    """
    classes = [c if isinstance(c, LengthClass) else LengthClass.parse(c) for c in length_classes]
    everything = [s for _, test in folds for s in test]
    pooled = [
        fit_calibration(engine, condition, train, length_classes=(), min_block=min_block)
        for train, _ in folds
    ]
    chosen: list[LengthClass] = []
    per_class: dict[str, Any] = {}
    for length_class in classes:
        entry: dict[str, Any] = {"words": len(_in_class(everything, length_class))}
        own_p: list[float] = []
        pooled_p: list[float] = []
        held: list[Sample] = []
        enough = True
        for (train, test), pooled_fit in zip(folds, pooled, strict=True):
            train_c, test_c = _in_class(train, length_class), _in_class(test, length_class)
            if len(train_c) < min_class_words:
                enough = False
                break
            own = fit_calibration(
                engine, condition, train_c, length_classes=(), min_block=min_block
            )
            own_p += _probabilities(own, test_c)
            pooled_p += _probabilities(pooled_fit, test_c)
            held += test_c
        if enough and held:
            entry["brier_pooled_map"] = _scores(pooled_p, held)["brier"]
            entry["brier_own_map"] = _scores(own_p, held)["brier"]
            if entry["brier_own_map"] <= entry["brier_pooled_map"]:
                chosen.append(length_class)
        entry["own_map"] = length_class in chosen
        per_class[length_class.label] = entry
    poor_below, poor_report = select_poor_pages(
        engine,
        condition,
        folds,
        length_classes=chosen,
        min_class_words=min_class_words,
        min_block=min_block,
    )
    raw_p: list[float] = []
    cal_p: list[float] = []
    held = []
    per_fold = []
    for train, test in folds:
        fitted = fit_calibration(
            engine,
            condition,
            train,
            length_classes=chosen,
            min_class_words=min_class_words,
            min_block=min_block,
            poor_below=poor_below,
        )
        fold_raw, fold_cal = _probabilities(None, test), _probabilities(fitted, test)
        raw, cal = _scores(fold_raw, test), _scores(fold_cal, test)
        per_fold.append(
            {
                "train_words": len(train),
                "test_words": len(test),
                "brier_raw": raw["brier"],
                "brier_calibrated": cal["brier"],
                "ece_raw": raw["ece"],
                "ece_calibrated": cal["ece"],
            }
        )
        raw_p += fold_raw
        cal_p += fold_cal
        held += test
    raw, cal = _scores(raw_p, held), _scores(cal_p, held)
    report = {
        "folds": len(folds),
        "test_words": len(held),
        "brier_raw": raw["brier"],
        "brier_calibrated": cal["brier"],
        "ece_raw": raw["ece"],
        "ece_calibrated": cal["ece"],
        "per_fold": per_fold,
        "length_classes": per_class,
        "poor_pages": poor_report,
    }
    final = fit_calibration(
        engine,
        condition,
        everything,
        length_classes=chosen,
        min_class_words=min_class_words,
        min_block=min_block,
        poor_below=poor_below,
    )
    return final, report


# ---------------------------------------------------------------------- labels


Truth = Sequence[tuple[str, tuple[float, float, float, float]]]


def label_words(words: Sequence[Word], truth: Truth) -> list[str]:
    """Label each engine word against the ground truth ``(text, (x0, y0, x1, y1))``.

    A word is matched to the ground-truth word that covers at least half of its box
    (or that it covers at least half of: RapidOCR's boxes are a line's height, looser
    than the inked ground truth), the one with the best IoU among those. Labels:
    ``right`` (text equal, exactly), ``misread``, ``merged`` (its box holds half or
    more of two ground-truth words: two words read as one), ``split`` (another word
    matched the same ground-truth word: one word read as two, neither part right),
    ``duplicate`` (a second exact reading of a word already read right) and
    ``unmatched`` (nothing there: noise). Only ``right`` counts as right.
    """
    if not truth:
        return [UNMATCHED] * len(words)
    boxes = np.asarray([box for _, box in truth], dtype=np.float64)
    g_area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    matched: list[int | None] = []
    merged: list[bool] = []
    for word in words:
        b = word.bbox
        iw = np.minimum(boxes[:, 2], b.x1) - np.maximum(boxes[:, 0], b.x0)
        ih = np.minimum(boxes[:, 3], b.y1) - np.maximum(boxes[:, 1], b.y0)
        inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
        e_area = max(b.area, 1e-9)
        of_word = inter / e_area
        of_truth = np.divide(inter, g_area, out=np.zeros_like(inter), where=g_area > 0)
        ok = (of_word >= 0.5) | (of_truth >= 0.5)
        if not ok.any():
            matched.append(None)
            merged.append(False)
            continue
        iou = inter / np.maximum(e_area + g_area - inter, 1e-9)
        matched.append(int(np.argmax(np.where(ok, iou, -1.0))))
        merged.append(int(np.count_nonzero(of_truth >= 0.5)) >= 2)
    per_truth: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(matched):
        if g is not None:
            per_truth[g].append(i)
    labels: list[str] = []
    read_right: set[int] = set()
    for i, (word, g) in enumerate(zip(words, matched, strict=True)):
        if g is None:
            labels.append(UNMATCHED)
        elif merged[i]:
            labels.append(MERGED)
        elif word.text == truth[g][0]:
            labels.append(DUPLICATE if g in read_right else RIGHT)
            read_right.add(g)
        elif len(per_truth[g]) > 1:
            labels.append(SPLIT)
        else:
            labels.append(MISREAD)
    return labels


# ---------------------------------------------------------------------- reading pages


@dataclass(frozen=True)
class PageTask:
    """One synthetic page to read with every engine, in every condition."""

    kind: str
    index: int
    seed: int
    engines: tuple[str, ...]
    restorer: str | None
    #: Single-threaded engines and restorer (several pages run side by side).
    single_thread: bool = False


@dataclass
class PageReading:
    """What :func:`read_page` returns: per (engine, condition), (raw, text, label)."""

    kind: str
    index: int
    seed: int
    truth_words: int
    readings: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


_WORKER: dict[str, Any] = {}


def limit_threads() -> None:
    """One thread for every library in this process (tesseract's OpenMP, the
    cleaner, OpenCV, torch): pages run side by side, one per worker process, and
    would otherwise fight over the cores. The benchmarks' workers use it too."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.environ["TAIR_OCR_CLEANER_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _components(task: PageTask) -> tuple[dict[str, Any], Any]:
    """The worker's configured engines and restorer (made once per process)."""
    if "engines" not in _WORKER:
        from tair_ocr.plugins import PluginManager

        pm = PluginManager()
        defaults = pm.option_models.parse({})  # every plugin's default options
        engines = {}
        for name in task.engines:
            engine = pm.engines.get(name)
            engine.configure(defaults.for_component(engine))
            if task.single_thread and hasattr(engine, "threads"):
                # rapidocr sizes onnxruntime to every core unless told otherwise.
                engine.threads = 1
            engines[name] = engine
        restorer = None
        if task.restorer:
            restorer = pm.restorers.get(task.restorer)
            restorer.configure(defaults.for_component(restorer))
        _WORKER["engines"], _WORKER["restorer"] = engines, restorer
    return _WORKER["engines"], _WORKER["restorer"]


def read_page(task: PageTask) -> PageReading:
    """Make one page and read it with every engine, as is and restored."""
    from tair_ocr.page import Page
    from tair_ocr.restoration import restore_page
    from tair_workbench.synthetic.degrade import synthesize

    engines, restorer = _components(task)
    started = time.perf_counter()
    degraded = synthesize(task.kind, task.seed)
    truth = [(w.text, tuple(float(v) for v in w.box)) for w in degraded.words or []]
    out = PageReading(task.kind, task.index, task.seed, truth_words=len(truth))
    out.seconds["synthesize"] = time.perf_counter() - started
    images: list[tuple[str, Any, float, Callable[[BBox], BBox] | None]] = [
        ("original", degraded.image, degraded.dpi, None)
    ]
    if restorer is not None:
        started = time.perf_counter()
        try:
            page = Page(
                source=Path(f"synthetic-{task.kind}-{task.seed}.png"),
                index=0,
                image=degraded.image,
                dpi=degraded.dpi,
            )
            done = restore_page(page, restorer)
            restored = done.page
            to_original = restored.to_original
            condition = restored_condition(done.scale)
            images.append((condition, restored.image, restored.working_dpi, to_original.box))
        except Exception as exc:
            out.errors.append(f"{task.restorer} failed on {task.kind} {task.seed}: {exc}")
        out.seconds["restore"] = time.perf_counter() - started
    for name, engine in engines.items():
        for condition, image, dpi, back in images:
            started = time.perf_counter()
            try:
                words = engine.recognize(image, languages=LANGUAGES, dpi=dpi, timeout=None)
            except Exception as exc:
                out.errors.append(f"{name} failed on {task.kind} {task.seed} ({condition}): {exc}")
                continue
            finally:
                key = f"{name}:{condition}"
                out.seconds[key] = out.seconds.get(key, 0.0) + time.perf_counter() - started
            if back is not None:
                # Restored pages may be rescaled: compare in the degraded page's pixels.
                words = [w.model_copy(update={"bbox": back(w.bbox)}) for w in words]
            labels = label_words(words, truth)
            out.readings[f"{name}:{condition}"] = [
                (w.confidence, w.text, label) for w, label in zip(words, labels, strict=True)
            ]
    return out


def page_tasks(
    kinds: Sequence[str],
    pages_per_kind: int,
    engines: Sequence[str],
    restorer: str | None,
    *,
    single_thread: bool = False,
) -> list[PageTask]:
    """The pages of a fit: seeds ``SEED_BASE + 1000 * kind_index + i``."""
    from tair_workbench.synthetic.degrade import DEGRADATION_KINDS

    order = list(DEGRADATION_KINDS)
    return [
        PageTask(
            kind,
            i,
            SEED_BASE + 1000 * order.index(kind) + i,
            tuple(engines),
            restorer,
            single_thread,
        )
        for kind in kinds
        for i in range(pages_per_kind)
    ]


def read_pages(
    tasks: Sequence[PageTask], jobs: int, progress: Callable[[str], None] = print
) -> list[PageReading]:
    """Read every page, ``jobs`` at a time; results in task order."""
    results: list[PageReading | None] = [None] * len(tasks)
    started = time.perf_counter()

    def report(done: int, reading: PageReading) -> None:
        took = sum(reading.seconds.values())
        progress(
            f"[{done}/{len(tasks)}] {reading.kind} seed {reading.seed}: {took:.0f}s "
            f"({time.perf_counter() - started:.0f}s elapsed)"
        )
        for error in reading.errors:
            progress(f"  warning: {error}")

    if jobs <= 1:
        for i, task in enumerate(tasks):
            results[i] = read_page(task)
            report(i + 1, results[i])  # type: ignore[arg-type]
    else:
        with ProcessPoolExecutor(jobs, initializer=limit_threads) as pool:
            futures = {pool.submit(read_page, task): i for i, task in enumerate(tasks)}
            for done, future in enumerate(as_completed(futures), 1):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # one broken page must not lose the others
                    task = tasks[i]
                    progress(f"[{done}/{len(tasks)}] {task.kind} seed {task.seed} failed: {exc}")
                    continue
                report(done, results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------- the fit


#: Folds of the held-out scoring: fit on two thirds of the pages, score on the third.
FOLDS = 3


def page_folds(pages: Sequence[Any]) -> dict[int, int]:
    """Seed -> fold (0 to ``FOLDS - 1``) of each page.

    With three or more pages per kind, page ``i`` of every kind goes to fold
    ``i % 3``: each fold holds every kind, so the held-out third has the mix of
    degradations the maps were fitted on (pages of one kind differ less than kinds
    do). With fewer, pages are dealt out in (kind, page) order.
    """
    if pages and min(Counter(p.kind for p in pages).values()) >= FOLDS:
        return {p.seed: p.index % FOLDS for p in pages}
    return {p.seed: j % FOLDS for j, p in enumerate(pages)}


def samples_from(pages: Sequence[PageReading]) -> dict[str, list[Sample]]:
    """``engine:condition`` -> its labelled words over ``pages``."""
    out: dict[str, list[Sample]] = defaultdict(list)
    for page in pages:
        for key, words in page.readings.items():
            quality = page_quality([float(raw) for raw, _, _ in words])
            out[key].extend(
                Sample(float(raw), text, label == RIGHT, page.kind, page.seed, label, quality)
                for raw, text, label in words
            )
    return out


def _per_kind(samples: Sequence[Sample], calibration: Calibration) -> dict[str, Any]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[s.kind].append(s)
    report = {}
    for kind, members in groups.items():
        confident = [s for s in members if s.raw >= CONFIDENT]
        report[kind] = {
            "words": len(members),
            "accuracy": round(sum(s.right for s in members) / len(members), 4),
            "mean_raw": round(float(np.mean([s.raw for s in members])), 4),
            "mean_calibrated": round(float(np.mean(_probabilities(calibration, members))), 4),
            # Share of the words scored >= CONFIDENT that are wrong.
            "confident_wrong": round(sum(not s.right for s in confident) / len(confident), 4)
            if confident
            else None,
        }
    return report


def fit_engine(
    engine: str,
    pages: Sequence[PageReading],
    folds: dict[int, int],
    *,
    length_classes: Sequence[str],
    min_class_words: int,
    min_block: int,
) -> dict[str, Calibration]:
    """Every condition's calibration of ``engine`` from the pages' readings."""
    samples = samples_from(pages)
    out = {}
    for key in sorted(samples):
        name, _, condition = key.partition(":")
        if name != engine:
            continue
        words = samples[key]
        read_pages_ = [p for p in pages if key in p.readings]
        splits: list[Fold] = []
        for fold in sorted(set(folds[p.seed] for p in read_pages_)):
            train = [s for s in words if folds[s.seed] != fold]
            test = [s for s in words if folds[s.seed] == fold]
            if train and test:
                splits.append((train, test))
        if not splits:
            log.warning("%s: too few pages for held-out scoring; scored on its own pages", key)
            splits = [(words, words)]
        calibration, report = select_and_fit(
            engine,
            condition,
            splits,
            length_classes=length_classes,
            min_class_words=min_class_words,
            min_block=min_block,
        )
        truth_words = sum(p.truth_words for p in read_pages_)
        # The same engine on the same pages as loaded: what a restored condition must
        # beat for re-reading restored pixels to pay (its pages are not all pages).
        seeds = {p.seed for p in read_pages_}
        same_pages = [s for s in samples.get(f"{engine}:original", []) if s.seed in seeds]
        stats = {
            "original_accuracy": round(sum(s.right for s in same_pages) / len(same_pages), 6)
            if same_pages
            else None,
            "pages": len(read_pages_),
            "truth_words": truth_words,
            # Share of the ground-truth words this engine read right (accuracy is
            # the share of its own words that are right).
            "recall": round(sum(s.right for s in words) / truth_words, 4) if truth_words else None,
            "counts": dict(Counter(s.status for s in words).most_common()),
            "held_out": {
                "method": f"{len(splits)}-fold by page: fit on the other folds' pages, "
                "score this fold's (see fitting.folds)",
                **report,
            },
            "per_kind": _per_kind(words, calibration),
        }
        out[condition] = Calibration(
            engine=calibration.engine,
            condition=condition,
            pooled=calibration.pooled,
            by_length=calibration.by_length,
            poor_pages=calibration.poor_pages,
            accuracy=calibration.accuracy,
            words=calibration.words,
            symbols=_symbol_counts(words),
            stats=stats,
        )
    return out


def _symbol_counts(samples: Sequence[Sample]) -> tuple[int, int] | None:
    """``(words, right)`` over the samples with no letter or digit, if any."""
    symbols = [s for s in samples if not any(c.isalnum() for c in s.text)]
    return (len(symbols), sum(s.right for s in symbols)) if symbols else None


def write_data(
    path: Path, engine: str, calibrations: dict[str, Calibration], fitting: dict[str, Any]
) -> None:
    """Write one engine's data file (see :func:`tair_ocr.calibration.read_calibrations`).

    An existing file fitted on another restorer keeps its conditions: this fit's
    restored conditions join it under ``restorers`` (the page-as-loaded condition
    stays the file's own, so adding a restorer changes no other reading).
    """
    conditions = {c: calibrations[c].to_dict() for c in sorted(calibrations)}
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "engine": engine,
        "fitting": fitting,
        "conditions": conditions,
    }
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        own = (existing.get("fitting") or {}).get("restorer")
        restorer = fitting.get("restorer")
        if existing.get("format") == FORMAT_VERSION and own and restorer and own != restorer:
            others = dict(existing.get("restorers") or {})
            others[restorer] = {
                "fitting": fitting,
                "conditions": {c: e for c, e in conditions.items() if c != "original"},
            }
            data = {**existing, "restorers": dict(sorted(others.items()))}
        elif existing.get("restorers"):
            data["restorers"] = existing["restorers"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _generator_digest() -> str:
    """SHA-256 (first 16 hex digits) of the synthetic generator's source files."""
    import hashlib

    import tair_workbench.synthetic as synthetic

    digest = hashlib.sha256()
    for name in ("degrade.py", "render.py", "text.py"):
        path = Path(synthetic.__file__).parent / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _available(kind: str, names: Sequence[str], message: Callable[[str], None]) -> list[str]:
    from tair_ocr.components import checked_availability
    from tair_ocr.plugins import PluginManager

    pm = PluginManager()
    registry = pm.engines if kind == "engine" else pm.restorers
    found = []
    for name in names:
        try:
            component = registry.get(name)
        except Exception as exc:
            message(f"skipping {kind} {name}: {exc}")
            continue
        availability = checked_availability(component)
        if not availability.ok:
            message(f"skipping {kind} {name}: not available: {availability.reason}")
            continue
        found.append(name)
    return found


def _describe(kind: str, name: str) -> str:
    from tair_ocr.components import checked_availability
    from tair_ocr.plugins import PluginManager

    pm = PluginManager()
    registry = pm.engines if kind == "engine" else pm.restorers
    return checked_availability(registry.get(name)).reason


def run_fit(
    engines: Sequence[str],
    pages_per_kind: int,
    out: Path,
    *,
    restorer: str | None = None,
    jobs: int = 1,
    kinds: Sequence[str] | None = None,
    length_classes: Sequence[str] = DEFAULT_LENGTH_CLASSES,
    min_class_words: int = MIN_CLASS_WORDS,
    min_block: int = MIN_BLOCK_WORDS,
    command: str = "",
    save_readings: Path | None = None,
    from_readings: Path | None = None,
    message: Callable[[str], None] = print,
) -> dict[str, dict[str, Calibration]]:
    """Read the pages, fit every engine and write ``<out>/<engine>.json``.

    ``from_readings`` refits from the readings a former run saved with
    ``save_readings`` (JSON lines) instead of reading pages again.
    """
    from tair_ocr._version import __version__
    from tair_workbench.synthetic.degrade import DEGRADATION_KINDS

    kinds = list(kinds or DEGRADATION_KINDS)
    started = time.perf_counter()
    if from_readings is not None:
        pages = [
            PageReading(**json.loads(line))
            for line in from_readings.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        pages = [p for p in pages if p.kind in kinds and p.index < pages_per_kind]
        names = [
            e for e in engines if any(k.startswith(f"{e}:") for p in pages for k in p.readings)
        ]
        restorer_used = (
            restorer if any(":restored" in k for p in pages for k in p.readings) else None
        )
    else:
        names = _available("engine", engines, message)
        restorer_used = None
        if restorer:
            restorer_used = (_available("restorer", [restorer], message) or [None])[0]
        if not names:
            message("no engine available: nothing to fit")
            return {}
        tasks = page_tasks(kinds, pages_per_kind, names, restorer_used, single_thread=jobs > 1)
        message(
            f"reading {len(tasks)} pages ({pages_per_kind} per kind, {len(kinds)} kinds) with "
            f"{', '.join(names)}"
            + (f", as is and restored by {restorer_used}" if restorer_used else "")
            + f", {jobs} at a time"
        )
        pages = read_pages(tasks, jobs, progress=message)
        if save_readings is not None:
            save_readings.parent.mkdir(parents=True, exist_ok=True)
            with save_readings.open("w", encoding="utf-8") as handle:
                for page in pages:
                    handle.write(json.dumps(page.__dict__, ensure_ascii=False) + "\n")
    seconds = time.perf_counter() - started
    folds = page_folds(pages)
    order = list(DEGRADATION_KINDS)
    results = {}
    for name in names:
        calibrations = fit_engine(
            name,
            pages,
            folds,
            length_classes=length_classes,
            min_class_words=min_class_words,
            min_block=min_block,
        )
        if not calibrations:
            message(f"{name}: no words read; no data written")
            continue
        try:
            engine_description = _describe("engine", name)
        except Exception:
            engine_description = ""
        fitting = {
            "command": command,
            "seeds": f"{SEED_BASE} + 1000 * kind_index + i, i < {pages_per_kind}",
            "kinds": {k: order.index(k) for k in kinds},
            "pages_per_kind": pages_per_kind,
            "pages": len({p.seed for p in pages}),
            "folds": {
                str(f): sorted(seed for seed, g in folds.items() if g == f)
                for f in sorted(set(folds.values()))
            },
            "restorer": restorer_used,
            "languages": LANGUAGES,
            "engine": engine_description,
            "tair_ocr_version": __version__,
            "date": _dt.date.today().isoformat(),
            # The generator is still tuned now and then: these tell stale data apart.
            "generator_sha256": _generator_digest(),
            "reading_seconds": round(seconds),
            "length_classes_tried": list(length_classes),
            "min_class_words": min_class_words,
            "min_block_words": min_block,
        }
        write_data(out / f"{name}.json", name, calibrations, fitting)
        results[name] = calibrations
        for condition, c in calibrations.items():
            h = c.stats["held_out"]
            message(
                f"{name} {condition}: {c.words} words, accuracy {c.accuracy:.3f}; held-out "
                f"Brier {h['brier_raw']:.4f} -> {h['brier_calibrated']:.4f}, "
                f"ECE {h['ece_raw']:.4f} -> {h['ece_calibrated']:.4f}; length maps: "
                f"{', '.join(lc.label for lc, _ in c.by_length) or 'pooled only'}; "
                + (
                    f"poor pages below {c.poor_pages[0]:g}"
                    if c.poor_pages is not None
                    else "no poor-page map"
                )
            )
        message(f"wrote {out / f'{name}.json'}")
    return results


def main_fit(args: Any, arguments: str) -> int:
    """The ``fit`` command (see :mod:`tair_workbench.calibration.__main__`); ``arguments``
    is its command line, recorded in the data files."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = f"python -m tair_workbench.calibration {arguments}"
    results = run_fit(
        [e.strip() for e in args.engines.split(",") if e.strip()],
        args.pages_per_kind,
        Path(args.out),
        restorer=args.restorer,
        jobs=args.jobs,
        kinds=[k.strip() for k in args.kinds.split(",")] if args.kinds else None,
        length_classes=[c.strip() for c in args.length_classes.split(",") if c.strip()],
        min_class_words=args.min_class_words,
        min_block=args.min_block_words,
        command=command,
        save_readings=Path(args.save_readings) if args.save_readings else None,
        from_readings=Path(args.from_readings) if args.from_readings else None,
        message=lambda text: print(text, file=sys.stderr, flush=True),
    )
    return 0 if results else 1
