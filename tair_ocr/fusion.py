"""Fusion of several readings of a page, with the guard against hallucinated text.

A *reading* is one list of words for a page, in original page pixels: the
primary engine on the page as loaded (``"rapidocr"``), a second engine on the
unsure regions of that page (``"tesseract"``), the engines on the restored
regions (``"tesseract:restored"``) and the restorer's text spotter
(``"spotter:<name>"``).

How words are fused (:func:`fuse`):

1. **Align by geometry.** Words of different readings whose boxes overlap (the
   intersection covers at least half of the smaller box) are linked; the
   connected groups are *slots*. A slot holds one word per reading, or several
   where readings split or merge words differently ("New York" / "NewYork").
2. **Weigh the options per slot.** Word confidences are *calibrated*
   probabilities that the word is right (:mod:`tair_ocr.calibration`, fitted per
   engine on the project's synthetic pages), so they compare across engines.
   Readings that give the same text (spaces ignored: word splits are decided by
   the gaps between boxes) support it together: one engine counts once however
   often it read the place (page as loaded, restored crop), and different engines
   combine as independent witnesses, ``P = 1 - Π(1 - p)``. The most likely text
   wins; ``vote`` may also build the string column by column from an
   edit-distance alignment of the candidates (ROVER-style).
3. **Guard.** A text that only restored pixels or a region re-read give must be
   more likely than the page's own reading by ``guard_margin`` (the same engine)
   or ``second_opinion_margin`` (another engine) to replace it, so restoration
   never swaps a reading for a less likely one; the word is then flagged
   ``"kept-original"`` when restoration offered something else. A fragment of the
   page reading's word that only a region re-read gives ("ing" for "ring") counts
   for the whole word. On a page its own reading reads well, a *rewrite* (a
   restored text that shares under half its characters with the page's, "de NS" for
   "1.19": what a hallucinating restorer gives) must also be likely right
   (``rewrite_confidence``).
4. **No text.** A reading covers the whole page or, for region re-reads, only
   its ``regions``. Where a covering engine saw nothing, a word less likely than
   ``null_confidence`` is taken for noise (``addition_confidence`` where the page's
   own whole reading is the one that saw nothing); a word every covering reading gives
   is never dropped. Only a trustworthy reading's silence counts
   (``silence_trust``): an engine that reads most of a page wrong misses real
   words as often as specks, and a re-read that found nothing where another
   engine is sure of a word (``sure_word``) failed rather than saw blank paper.

Every output word keeps its provenance: ``source`` is the winning reading, or
``"fused"`` when several readings agree or the text was voted character by
character (``"fused:original"`` for agreeing readings of the unrestored page);
``alternatives`` hold the differing readings with their source and
confidence. :func:`fusion_counters` counts the guard's work for
``PageResult.counters``.

The built-in strategy is registered through the ``fuse_readings`` hook like any
plugin, so a plugin can replace it (see ``docs/plugin_hooks.md``).
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from tair_ocr.hookspecs import hookimpl
from tair_ocr.readings import Reading
from tair_ocr.results import Alternative, BBox, Word, mean_confidence
from tair_ocr.settings import FUSION_MODES

__all__ = [
    "FUSION_MODES",
    "KEPT_ORIGINAL",
    "UNCERTAIN",
    "FusionParams",
    "Reading",
    "align_strings",
    "assign_layout",
    "build_slots",
    "fuse",
    "fuse_readings",
    "fusion_counters",
    "levenshtein",
    "similarity",
    "vote_characters",
]

FusionMode = Literal["off", "conservative", "vote"]

#: Flag on words the guard took from the unrestored page.
KEPT_ORIGINAL = "kept-original"
#: Flag on words whose readings disagree with weak evidence either way.
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class FusionParams:
    """Tuning knobs of :func:`fuse`, on calibrated confidences (probabilities that
    a word is right, :mod:`tair_ocr.calibration`). Chosen on synthetic pages of the
    project's own generator, never on evaluation data."""

    #: Two words are aligned when their intersection covers this share of the smaller box.
    min_overlap: float = 0.5
    #: Where an engine that looked saw nothing, a word less likely right than this
    #: (more likely wrong than right) is taken for noise and dropped.
    null_confidence: float = 0.5
    #: ... and a word the page's own whole reading lacks where it looked (a second
    #: engine's or a restored re-read's addition) must be at least this likely right:
    #: that reading's silence is the strongest evidence of no text there. The default
    #: pipeline's tuning pages fuse alike from 0.5 to 0.58 and lose small print at
    #: 0.6; the tuning rule takes the largest of the ties.
    addition_confidence: float = 0.55
    #: A reading that only restored pixels give must be this much more likely than
    #: the best reading of the page as loaded to replace it (the guard; with 0, more
    #: likely at all: the calibrated probabilities compare as they are).
    guard_margin: float = 0.0
    #: The same for a text only another engine's re-read of a region gives. 1 (the
    #: default): another engine never replaces a word of the page reading, it adds
    #: words where that reading has none and backs the words it agrees with. The
    #: tuning pages fuse alike with any margin from 0.15 up, so the tuning rule
    #: keeps the page's own reading (``benchmarks/fusion_tuning.py``).
    second_opinion_margin: float = 1.0
    #: A text that only restored pixels or a re-read give and that shares less than
    #: ``rewrite_similarity`` of its characters with every text the page's own
    #: reading gives there (:func:`similarity`) is a *rewrite*, not a sharper reading
    #: of the same letters ("de NS" for "1.19"): what a restorer that hallucinates
    #: produces. A rewrite replaces the page's reading only when it is at least
    #: ``rewrite_confidence`` likely right (0: like any other restored text) ...
    rewrite_similarity: float = 0.5
    rewrite_confidence: float = 0.6
    #: ... on pages the page's own whole reading reads well: the median calibrated
    #: confidence of its words is at least this. Where it reads most words badly,
    #: restoration is there to rewrite them. The tuning pages fuse alike from 0.85
    #: to 0.95 (0.8 loses 0.6-0.8 pp on the tesseract path's 75-dpi pages); the rule
    #: took the firmest of the ties (``benchmarks/fusion_tuning.py --grid rewrite``).
    rewrite_page_quality: float = 0.85
    #: A re-read's silence (a second engine on regions, a restored reading) counts
    #: only where its reading is trustworthy: the median calibrated confidence of
    #: its words is at least this (an engine that can hardly read a page also misses
    #: words that are there). A re-read without words is judged by the same
    #: engine's readings of the page as loaded. The whole-page reading of the page
    #: as loaded always counts: it is what restoration must beat.
    silence_trust: float = 0.5
    #: ... but a re-read without words where another engine read a word of three
    #: letters or more at least this confidently failed (it missed what is surely
    #: there): its silence does not count.
    sure_word: float = 0.8
    #: Words whose readings disagree and whose fused confidence is below this are
    #: flagged ``"uncertain"``.
    uncertain_below: float = 0.5
    #: A gap between two boxes of a reading counts as a real space when it is at
    #: least this share of the word height (decides "New York" against "NewYork").
    space_gap: float = 0.15


