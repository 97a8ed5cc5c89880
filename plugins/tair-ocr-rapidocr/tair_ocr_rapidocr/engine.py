"""The ``rapidocr`` OCR engine.

RapidOCR finds text *lines* (PP-OCRv6 detector) and reads each line (PP-OCRv6
recognizer); with ``return_word_box`` it also gives a box per English word or per
CJK character. :func:`split_line` turns one line into tair-ocr words: the line
text is split at whitespace and each word gets the boxes of the pieces that
hold its characters.

Only the default models bundled in the ``rapidocr`` wheel are used: any other
model choice downloads at first use, which fails offline. The angle classifier
is off: on upright pages it sometimes turns a line by 180° and garbles it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field

from tair_ocr import Availability, BBox, MissingDependencyError, OcrEngine, Word
from tair_ocr.options import PluginOptions

log = logging.getLogger(__name__)

#: The model files the default configuration of rapidocr 3.x loads.
MODEL_FILES = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx")

#: Tesseract language codes of Latin-script languages (read well by the
#: multilingual PP-OCRv6 recognizer), plus Chinese, which it was trained on.
_LANGUAGE_CODES = (
    "afr aze bos cat ceb ces cos cym dan deu enm eng epo est eus fao fil fin fra frk frm "
    "fry gla gle glg hat hrv hun ind isl ita ita_old lat lav lit ltz mlt mri msa nld nor "
    "oci pol por ron slk slv spa spa_old sqi srp_latn swa swe tgl ton tur uzb vie yor "
    "chi_sim chi_tra osd equ"
)
SUPPORTED_LANGUAGES = frozenset(_LANGUAGE_CODES.split())

#: Detected lines at least this many times as wide as high are prose, not table cells.
PROSE_WIDTH = 15.0
#: Narrower lines are prose too when they are this many times as wide as high and
#: share both edges with this many neighbours: the lines of a justified column.
COLUMN_WIDTH = 6.0
COLUMN_NEIGHBOURS = 2

Point = tuple[float, float]
Quad = Sequence[Sequence[float]]


class RapidOcrOptions(PluginOptions):
    """Options of the rapidocr engine."""

    namespace: ClassVar[str] = "rapidocr"

    threads: int | None = Field(
        None, ge=1, description="onnxruntime threads per page (default: all cores)"
    )


class RapidOcrEngine(OcrEngine):
    """OCR with RapidOCR 3.x and its bundled PP-OCRv6 small models (CPU, onnxruntime).

    One onnxruntime session pair is shared by all pages. onnxruntime already uses
    every core for one page, so pages are read one at a time
    (``parallel_safe = False``).
    """

    name = "rapidocr"
    description = "RapidOCR 3.x (PP-OCRv6 small, onnxruntime): robust on degraded text"
    parallel_safe: ClassVar[bool] = False
    # The recognizer reads each detected line scaled to 48 px high from the pixels
    # it was given (bilinear): a line of 4-px x-height comes out a blur. Enlarged
    # first (bicubic) it reads better: the default pipeline's CER on the six 60-dpi
    # JPEG tuning pages (x-height 4-5 px) went 45.5 -> 39.8 % with the unsure
    # regions re-read enlarged to a 10-px x-height (before the collapse gate: 39.9 %
    # at 10 px, 40.7 % at 8 px and at 13 px). The gains were all on tuning pages
    # whose first reading had collapsed (median raw score 0.60-0.83: -24.8, -8.0,
    # -1.1 and +0.8 pp); above 0.9 the re-read only swapped misreads (six pages,
    # +0.1 to +0.8 pp).
    enlarge_to_x_height: ClassVar[float] = 10.0
    enlarge_below_quality: ClassVar[float] = 0.9
    #: ``--rapidocr-threads`` / ``options={"rapidocr": {"threads": 2}}``.
    options_model = RapidOcrOptions

    def __init__(self, *, threads: int | None = None) -> None:
        #: onnxruntime intra-op threads; None uses the CPU count.
        self.threads = threads
        self._ocr: Any = None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._warned: set[str] = set()

    def configure(self, options: RapidOcrOptions) -> None:
        """Apply ``--rapidocr-threads`` (None keeps the constructor's threads)."""
        if options.threads is not None and options.threads != self.threads:
            with self._lock:
                self.threads, self._ocr = options.threads, None  # rebuilt on first page

    # ------------------------------------------------------------------ availability

    def availability(self) -> Availability:
        missing = [m for m in ("rapidocr", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(
                f"python package(s) not installed: {', '.join(missing)}",
                hint="pip install 'rapidocr>=3.10,<4' onnxruntime",
            )
        models = _model_dir()
        absent = [f for f in MODEL_FILES if models is None or not (models / f).is_file()]
        if absent:
            return Availability.no(
                f"bundled model file(s) missing: {', '.join(absent)}",
                hint="reinstall rapidocr: pip install --force-reinstall 'rapidocr>=3.10,<4'",
            )
        return Availability.yes("PP-OCRv6 small det+rec, onnxruntime CPU")

    # ------------------------------------------------------------------ recognition

    def recognize(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: float,
        timeout: float | None = None,
    ) -> list[Word]:
        """Read ``image``; see :meth:`tair_ocr.OcrEngine.recognize`.

        A page past ``timeout`` raises ``TimeoutError``; onnxruntime cannot be
        interrupted, so that page finishes in the background and the next page
        waits for it.
        """
        self._check_languages(languages)
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image = _padded(image)
        ocr = self._engine()
        if timeout is None:
            output = ocr(image)
        else:
            future: Future[Any] = self._worker().submit(ocr, image)
            try:
                output = future.result(timeout=timeout)
            except FutureTimeout:
                raise TimeoutError(f"rapidocr took longer than {timeout:g}s") from None
        return words_from_output(output, source=self.name)

    def _engine(self) -> Any:
        with self._lock:
            if self._ocr is None:
                try:
                    from rapidocr import RapidOCR
                except ImportError as exc:
                    raise MissingDependencyError(
                        f"rapidocr cannot be imported: {exc}",
                        hint="pip install 'rapidocr>=3.10,<4' onnxruntime",
                    ) from exc
                threads = self.threads or os.cpu_count() or 1
                self._ocr = RapidOCR(
                    params={
                        # The classifier flips upright lines by 180° now and then.
                        "Global.use_cls": False,
                        "Global.return_word_box": True,
                        "Global.log_level": "warning",
                        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                    }
                )
            return self._ocr

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="rapidocr")
            return self._executor

    def _check_languages(self, languages: list[str]) -> None:
        for lang in languages:
            if lang not in SUPPORTED_LANGUAGES and lang not in self._warned:
                self._warned.add(lang)
                log.warning(
                    "rapidocr: language %r is neither Latin-script nor Chinese; the "
                    "PP-OCRv6 model reads it with its multilingual character set and may "
                    "misread it",
                    lang,
                )


#: RapidOCR's detector scales an image up until its short side reaches this many
#: pixels (``Det.limit_type: min``).
DETECTOR_MIN_SIDE = 736


def _padded(image: Image.Image) -> Image.Image:
    """``image`` with paper added below and to the right up to the detector's
    minimum side. A strip cut from a page (a region re-read by the pipeline) would
    otherwise be enlarged until its short side is 736 px: a 100-px strip 7×, which
    costs seconds and reads its text at a size the page never had. Padding keeps
    the text at its page size and every box where it was."""
    w, h = image.size
    if min(w, h) >= DETECTOR_MIN_SIDE:
        return image
    pixels = np.asarray(image)
    channels = pixels.shape[2:]
    # The paper colour: the median of the image's outermost rows and columns.
    edges = np.concatenate(
        [pixels[[0, -1]].reshape(-1, *channels), pixels[:, [0, -1]].reshape(-1, *channels)]
    )
    paper = tuple(int(v) for v in np.atleast_1d(np.median(edges, axis=0)))
    fill: int | tuple[int, ...] = paper[0] if image.mode == "L" else paper
    canvas = Image.new(image.mode, (max(w, DETECTOR_MIN_SIDE), max(h, DETECTOR_MIN_SIDE)), fill)
    canvas.paste(image, (0, 0))
    return canvas


def _model_dir() -> Path | None:
    """The ``models/`` folder of the installed rapidocr package, found without importing it."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


# ---------------------------------------------------------------------- conversion


def words_from_output(output: Any, *, source: str = "rapidocr") -> list[Word]:
    """Turn a ``RapidOCROutput`` into words with ``line_id`` and ``block_id``.

    rapidocr drops word results of lines it could not box, so they are used only
    when there is one entry per line; otherwise words are boxed proportionally.
    Detected lines that are cells of one table row share a line id (see
    :func:`layout_ids`).
    """
    txts = getattr(output, "txts", None) or ()
    boxes = getattr(output, "boxes", None)
    if not txts or boxes is None:
        return []
    scores = output.scores
    word_results = getattr(output, "word_results", None) or ()
    aligned = len(word_results) == len(txts)
    quads = [[(float(x), float(y)) for x, y in quad] for quad in boxes]
    line_ids, block_ids = layout_ids([BBox.from_points(q) for q in quads])
    # Reading order: blocks and lines as first seen (rapidocr sorts its lines top to
    # bottom, then left to right), the words of a line left to right.
    first_block: dict[int, int] = {}
    first_line: dict[int, int] = {}
    for i in range(len(txts)):
        first_block.setdefault(block_ids[i], i)
        first_line.setdefault(line_ids[i], i)
    keyed: list[tuple[tuple[int, int, float], Word]] = []
    for i, (text, score, quad) in enumerate(zip(txts, scores, quads, strict=False)):
        pieces = word_results[i] if aligned else ()
        ids = {"line_id": line_ids[i], "block_id": block_ids[i]}
        for word in split_line(text, float(score), quad, pieces, source=source):
            order = (first_block[block_ids[i]], first_line[line_ids[i]], word.bbox.x0)
            keyed.append((order, word.model_copy(update=ids)))
    keyed.sort(key=lambda item: item[0])
    return [word for _, word in keyed]


def layout_ids(lines: Sequence[BBox]) -> tuple[list[int], list[int]]:
    """Line and block ids for rapidocr's detected text lines (boxes in its order).

    rapidocr detects a table row as one box per cell, and two prose columns as
    one box per column line. Short boxes side by side on one row are table
    cells: they become one line, read left to right. Long boxes (prose, at
    least :data:`PROSE_WIDTH` times as wide as high) keep their own lines, so
    columns are read one after the other; so do the shorter lines of narrow
    justified columns (:func:`_justified_lines`) that sit beside another column's
    lines (a magazine's three columns). Lines that stack closely and overlap
    horizontally form a block (a paragraph, a column, a table).
    """
    n = len(lines)
    long = [b.width >= PROSE_WIDTH * max(b.height, 1.0) for b in lines]
    justified = _justified_lines(lines)
    # A justified line is prose only beside another column's line: next to a label,
    # a figure's caption or the rest of its own line (a detector that cut a line in
    # two) it is a cell of its row, as before.
    wide = [
        long[i]
        or (
            justified[i]
            and any(
                (long[k] or justified[k]) and _same_row(lines[i], lines[k])
                for k in range(n)
                if k != i
            )
        )
        for i in range(n)
    ]
    # The short last line of a paragraph is prose too: it sits right under a long one.
    prose = [
        wide[j] or any(wide[i] and _stacked(lines[i], lines[j]) for i in range(n) if i != j)
        for j in range(n)
    ]
    rows = _UnionFind(n)
    for j in range(n):
        for i in range(j):
            a, b = lines[i], lines[j]
            if not (prose[i] or prose[j]) and _same_row(a, b):
                rows.union(j, i)
    row_of = [rows.find(i) for i in range(n)]
    row_box: dict[int, BBox] = {}
    for i, r in enumerate(row_of):
        row_box[r] = row_box[r].union(lines[i]) if r in row_box else lines[i]
    keys = list(row_box)
    blocks = _UnionFind(len(keys))
    for j in range(len(keys)):
        for i in range(j):
            if _stacked(row_box[keys[i]], row_box[keys[j]]):
                blocks.union(j, i)
    block_of = {key: blocks.find(k) for k, key in enumerate(keys)}
    line_ids: dict[int, int] = {}
    block_ids: dict[int, int] = {}
    return (
        [line_ids.setdefault(r, len(line_ids)) for r in row_of],
        [block_ids.setdefault(block_of[r], len(block_ids)) for r in row_of],
    )


def _same_row(a: BBox, b: BBox) -> bool:
    """Boxes side by side on one row: their heights overlap by half the smaller."""
    return min(a.y1, b.y1) - max(a.y0, b.y0) >= 0.5 * min(a.height, b.height)


def _justified_lines(lines: Sequence[BBox]) -> list[bool]:
    """Which lines belong to a narrow column of justified prose: at least
    :data:`COLUMN_WIDTH` times as wide as high, with :data:`COLUMN_NEIGHBOURS` lines
    within two lines above or below that start and end where they do (to half a
    line height)? Such lines are too short for :data:`PROSE_WIDTH` and sit side by
    side with the next column's lines like table cells, but table cells rarely share
    both edges with their neighbours above and below."""
    # Lines by their centre's height, so each looks only at its own neighbourhood.
    order = sorted(range(len(lines)), key=lambda i: lines[i].y0 + lines[i].y1)
    centres = [lines[i].y0 + lines[i].y1 for i in order]  # twice the centre
    out = []
    for box in lines:
        h = max(box.height, 1.0)
        if box.width < COLUMN_WIDTH * h:
            out.append(False)
            continue
        centre = box.y0 + box.y1
        lo, hi = bisect_left(centres, centre - 5.0 * h), bisect_right(centres, centre + 5.0 * h)
        aligned = sum(
            1
            for other in (lines[order[k]] for k in range(lo, hi))
            if abs(other.x0 - box.x0) <= 0.5 * h and abs(other.x1 - box.x1) <= 0.5 * h
        )
        out.append(aligned - 1 >= COLUMN_NEIGHBOURS)  # the line itself is in its window
    return out


def _stacked(a: BBox, b: BBox) -> bool:
    """Lines one right above the other, overlapping sideways (one paragraph/column)."""
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    gap = max(a.y0, b.y0) - min(a.y1, b.y1)
    return overlap > 0.3 * min(a.width, b.width) and gap < 1.2 * max(a.height, b.height, 1.0)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def split_line(
    text: str,
    score: float,
    quad: Sequence[Point],
    pieces: Sequence[tuple[str, float, Quad]] = (),
    *,
    source: str = "rapidocr",
) -> list[Word]:
    """Split one recognized line into words.

    ``pieces`` are rapidocr's word boxes for the line: ``(text, score, quad)``
    per English word or per CJK character. Every character of a piece gets an
    equal share of the piece's quad; a word's polygon spans its characters and
    its confidence is their mean score. When the pieces do not spell the line
    text (minus whitespace), the line quad is shared out over all characters.
    """
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if not spans:
        return []
    char_cells = _piece_cells(text, pieces)
    if char_cells is None:
        top, bottom = (quad[0], quad[1]), (quad[3], quad[2])
        n = len(text)
        char_cells = {
            i: (_cell(top, bottom, i / n, (i + 1) / n), score)
            for i, ch in enumerate(text)
            if not ch.isspace()
        }
    words = []
    for start, end in spans:
        cells = [char_cells[i] for i in range(start, end)]
        first, last = cells[0][0], cells[-1][0]
        polygon = [first[0], last[1], last[2], first[3]]
        confidence = sum(s for _, s in cells) / len(cells)
        words.append(
            Word(
                text=text[start:end],
                confidence=confidence,
                bbox=BBox.from_points([p for c, _ in cells for p in c]),
                polygon=polygon,
                source=source,
            )
        )
    return words


def _piece_cells(
    text: str, pieces: Sequence[tuple[str, float, Quad]]
) -> dict[int, tuple[list[Point], float]] | None:
    """Char index in ``text`` -> (cell polygon, score), or None when pieces don't fit."""
    if not pieces:
        return None
    joined = "".join("".join(str(p[0]).split()) for p in pieces)
    positions = [i for i, ch in enumerate(text) if not ch.isspace()]
    if joined != "".join(text[i] for i in positions):
        return None
    cells: dict[int, tuple[list[Point], float]] = {}
    k = 0
    for piece_text, piece_score, piece_quad in pieces:
        chars = "".join(str(piece_text).split())
        q = [(float(p[0]), float(p[1])) for p in piece_quad]
        top, bottom = (q[0], q[1]), (q[3], q[2])
        n = len(chars)
        for j in range(n):
            cells[positions[k]] = (_cell(top, bottom, j / n, (j + 1) / n), float(piece_score))
            k += 1
    return cells


def _cell(
    top: tuple[Point, Point], bottom: tuple[Point, Point], t0: float, t1: float
) -> list[Point]:
    """The part of a quad between fractions ``t0`` and ``t1`` along its top/bottom edges."""

    def lerp(edge: tuple[Point, Point], t: float) -> Point:
        (x0, y0), (x1, y1) = edge
        return (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)

    return [lerp(top, t0), lerp(top, t1), lerp(bottom, t1), lerp(bottom, t0)]
