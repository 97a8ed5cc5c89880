"""Calibrated word confidences: an engine's raw score -> the probability the word is right.

Engines score words on scales of their own: tesseract gives 0-100 per word (0-1 in
:attr:`tair_ocr.results.Word.confidence`), RapidOCR one score per detected line that
is shared out over its words. A 0.9 from one is not a 0.9 from the other, so they
cannot be compared or combined as they are. This package maps each engine's raw
score to the probability that the word is read exactly right, with a monotone
piecewise-linear map fitted (isotonic regression, pool adjacent violators) on pages
of the project's synthetic generator. Fitting is workbench work: the workbench's
``python -m tair_workbench.calibration fit`` writes the data files (it needs
``pip install -e '.[train]'``); ``python -m tair_ocr.calibration show`` summarises them.

The fitted maps ship as ``data/<engine>.json``, one file per engine holding its
*conditions*: ``original`` (the page as loaded), ``restored`` and
``restored-enlarged`` (the page after a restorer, at its size or enlarged). Restored
conditions belong to the restorer whose output they were fitted on: the file's own
(``fitting.restorer``) and any others under ``restorers``. Within a condition there
is a pooled map and, where the fitting data supported one, a map per word-length
class (one- and two-letter words are misread differently from long ones); a length
class without its own map uses the pooled one.

Engines are over-confident on pages they cannot read: on a page where most of
tesseract's words score low, even its confident words are mostly wrong. So a
condition may also hold a *poor-page* map: words of a reading whose median raw
score (its *page quality*, :func:`page_quality`) is below a fitted threshold use
it, the others use the maps above (fitted on all pages, as without it). The
threshold is chosen, and kept only, where it scores better on held-out pages.

This module is the runtime side: it imports no torch, no synthetic generator, no
workbench and no pipeline, only :mod:`tair_ocr.results`.
"""

from __future__ import annotations

import json
import re
import statistics
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

from tair_ocr.results import Word

__all__ = [
    "CONDITIONS",
    "FORMAT_VERSION",
    "Calibration",
    "IsotonicMap",
    "LengthClass",
    "calibrate_words",
    "data_path",
    "load_calibration",
    "page_quality",
    "raw_score",
    "read_calibrations",
    "restored_condition",
]

#: Version of the data file layout; bumped on incompatible changes.
FORMAT_VERSION = 1
#: The page conditions a calibration is fitted for.
CONDITIONS = ("original", "restored", "restored-enlarged")
#: Working scales above this count as enlarged: small text brought up to size.
ENLARGED_SCALE = 1.05
#: Engine names that may name a data file (third-party names are free-form; only
#: these characters can ever match a shipped file, and they keep paths inside data/).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class IsotonicMap:
    """A non-decreasing piecewise-linear map on [0, 1], flat beyond its end knots.

    ``xs`` are strictly increasing knots (raw scores), ``ys`` the probabilities at
    them (non-decreasing, in [0, 1]). Isotonic regression gives a step function; its
    steps' centroids joined by straight lines keep it monotone but stop equal raw
    scores near a step from getting very different probabilities.
    """

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.xs or len(self.xs) != len(self.ys):
            raise ValueError("an isotonic map needs as many ys as xs, and at least one")
        if any(b <= a for a, b in pairwise(self.xs)):
            raise ValueError("isotonic map knots must be strictly increasing")
        if any(b < a for a, b in pairwise(self.ys)):
            raise ValueError("isotonic map values must be non-decreasing")
        if not all(0.0 <= y <= 1.0 for y in self.ys):
            raise ValueError("isotonic map values must lie in [0, 1]")

    def __call__(self, x: float) -> float:
        xs, ys = self.xs, self.ys
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        i = bisect_right(xs, x)  # xs[i - 1] <= x < xs[i]
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)

    def to_dict(self) -> dict[str, list[float]]:
        """``{"x": [...], "y": [...]}``, rounded for a compact file."""
        return _knots([round(x, 6) for x in self.xs], [round(y, 6) for y in self.ys])

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> IsotonicMap:
        knots = _knots([float(x) for x in data["x"]], [float(y) for y in data["y"]])
        return cls(tuple(knots["x"]), tuple(knots["y"]))


def _knots(xs: list[float], ys: list[float]) -> dict[str, list[float]]:
    """Knots with equal ``x`` (rounding makes raw scores near 1 collide) merged into
    one, which keeps the higher ``y`` (the map stays non-decreasing)."""
    out_x: list[float] = []
    out_y: list[float] = []
    for x, y in zip(xs, ys, strict=True):
        if out_x and x <= out_x[-1]:
            out_y[-1] = max(out_y[-1], y)
        else:
            out_x.append(x)
            out_y.append(y)
    return {"x": out_x, "y": out_y}