# ---------------------------------------------------------------------- strings


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """Character agreement in [0, 1]: ``1 - edit distance / longer length``."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


#: The gap symbol of :func:`align_strings` columns.
GAP = ""


def align_strings(strings: Sequence[str]) -> list[list[str]]:
    """Align strings character by character (progressive multiple alignment).

    Returns columns: ``columns[k][i]`` is the character string ``i`` has in
    column ``k``, or :data:`GAP`. Strings are added to the alignment one by one;
    each is aligned by edit distance to the column's first non-gap character.
    """
    if not strings:
        return []
    columns: list[list[str]] = [[ch] for ch in strings[0]]
    for n, text in enumerate(strings[1:], start=1):
        backbone = [next((c for c in col if c != GAP), GAP) for col in columns]
        ops = _alignment(backbone, list(text))
        merged: list[list[str]] = []
        k = 0
        for op, ch in ops:
            if op == "ins":  # a character the earlier strings don't have
                merged.append([GAP] * n + [ch])
            else:
                merged.append([*columns[k], ch if op == "sub" else GAP])
                k += 1
        columns = merged
    return columns


def _alignment(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    """Edit script turning ``a`` into ``b``: ``("sub", b_char)`` (match or
    substitution), ``("del", "")`` (a char with no counterpart), ``("ins", b_char)``."""
    n, m = len(a), len(b)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
    ops: list[tuple[str, str]] = []
    i, j = n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]):
            ops.append(("sub", b[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("del", GAP))
            i -= 1
        else:
            ops.append(("ins", b[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def vote_characters(candidates: Sequence[tuple[str, float]]) -> str:
    """ROVER-style consensus of weighted strings.

    ``candidates`` are ``(text, weight)``. The strings are aligned with
    :func:`align_strings` (heaviest first, so it is the backbone) and each column
    goes to the character (or the gap) with the largest total weight; ties go to
    the heavier string's choice.
    """
    ordered = sorted(candidates, key=lambda c: -c[1])
    columns = align_strings([text for text, _ in ordered])
    out = []
    for column in columns:
        totals: dict[str, float] = {}
        for (_, weight), ch in zip(ordered, column, strict=True):
            totals[ch] = totals.get(ch, 0.0) + weight
        # max() keeps the first maximum: the heaviest string's character on ties.
        best = max(totals, key=lambda ch: totals[ch])
        out.append(best)
    return re.sub(r"\s+", " ", "".join(out)).strip()


# ---------------------------------------------------------------------- slots


@dataclass
class _Candidate:
    """What one reading says in one slot."""

    reading: int
    words: list[Word]
    text: str
    confidence: float


@dataclass
class _Slot:
    """A group of aligned words, at most one candidate per reading."""

    candidates: dict[int, _Candidate] = field(default_factory=dict)

    @property
    def bbox(self) -> BBox:
        return BBox.enclosing([w.bbox for c in self.candidates.values() for w in c.words])


def _candidate(reading: int, words: list[Word]) -> _Candidate:
    words = sorted(words, key=lambda w: (w.bbox.x0, w.bbox.y0))
    text = " ".join(w.text for w in words)
    chars = sum(len(w.text) for w in words) or 1
    confidence = sum(w.confidence * len(w.text) for w in words) / chars
    return _Candidate(reading, words, text, confidence)


_Box = tuple[float, float, float, float]


def _overlaps(a: _Box, b: _Box, min_overlap: float) -> bool:
    """Does the intersection cover ``min_overlap`` of the smaller box? (Plain
    tuples: this runs for every pair of neighbouring words.)"""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return False
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h >= min_overlap * smaller


def _overlapping_pairs(
    boxes: Sequence[_Box],
    min_overlap: float,
    alike: Callable[[int, int], bool] | None = None,
) -> Iterable[tuple[int, int]]:
    """Index pairs ``(i, j)`` of overlapping boxes: a sweep down the page, so only
    boxes whose vertical extents meet are compared. Boxes on one row that overlap
    less than ``min_overlap`` still pair when ``alike(i, j)`` says so."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1])
    active: list[int] = []
    for i in order:
        box = boxes[i]
        active = [j for j in active if boxes[j][3] > box[1]]
        for j in active:
            other = boxes[j]
            if other[2] <= box[0] or other[0] >= box[2]:
                continue
            if _overlaps(other, box, min_overlap) or (
                alike is not None and _same_row(other, box) and alike(i, j)
            ):
                yield i, j
        active.append(i)


