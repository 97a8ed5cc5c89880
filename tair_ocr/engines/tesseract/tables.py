"""Tables re-read row by row.

Automatic page segmentation (``--psm 3``) often reads a table column by column,
splits numbers at their decimal points, and takes a column of short cells (item
numbers, quantities) for one line of vertical text that it misreads. Where the
layout finds such a table (:func:`tair_ocr.layout.table_regions`), its region is
read again as one uniform block (``--psm 6``), which yields the rows in order. The
row reading is kept where it is as confident, or where it gives the same words
(only in row order: a form's labels beside their values rather than all labels
first); otherwise the first reading's own words inside the table are put in rows.
``--tesseract-tables off`` keeps the first reading.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from tair_ocr.engines.tesseract.tsv import moved
from tair_ocr.layout import group_lines, table_regions
from tair_ocr.results import BBox, Word, mean_confidence
from tair_ocr.working_scale import luminance

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: Modes with automatic page segmentation, the ones whose tables are re-read.
AUTO_PSM = frozenset({1, 3})
#: "A single uniform block of text": reads a table's cells row by row.
TABLE_PSM = 6
#: The row reading replaces the first only if its mean word confidence is at least
#: this and at least that of the words it replaces ...
TABLE_MIN_CONFIDENCE = 0.5
#: ... or if it gives the same words, this share of them at least (letters and
#: digits; specks aside): then it only puts them in row order, and a second reading
#: of the same words is often a little less sure of a few of them.
TABLE_SAME_WORDS = 0.8
#: Where the row reading is not taken, the first reading's words inside the table
#: are put in rows instead, unless one is this many times taller than the median.
_ROW_HEIGHTS = 1.6

#: Reads a crop of the page as one uniform block (:data:`TABLE_PSM`).
ReadRows = Callable[["Image.Image"], list[Word]]


def reread_tables(
    image: Image.Image, words: list[Word], read_rows: ReadRows, *, gray: np.ndarray | None = None
) -> list[Word]:
    """``words`` (a reading of ``image``) with each table the layout finds in them
    replaced by ``read_rows`` of its region, where that reads better
    (:func:`reread_table`). ``gray`` is the luminance of ``image`` when measured
    already; else it is measured when a table is found."""
    for region in table_regions(words, lambda: luminance(image) if gray is None else gray):
        words = reread_table(image, region, words, read_rows)
    return words


def reread_table(
    image: Image.Image, region: BBox, words: list[Word], read_rows: ReadRows
) -> list[Word]:
    """``words`` with those inside ``region`` replaced by a row-by-row reading
    (``read_rows``, ``--psm 6``: one uniform block) of that region, unless that
    reading is not confident at all (:data:`TABLE_MIN_CONFIDENCE`), or less
    confident than the words it would replace and not a reading of the same words
    (:data:`TABLE_SAME_WORDS`)."""
    pad = 8 + 0.005 * min(image.size)  # a margin, not the neighbours' ink
    left, top = max(0, int(region.x0 - pad)), max(0, int(region.y0 - pad))
    right = min(image.width, int(region.x1 + pad) + 1)
    bottom = min(image.height, int(region.y1 + pad) + 1)
    within = [_centre_in(w.bbox, left, top, right, bottom) for w in words]
    if not any(within):
        return words
    crop = image.crop((left, top, right, bottom))
    rows = read_rows(crop)
    confidence = mean_confidence(rows)
    # A real table reads more confidently in rows; noise (a photo's background
    # taken for cells) reads as low-confidence garbage either way.
    inside = [w for w, w_in in zip(words, within, strict=True) if w_in]
    # New ids after the page's, so the rows form blocks and lines of their own.
    first_block = 1 + max(w.block_id or 0 for w in words)
    first_line = 1 + max(w.line_id or 0 for w in words)
    if confidence < TABLE_MIN_CONFIDENCE or (
        confidence < mean_confidence(inside) and same_words(rows, inside) < TABLE_SAME_WORDS
    ):
        # The first reading's own words, put in rows where they are all of one
        # height (a column of cells read as one tall "vertical line" is not).
        heights = sorted(w.bbox.height for w in inside)
        if heights[-1] > _ROW_HEIGHTS * heights[len(heights) // 2]:
            return words
        placed = [
            w.model_copy(update={"block_id": first_block, "line_id": first_line + i})
            for i, line in enumerate(group_lines(inside))
            for w in line
        ]
    else:
        placed = [
            moved(
                w,
                left,
                top,
                block_id=first_block + (w.block_id or 0),
                line_id=first_line + (w.line_id or 0),
            )
            for w in rows
        ]
    # The rows take the place of the table's first word in the engine's order.
    at = within.index(True)
    kept_after = [w for w, w_in in zip(words[at:], within[at:], strict=True) if not w_in]
    return words[:at] + placed + kept_after


def same_words(a: list[Word], b: list[Word]) -> float:
    """The share of words two readings have in common, in any order: the size of
    the multiset intersection of their texts over the larger reading's. Only words
    with a letter or digit count (specks and rules come and go between readings)."""
    texts = [Counter(w.text for w in words if any(c.isalnum() for c in w.text)) for words in (a, b)]
    larger = max(sum(t.values()) for t in texts)
    return sum((texts[0] & texts[1]).values()) / larger if larger else 0.0


def _centre_in(box: BBox, left: float, top: float, right: float, bottom: float) -> bool:
    x, y = box.center
    return left <= x < right and top <= y < bottom