@dataclass(frozen=True)
class LengthClass:
    """Words of ``low`` to ``high`` characters (``high`` None: no upper bound)."""

    low: int
    high: int | None = None

    def __contains__(self, length: object) -> bool:
        return isinstance(length, int) and (
            self.low <= length and (self.high is None or length <= self.high)
        )

    @property
    def label(self) -> str:
        """``"1-2"``, ``"3+"`` or ``"1"``: the spelling the command line and data use."""
        if self.high is None:
            return f"{self.low}+"
        return str(self.low) if self.high == self.low else f"{self.low}-{self.high}"

    @classmethod
    def parse(cls, label: str) -> LengthClass:
        """The inverse of :attr:`label`."""
        text = label.strip()
        try:
            if text.endswith("+"):
                return cls(int(text[:-1]), None)
            low, _, high = text.partition("-")
            return cls(int(low), int(high or low))
        except ValueError:
            raise ValueError(f"not a word-length class: {label!r} (e.g. 1-2, 3+)") from None


def word_length(text: str) -> int:
    """Characters of a word as the length classes count them (surrounding space ignored)."""
    return len(text.strip())


@dataclass(frozen=True)
class Calibration:
    """One engine's fitted map from raw word confidence to P(word read exactly right).

    ``pooled`` is fitted on all words; ``by_length`` holds the maps of the
    word-length classes that had enough words (and were better than the pooled map
    on held-out pages); any other length uses ``pooled``. With ``poor_pages``
    (threshold, map), words of a reading whose :func:`page_quality` is below the
    threshold use that map (``pooled`` and ``by_length`` are fitted on all pages).
    """

    engine: str
    #: ``"original"`` (page as loaded) or ``"restored"`` (page after a restorer).
    condition: str
    pooled: IsotonicMap
    by_length: tuple[tuple[LengthClass, IsotonicMap], ...] = ()
    #: Share of the engine's words read exactly right on the fitting pages; what
    #: engines can be ranked by.
    accuracy: float = 0.0
    #: How many words the maps were fitted on.
    words: int = 0
    #: ``(words, right)`` for words with no letter or digit ("|", "—", "."): an
    #: engine reads specks and rules as such "words" with high scores, and they are
    #: almost never right, whatever the score says.
    symbols: tuple[int, int] | None = None
    #: ``(below, map)``: the map of words on pages whose reading has a median raw
    #: score below ``below`` (see :func:`page_quality`).
    poor_pages: tuple[float, IsotonicMap] | None = None
    #: The rest of the data file's entry (counts, held-out scores), for reports.
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def map_for(self, text: str, quality: float | None = None) -> IsotonicMap:
        """The map that scores ``text`` in a reading of page ``quality``: the
        poor-page map on a poor page, else its length class's, else the pooled one."""
        if self.poor_pages is not None and quality is not None and quality < self.poor_pages[0]:
            return self.poor_pages[1]
        n = word_length(text)
        for length_class, mapping in self.by_length:
            if n in length_class:
                return mapping
        return self.pooled

    def probability(self, raw: float, text: str, quality: float | None = None) -> float:
        """P(``text`` is read right) given the engine's raw score ``raw`` (0-1) and
        the :func:`page_quality` of the reading it belongs to (None: unknown, the
        maps of ordinary pages)."""
        raw = min(1.0, max(0.0, float(raw)))
        if self.symbols is not None and not any(c.isalnum() for c in text):
            words, right = self.symbols
            return (right + 1) / (words + 2)  # Laplace: the rate seen, never 0 or 1
        return self.map_for(text, quality)(raw)

    def to_dict(self) -> dict[str, Any]:
        """The condition's entry in a data file (see :func:`read_calibrations`)."""
        return {
            "accuracy": round(self.accuracy, 6),
            "words": self.words,
            "pooled": self.pooled.to_dict(),
            "by_length": {c.label: m.to_dict() for c, m in self.by_length},
            **(
                {"symbols": {"words": self.symbols[0], "right": self.symbols[1]}}
                if self.symbols is not None
                else {}
            ),
            **(
                {
                    "poor_pages": {
                        "below": round(self.poor_pages[0], 6),
                        "map": self.poor_pages[1].to_dict(),
                    }
                }
                if self.poor_pages is not None
                else {}
            ),
            **{k: v for k, v in self.stats.items() if k not in _OWN_KEYS},
        }

    @classmethod
    def from_dict(cls, engine: str, condition: str, data: Mapping[str, Any]) -> Calibration:
        by_length = tuple(
            (LengthClass.parse(label), IsotonicMap.from_dict(m))
            for label, m in (data.get("by_length") or {}).items()
        )
        return cls(
            engine=engine,
            condition=condition,
            pooled=IsotonicMap.from_dict(data["pooled"]),
            by_length=by_length,
            accuracy=float(data.get("accuracy", 0.0)),
            words=int(data.get("words", 0)),
            symbols=(
                (int(data["symbols"]["words"]), int(data["symbols"]["right"]))
                if data.get("symbols")
                else None
            ),
            poor_pages=(
                (
                    float(data["poor_pages"]["below"]),
                    IsotonicMap.from_dict(data["poor_pages"]["map"]),
                )
                if data.get("poor_pages")
                else None
            ),
            stats={k: v for k, v in data.items() if k not in _OWN_KEYS},
        )