def _same_row(a: _Box, b: _Box) -> bool:
    return min(a[3], b[3]) - max(a[1], b[1]) >= 0.5 * min(a[3] - a[1], b[3] - b[1])


def _without_specks(words: Sequence[Word], share: float = 0.3) -> list[Word]:
    """Drop "words" smaller than ``share`` of the reading's median word height in
    both directions: dust and dots read as ``|`` or ``-``, which would otherwise
    glue onto the real word next to them when readings are aligned."""
    if len(words) < 3:
        return list(words)
    limit = share * statistics.median(w.bbox.height for w in words)
    return [w for w in words if max(w.bbox.width, w.bbox.height) >= limit]


def build_slots(readings: Sequence[Reading], min_overlap: float = 0.5) -> list[list[list[Word]]]:
    """Group the words of all readings into aligned slots.

    Returns one entry per slot: per reading (in ``readings`` order), the words
    that reading has in the slot (possibly none). Slots come in page order (top
    to bottom, then left to right).
    """
    return [
        [slot.candidates[i].words if i in slot.candidates else [] for i in range(len(readings))]
        for slot in _slots(readings, min_overlap)
    ]


def _slots(readings: Sequence[Reading], min_overlap: float) -> list[_Slot]:
    items = [
        (r, word)
        for r, reading in enumerate(readings)
        for word in _without_specks(reading.words)
        if word.text.strip() and word.bbox.area > 0
    ]
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def alike(i: int, j: int) -> bool:
        # Word boxes estimated from a line (rapidocr) can be off by a letter's width:
        # touching words on one row that read alike are aligned too.
        return similarity(items[i][1].text, items[j][1].text) >= 0.6

    boxes = [word.bbox.as_tuple() for _, word in items]
    for i, j in _overlapping_pairs(boxes, min_overlap, alike):
        if items[i][0] != items[j][0]:  # words of one reading are never merged directly
            parent[find(i)] = find(j)
    _join_covered(items, boxes, min_overlap, parent, find)

    groups: dict[int, dict[int, list[Word]]] = {}
    for i, (r, word) in enumerate(items):
        groups.setdefault(find(i), {}).setdefault(r, []).append(word)
    slots = []
    for per_reading in groups.values():
        slot = _Slot({r: _candidate(r, ws) for r, ws in per_reading.items()})
        slots.append(slot)
    slots.sort(key=lambda s: (round(s.bbox.center[1]), s.bbox.x0))
    return slots


def _join_covered(
    items: Sequence[tuple[int, Word]],
    boxes: Sequence[_Box],
    min_overlap: float,
    parent: list[int],
    find: Callable[[int], int],
) -> None:
    """Align a word that no single word of another reading covers enough with the
    words of one reading that cover it *together*: "3x" read over "3" and "×"
    (one engine merges what another splits, and line-estimated boxes fit neither
    word alone). Left unaligned, it would be a second copy of the same text."""
    readings_of: dict[int, set[int]] = {}
    for i, (r, _) in enumerate(items):
        readings_of.setdefault(find(i), set()).add(r)
    touching: dict[int, dict[int, list[tuple[int, float]]]] = {}
    for i, j in _overlapping_pairs(boxes, 1e-9):
        if items[i][0] == items[j][0]:
            continue
        a, b = boxes[i], boxes[j]
        area = (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1]))
        touching.setdefault(i, {}).setdefault(items[j][0], []).append((j, area))
        touching.setdefault(j, {}).setdefault(items[i][0], []).append((i, area))
    for i, per_reading in touching.items():
        if len(readings_of[find(i)]) > 1:
            continue  # aligned already
        box = boxes[i]
        size = (box[2] - box[0]) * (box[3] - box[1])
        for others in per_reading.values():
            if len(others) > 1 and sum(area for _, area in others) >= min_overlap * size:
                for j, _ in others:
                    parent[find(i)] = find(j)
                break


# ---------------------------------------------------------------------- fusion