_OWN_KEYS = frozenset({"accuracy", "words", "pooled", "by_length", "symbols", "poor_pages"})


def data_path(engine: str) -> Path | None:
    """Where the shipped data file of ``engine`` would be (None for odd names)."""
    if not _SAFE_NAME.match(engine) or engine.startswith("."):
        return None
    return Path(str(resources.files(__name__).joinpath("data", f"{engine}.json")))


def read_calibrations(path: Path | str, restorer: str | None = None) -> dict[str, Calibration]:
    """Every condition's calibration in the data file ``path`` (condition -> map).

    The file is ``{"format": 1, "engine": ..., "fitting": {...}, "conditions":
    {"original": {...}, "restored": {...}}}``; see :meth:`Calibration.to_dict`. Its
    restored conditions were fitted on the output of ``fitting.restorer``; the
    restored conditions of other restorers sit under ``"restorers": {name:
    {"fitting": {...}, "conditions": {...}}}``. With ``restorer``, the restored
    conditions are that restorer's (none when it was never fitted).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: calibration format {data.get('format')!r} is not supported")
    engine = str(data["engine"])
    conditions = dict(data.get("conditions", {}))
    if restorer is not None and restorer != (data.get("fitting") or {}).get("restorer"):
        other = (data.get("restorers") or {}).get(restorer) or {}
        conditions = {
            "original": conditions["original"],
            **{c: e for c, e in (other.get("conditions") or {}).items() if c != "original"},
        }
    return {
        condition: Calibration.from_dict(engine, condition, entry)
        for condition, entry in conditions.items()
    }


@cache
def _shipped(engine: str, restorer: str | None = None) -> dict[str, Calibration]:
    path = data_path(engine)
    if path is None or not path.is_file():
        return {}
    return read_calibrations(path, restorer)


@cache
def load_calibration(
    engine: str, condition: str = "original", restorer: str | None = None
) -> Calibration | None:
    """The shipped calibration of ``engine`` for ``condition``, or None.

    None when no data ships for the engine (third-party engines). With
    ``restorer``, a restored condition is the one fitted on that restorer's output
    (another restorer's pixels read differently). A ``"restored-enlarged"``
    calibration falls back to ``"restored"``, and that one to ``"original"``, when
    none was fitted: an engine's scores drift less between conditions than between
    engines.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    found = _shipped(engine, restorer if condition != "original" else None)
    if condition == "restored-enlarged" and condition not in found:
        condition = "restored"
    return found.get(condition) or found.get("original")


def restored_condition(scale: float) -> str:
    """The condition of a page restored at working ``scale``: restorers sharpen text
    at its size but enlarge small text with made-up detail, which engines read
    differently (RapidOCR reads enlarged restorations worse than the page as loaded,
    sharpened ones better), so the two are calibrated apart."""
    return "restored-enlarged" if scale > ENLARGED_SCALE else "restored"


def raw_score(word: Word) -> float:
    """The engine's own score of ``word``: its ``raw_confidence`` once calibrated,
    else its ``confidence``."""
    return word.confidence if word.raw_confidence is None else word.raw_confidence


def page_quality(raw_scores: Sequence[float]) -> float | None:
    """The median of one reading's raw word scores (None without words): how well
    the engine could read that page at all, as the calibration classes pages."""
    return float(statistics.median(raw_scores)) if raw_scores else None


def calibrate_words(
    words: list[Word], engine: str, condition: str = "original", restorer: str | None = None
) -> list[Word]:
    """Copies of ``words`` with calibrated ``confidence`` and the engine's score in
    ``raw_confidence``.

    ``words`` are one reading (all the words the engine gave for one page, or for
    the regions of it that it read): their :func:`page_quality` picks the
    poor-page map where the calibration has one. Words that already carry a
    ``raw_confidence`` are re-mapped from it, so calling this twice gives the same
    result, and a reading put together from several crops is calibrated as a
    whole by calling it again on all of them. Without a calibration for
    ``engine`` the words come back unchanged (``raw_confidence`` stays None: the
    confidence is raw).
    """
    calibration = load_calibration(engine, condition, restorer)
    if calibration is None:
        return list(words)
    quality = page_quality([raw_score(w) for w in words])
    out = []
    for word in words:
        raw = raw_score(word)
        probability = calibration.probability(raw, word.text, quality)
        out.append(word.model_copy(update={"confidence": probability, "raw_confidence": raw}))
    return out