def fuse(
    readings: Sequence[Reading],
    mode: FusionMode | str = "conservative",
    params: FusionParams | None = None,
) -> list[Word]:
    """Fuse ``readings`` into one list of words (see the module docstring).

    With ``mode="off"`` or a single reading, the first reading's words come back
    unchanged. Output words carry the ``line_id``/``block_id`` of the engine
    reading that saw most of the text (the first one on ties), in its reading
    order; words it lacks get lines of their own.
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"unknown fusion mode {mode!r}; use one of {', '.join(FUSION_MODES)}")
    if not readings:
        return []
    if mode == "off" or len(readings) == 1:
        return list(readings[0].words)
    params = params or FusionParams()
    trusted = _trusted_silences(readings, params.silence_trust, params.sure_word)
    # The rewrite rule holds on pages the page's own reading reads well.
    page_words = [w.confidence for r in readings if r.whole_page for w in r.words]
    reads_well = bool(page_words) and statistics.median(page_words) >= params.rewrite_page_quality
    rewrite_floor = params.rewrite_confidence if reads_well else 0.0
    fused: list[Word] = []
    for slot in _slots(readings, params.min_overlap):
        fused.extend(_fuse_slot(slot, readings, mode, params, trusted, rewrite_floor))
    return assign_layout(fused, _layout_reading(fused, readings, params).words)


@dataclass
class _Option:
    """One text offered in a slot, with the readings that give it."""

    #: The text as the first of its readings spells it.
    text: str
    #: The readings (indices) whose candidate has this text, up to word splitting.
    readings: list[int]
    #: Probability that the text is right: the engines' calibrated confidences
    #: combined as independent evidence (``1 - Π(1 - p)``, one term per engine:
    #: one engine reading the same pixels twice is not two witnesses).
    probability: float
    #: True when a reading of the page as loaded gives it.
    original: bool
    #: True when a whole-page reading of the page as loaded gives it (not only
    #: restored pixels, nor only a re-read of a region).
    page: bool = True


def _options(cands: dict[int, _Candidate], readings: Sequence[Reading]) -> list[_Option]:
    groups: dict[str, list[int]] = {}
    for r in sorted(cands):
        groups.setdefault("".join(cands[r].text.split()), []).append(r)
    options = []
    for members in groups.values():
        per_engine: dict[str, float] = {}
        for r in members:
            reading = readings[r]
            witness = reading.engine_name if reading.kind == "engine" else reading.source
            per_engine[witness] = max(per_engine.get(witness, 0.0), cands[r].confidence)
        miss = 1.0
        for p in per_engine.values():
            miss *= 1.0 - min(max(p, 0.0), 0.999)
        original = any(not readings[r].restored for r in members)
        page = any(readings[r].whole_page for r in members)
        options.append(_Option(cands[members[0]].text, members, 1.0 - miss, original, page))
    return _truncations(options)


def _truncations(options: list[_Option]) -> list[_Option]:
    """Weigh options that are part of another ("ing" against "ring", "lly," against
    "tally,"): a re-read of a cut-out loses letters at a word's edge more often than
    the page's own reading adds plausible ones, so a fragment read only in a region
    is evidence for the page reading's whole word (at half weight), and that word's
    support counts against the fragment. (The other way round, a longer word read
    only in a region, "sand" against the page's "and", gets no such help.)"""
    # Letters and digits only: "38.1" is no fragment of "38.1'".
    keys = ["".join(ch for ch in o.text if ch.isalnum()) for o in options]
    out = []
    for option, key in zip(options, keys, strict=True):
        p = option.probability
        for other, other_key in zip(options, keys, strict=True):
            if other is option or len(key) < 2 or len(other_key) < 2 or key == other_key:
                continue
            if key in other_key and other.page and not option.page:  # a region's fragment
                p *= 1.0 - other.probability
            elif other_key in key and option.page and not other.page:  # the page's word
                p = 1.0 - (1.0 - p) * (1.0 - 0.5 * other.probability)
        out.append(replace(option, probability=p))
    return out


def _covers(reading: Reading, box: BBox) -> bool:
    """Did ``reading`` look at the place of ``box`` (its centre)?"""
    return reading.regions is None or box.centre_in(reading.regions)


def _trusted_silences(readings: Sequence[Reading], threshold: float, sure_word: float) -> set[int]:
    """The readings whose silence is evidence of no text (see
    :attr:`FusionParams.silence_trust` and :attr:`FusionParams.sure_word`)."""

    def median_confidence(words: Sequence[Word]) -> float:
        return statistics.median(w.confidence for w in words)

    # What the engine made of the page as loaded (never of restored pixels: a
    # restored reading's words are what its silence is weighed against).
    by_engine: dict[str, list[Word]] = {}
    for reading in readings:
        if not reading.restored:
            by_engine.setdefault(reading.engine_name, []).extend(reading.words)
    trusted = set()
    for r, reading in enumerate(readings):
        if reading.whole_page:
            # The page as loaded, read whole: what anything only other readings
            # add has to beat (the guard), however well it was read.
            trusted.add(r)
            continue
        if not reading.words and _missed_sure_words(reading, readings, sure_word):
            continue
        words = reading.words or by_engine.get(reading.engine_name, [])
        if not words or median_confidence(words) >= threshold:
            trusted.add(r)
    return trusted


def _missed_sure_words(reading: Reading, readings: Sequence[Reading], sure_word: float) -> bool:
    """Did another engine read, where ``reading`` looked, a word of three letters or
    more with calibrated confidence ``sure_word`` or more?"""
    return any(
        other.kind == "engine"
        and other.engine_name != reading.engine_name
        and w.confidence >= sure_word
        and sum(ch.isalnum() for ch in w.text) >= 3
        and _covers(reading, w.bbox)
        for other in readings
        for w in other.words
    )


def _fuse_slot(
    slot: _Slot,
    readings: Sequence[Reading],
    mode: str,
    params: FusionParams,
    trusted: set[int] | None = None,
    rewrite_floor: float = 0.0,
) -> list[Word]:
    cands = slot.candidates
    options = _options(cands, readings)
    # The guard: a text that only restored pixels give, or only a re-read of a
    # region (a crop has less context than the page), must be clearly more likely
    # than what the page's own reading says to replace it.
    page_engines = {
        readings[r].engine_name
        for o in options
        if o.page
        for r in o.readings
        if readings[r].whole_page
    }

    page_texts = [o.text for o in options if o.page and o.text.strip()]

    def rank(option: _Option) -> tuple[float, bool, int]:
        p = option.probability
        if page_engines and not option.page:
            same = any(readings[r].engine_name in page_engines for r in option.readings)
            # Another engine's second opinion needs more: engines calibrated on
            # synthetic pages disagree on real scans in ways a shared page does not
            # show (case, archaic spellings, specks glued to words).
            p -= params.guard_margin if same else params.second_opinion_margin
            # A rewrite (:attr:`FusionParams.rewrite_similarity`) below the floor
            # never replaces the page's text.
            if (
                p < rewrite_floor
                and page_texts
                and all(_agreement(option.text, t) < params.rewrite_similarity for t in page_texts)
            ):
                p = -1.0
        return (p, option.original, -min(option.readings))

    best = max(options, key=rank)
    text, probability = best.text, best.probability
    if mode == "vote" and len(cands) > 2:
        consensus = vote_characters([(c.text, c.confidence) for c in cands.values()])

        def support(t: str) -> float:
            return sum(c.confidence * _agreement(t, c.text) for c in cands.values())

        if consensus and support(consensus) > support(text):
            total = sum(c.confidence for c in cands.values()) or 1.0
            text, probability = consensus, support(consensus) / total
    # "No text here": engines that looked at this place and saw nothing. A word all
    # covering readings give is never dropped; a weak word some of them did not see
    # is taken for noise.
    silent = [
        r
        for r, reading in enumerate(readings)
        if reading.kind == "engine"
        and r not in cands
        and _covers(reading, slot.bbox)
        and (trusted is None or r in trusted)
    ]
    if silent:
        floor = params.null_confidence
        if any(readings[r].whole_page for r in silent):
            floor = max(floor, params.addition_confidence)
        if probability < floor:
            return []
    present = {r: cands[r] for r in best.readings}
    winner = _winner(text, present, readings)
    words, text = _layout_words(text, winner, cands, readings, params)
    flags: list[str] = []
    # The guard turned down a text that only restored pixels give.
    turned_down = any(not o.original and not _same(o.text, text) for o in options)
    if best.original and turned_down and text == best.text:
        flags.append(KEPT_ORIGINAL)
    if len(options) > 1 and probability < params.uncertain_below:
        flags.append(UNCERTAIN)
    agreeing = [r for r, c in cands.items() if _same(c.text, text)]
    if len(agreeing) == 1:
        source = readings[agreeing[0]].source
    elif agreeing and all(not readings[r].restored for r in agreeing):
        source = "fused:original"
    else:
        source = "fused"
    return _finish(words, text, source, probability, cands, readings, flags)


def _agreement(a: str, b: str) -> float:
    """Similarity of two candidate texts' letters (word splits are decided by
    geometry, not by votes); "no text" agrees only with itself."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    return similarity("".join(a.split()), "".join(b.split()))


def _same(a: str, b: str) -> bool:
    """Same text up to word splitting (a space more or less is not a new reading)."""
    return a.split() == b.split() or "".join(a.split()) == "".join(b.split())


def _winner(text: str, cands: dict[int, _Candidate], readings: Sequence[Reading]) -> int:
    """The reading whose words carry ``text``: an exact match (heaviest first), else
    the most similar candidate."""
    return max(
        cands,
        key=lambda r: (
            _same(cands[r].text, text),
            similarity(cands[r].text, text),
            readings[r].weight * cands[r].confidence,
        ),
    )


def _layout_words(
    text: str,
    winner: int,
    cands: dict[int, _Candidate],
    readings: Sequence[Reading],
    params: FusionParams,
) -> tuple[list[Word], str]:
    """Words (with boxes) for the output ``text``, and the text itself.

    Where readings have the same letters but split them differently ("New York"
    against "NewYork"), a split whose boxes have real gaps between them wins
    (the finest one): an engine that drops a space at low resolution can't see
    the gap another engine measured. Otherwise the heavier reading decides.
    """
    squashed = "".join(text.split())
    same = [c for c in cands.values() if "".join(c.text.split()) == squashed]
    best = cands[winner]
    if same:
        spaced = [c for c in same if len(c.words) > 1 and _gaps_are_spaces(c.words, params)]
        if spaced:
            best = max(spaced, key=lambda c: (len(c.words), c.confidence))
        else:
            best = max(same, key=lambda c: readings[c.reading].weight * c.confidence)
        text = best.text
    tokens = text.split()
    if len(best.words) == len(tokens):
        pairs = zip(best.words, tokens, strict=True)
        return [w.model_copy(update={"text": t}) for w, t in pairs], text
    if len(best.words) == 1:
        return _split_box(best.words[0], tokens, cands), text
    # Token counts differ (a consensus string): share the slot box out by characters.
    return _split_box(None, tokens, cands), text


def _gaps_are_spaces(words: list[Word], params: FusionParams) -> bool:
    """True when every gap between consecutive boxes is wide enough to be a space."""
    for a, b in itertools.pairwise(words):
        height = max(a.bbox.height, b.bbox.height, 1.0)
        if b.bbox.x0 - a.bbox.x1 < params.space_gap * height:
            return False
    return True


def _split_box(word: Word | None, tokens: list[str], cands: dict[int, _Candidate]) -> list[Word]:
    """Share one box out over ``tokens`` in proportion to their lengths."""
    if word is None:
        all_words = [w for c in cands.values() for w in c.words]
        box = BBox.enclosing([w.bbox for w in all_words])
        template = all_words[0]
    else:
        box, template = word.bbox, word
    text = " ".join(tokens)
    per_char = box.width / max(len(text), 1)
    out, pos = [], 0
    for token in tokens:
        x0 = box.x0 + pos * per_char
        x1 = x0 + len(token) * per_char
        out.append(
            template.model_copy(
                update={
                    "text": token,
                    "bbox": BBox(x0=x0, y0=box.y0, x1=x1, y1=box.y1),
                    "polygon": None,
                }
            )
        )
        pos += len(token) + 1
    return out


def _finish(
    words: list[Word],
    text: str,
    source: str,
    confidence: float,
    cands: dict[int, _Candidate],
    readings: Sequence[Reading],
    flags: list[str],
) -> list[Word]:
    alternatives = [
        Alternative(text=c.text, confidence=c.confidence, source=readings[r].source)
        for r, c in sorted(cands.items())
        if not _same(c.text, text)
    ]
    tokens = text.split()
    if len(tokens) == len(words):
        words = [w.model_copy(update={"text": t}) for w, t in zip(words, tokens, strict=True)]
    return [
        w.model_copy(
            update={
                "source": source,
                "confidence": min(1.0, max(0.0, confidence)),
                "alternatives": list(alternatives),
                "flags": list(flags),
            }
        )
        for w in words
    ]


# ---------------------------------------------------------------------- layout


#: A reading covering at least this share of the best coverage, with a mean word
#: confidence at least this share of the best one, may give the layout.
_LAYOUT_COVERAGE_SLACK = 0.9
_LAYOUT_TRUST_SLACK = 0.85


def _layout_reading(
    fused: list[Word], readings: Sequence[Reading], params: FusionParams
) -> Reading:
    """The engine reading whose layout the output keeps: of those that give every
    word line and block ids and looked at every fused word's place, the earliest
    whose words cover at least 90 % as many of the fused words as the best one and
    whose mean confidence is at least 85 % of the best one, so a reading that
    missed half the page, or lost it, doesn't order it."""
    # A re-read of some regions knows nothing of the lines outside them: ordering
    # the page by it would put every other word on lines of its own, after the
    # regions' text (a header read after the body).
    with_ids = [
        r
        for r in readings
        if r.kind == "engine"
        and r.words
        and all(w.line_id is not None and w.block_id is not None for w in r.words)
        and all(_covers(r, w.bbox) for w in fused)
    ]
    if not with_ids:
        return readings[0]

    def covered(reading: Reading) -> int:
        boxes = [w.bbox.as_tuple() for w in fused]
        n = len(boxes)
        boxes += [w.bbox.as_tuple() for w in reading.words]
        hits = set()
        for i, j in _overlapping_pairs(boxes, params.min_overlap):
            if (i < n) != (j < n):
                hits.add(min(i, j))
        return len(hits)

    # Coverage decides only between readings that differ clearly: among those
    # close to the best, the earliest (the primary engine, a built-in with real
    # page layout analysis) keeps its reading order; a line-level engine orders
    # multi-column pages line by line across the columns.
    # An engine far less sure of its words than another has usually lost the page
    # (tiny or blurred text), and its lines and blocks with it.
    counts = {id(r): covered(r) for r in with_ids}
    trust = {id(r): mean_confidence(r.words) for r in with_ids}
    best_count, best_trust = max(counts.values()), max(trust.values())
    for r in with_ids:
        if (
            counts[id(r)] >= _LAYOUT_COVERAGE_SLACK * best_count
            and trust[id(r)] >= _LAYOUT_TRUST_SLACK * best_trust
        ):
            return r
    return max(with_ids, key=lambda r: (counts[id(r)], -readings.index(r)))


def assign_layout(words: list[Word], layout: Sequence[Word]) -> list[Word]:
    """Give fused words the ``block_id``/``line_id`` of the layout reading's line
    they sit on, and order them like it.

    A word joins the line of the layout reading it overlaps most vertically (the
    nearest one sideways on ties, at most three line heights away). Other words
    form new lines, one block each, placed after the block above them. Without
    ids in the layout reading, ids are cleared so the layout is rebuilt from
    geometry.
    """
    if not words:
        return []
    if not layout or any(w.line_id is None or w.block_id is None for w in layout):
        return [w.model_copy(update={"line_id": None, "block_id": None}) for w in words]

    line_boxes: dict[tuple[int, int], BBox] = {}
    order: dict[tuple[int, int], int] = {}
    for w in layout:
        key = (w.block_id, w.line_id)  # type: ignore[assignment]
        line_boxes[key] = line_boxes[key].union(w.bbox) if key in line_boxes else w.bbox
        order.setdefault(key, len(order))

    def home(box: BBox) -> tuple[int, int] | None:
        best, best_score = None, (0.0, 0.0)
        for key, lb in line_boxes.items():
            v = min(lb.y1, box.y1) - max(lb.y0, box.y0)
            if v < 0.5 * min(lb.height, box.height):
                continue
            dx = max(lb.x0 - box.x1, box.x0 - lb.x1, 0.0)
            if dx > 3 * max(lb.height, 1.0):  # another column, or a gap in a table
                continue
            score = (round(v / max(box.height, 1.0), 1), -dx)
            if best is None or score > best_score:
                best, best_score = key, score
        return best

    def after(box: BBox) -> float:
        """Sort position for a new line: right after the lowest line above it."""
        cy = box.center[1]
        above = [
            key
            for key, lb in line_boxes.items()
            if lb.center[1] < cy and min(lb.x1, box.x1) > max(lb.x0, box.x0)
        ]
        if not above:
            return -0.5
        return max(order[k] for k in above if k[0] == max(above, key=lambda k: order[k])[0]) + 0.5

    placed: list[tuple[tuple[float, float], Word]] = []
    orphans: list[Word] = []
    for w in words:
        key = home(w.bbox)
        if key is None:
            orphans.append(w)
        else:
            moved = w.model_copy(update={"block_id": key[0], "line_id": key[1]})
            placed.append(((order[key], w.bbox.x0), moved))
    if orphans:
        from tair_ocr.layout import group_lines

        next_block = max(w.block_id for w in layout) + 1  # type: ignore[type-var]
        next_line = max(w.line_id for w in layout) + 1  # type: ignore[type-var]
        for n, line in enumerate(group_lines(orphans)):
            position = after(BBox.enclosing([w.bbox for w in line]))
            for w in line:
                moved = w.model_copy(update={"block_id": next_block + n, "line_id": next_line + n})
                placed.append(((position + n * 1e-6, w.bbox.x0), moved))
    placed.sort(key=lambda item: item[0])
    return [w for _, w in placed]


# ---------------------------------------------------------------------- counters


def fusion_counters(words: Iterable[Word]) -> dict[str, int]:
    """``guard_kept_original`` and ``uncertain_words`` for ``PageResult.counters``."""
    kept = uncertain = 0
    for w in words:
        kept += KEPT_ORIGINAL in w.flags
        uncertain += UNCERTAIN in w.flags
    return {"guard_kept_original": kept, "uncertain_words": uncertain}


# ---------------------------------------------------------------------- the hook


@hookimpl(trylast=True)
def fuse_readings(readings: list[Reading], mode: str) -> list[Word] | None:
    """The built-in fusion strategy (a plugin's ``fuse_readings`` runs first)."""
    return fuse(readings, mode)
