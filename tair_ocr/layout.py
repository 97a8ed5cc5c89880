"""Group words into lines and blocks.

Engines that know their layout (tesseract) tag words with ``block_id`` and
``line_id``; those groups are kept, with two repairs. Tesseract sometimes takes the
wide word gaps of monospaced or justified text for a column gutter and cuts one
paragraph into a left and a right "column"; lines of a block that continue lines of
earlier blocks, one word space further right, are joined back to them. The blocks keep
the engine's order, except that a block is moved before the blocks below it that it
overlaps horizontally (see :func:`reading_order`).

Words without ids (spotters, line-level engines) are grouped geometrically: words
whose vertical extents overlap enough form a line, read left to right; lines form
blocks where the vertical gap stays small.

:func:`table_regions` finds where an engine's page segmentation took a table apart
into columns (read one after another, so every row is scattered) or took a column of
short cells (item numbers, quantities) for one line of vertical text, which it then
misreads; engines that can re-read a region as rows (tesseract) use it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence

import numpy as np

from tair_ocr.results import BBox, Block, Line, Word

__all__ = ["build_blocks", "group_lines", "reading_order", "table_regions"]


def build_blocks(words: Sequence[Word]) -> list[Block]:
    """Arrange ``words`` into blocks of lines in reading order."""
    if not words:
        return []
    if all(w.block_id is not None and w.line_id is not None for w in words):
        return _blocks_from_ids(words)
    return _blocks_from_geometry(words)


def _blocks_from_ids(words: Sequence[Word]) -> list[Block]:
    grouped: dict[int, dict[int, list[Word]]] = {}
    for word in words:  # dicts keep first-seen order: the engine's reading order
        grouped.setdefault(word.block_id, {}).setdefault(word.line_id, []).append(word)  # type: ignore[arg-type]
    blocks = _join_split_lines([list(lines.values()) for lines in grouped.values()])
    built = []
    for lines in blocks:
        made = [_line(ws) for ws in lines]
        built.append(Block(bbox=BBox.enclosing([ln.bbox for ln in made]), lines=made))
    return reading_order(built)


#: A line continues another when the gap between them is at most this many line
#: heights (a word space is about a third of one; column gutters are wider) ...
_CONTINUATION_GAP = 1.0
#: ... or at most this many times the lines' own median word gap (monospaced and
#: justified text have wide word spaces; a gutter is several of them).
_CONTINUATION_WORD_GAPS = 1.6


class _Row:
    """A line of an engine block while false splits are joined: its words, box and
    word gaps, computed once (the join compares every pair of candidate lines)."""

    def __init__(self, words: list[Word]) -> None:
        self.words = list(words)
        self._measure()

    def _measure(self) -> None:
        self.bbox = BBox.enclosing([w.bbox for w in self.words])
        boxes = sorted((w.bbox for w in self.words), key=lambda b: b.x0)
        self.gaps = [b.x0 - a.x1 for a, b in itertools.pairwise(boxes) if b.x0 > a.x1]

    def extend(self, other: _Row) -> None:
        self.words.extend(other.words)
        self._measure()


def _continues(left: _Row, right: _Row) -> bool:
    """Whether line ``right`` is the continuation of line ``left`` on the same row."""
    a, b = left.bbox, right.bbox
    shorter, taller = sorted((a.height, b.height))
    if shorter <= 0 or taller > 1.6 * shorter:
        return False
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap < 0.6 * shorter:
        return False
    gaps = sorted(left.gaps + right.gaps)
    word_gap = gaps[len(gaps) // 2] if gaps else 0.0
    limit = max(_CONTINUATION_GAP * taller, _CONTINUATION_WORD_GAPS * word_gap)
    return -0.2 * shorter <= b.x0 - a.x1 <= limit


def _join_split_lines(blocks: list[list[list[Word]]]) -> list[list[list[Word]]]:
    """Join a block whose every line continues a line of an earlier block into
    those lines (the false column split described in the module docstring). The
    lines it continues may belong to different blocks: tesseract often cuts a
    paragraph into several blocks and the line tails into one more."""
    kept: list[tuple[list[_Row], BBox]] = []
    for block in blocks:
        rows = [_Row(words) for words in block]
        box = BBox.enclosing([r.bbox for r in rows])
        # Lines can only continue each other if the blocks share rows.
        beside = [
            (i, candidate)
            for i, (candidate, candidate_box) in enumerate(kept)
            if min(box.y1, candidate_box.y1) > max(box.y0, candidate_box.y0)
        ]
        targets = []
        for mine in rows:
            target = next(
                ((i, r) for i, candidate in beside for r in candidate if _continues(r, mine)),
                None,
            )
            if target is None:
                break
            targets.append(target)
        if not beside or len(targets) < len(rows):
            kept.append((rows, box))
            continue
        for (i, target), mine in zip(targets, rows, strict=True):
            target.extend(mine)
            kept[i] = (kept[i][0], BBox.enclosing([r.bbox for r in kept[i][0]]))
    return [[r.words for r in rows] for rows, _ in kept]


def reading_order(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` in reading order: the given (engine) order, except that a block
    lying above another block is read before it when the two overlap horizontally
    (by half the narrower width) or when either has no other block beside it.

    Engines order columns well, but may put a block they split off (a
    right-aligned date, the tail of a line) after the text below it. A full
    XY-cut would fix that and break column order wherever paragraph breaks of
    neighbouring columns line up, so only this one constraint is enforced
    (a topological sort that otherwise keeps the given order).
    """
    n = len(blocks)
    if n <= 1:
        return list(blocks)
    heights = sorted(ln.bbox.height for b in blocks for ln in b.lines)
    # Boxes of stacked blocks may touch or overlap by a pixel or two.
    slack = 0.15 * heights[len(heights) // 2]
    # Plain tuples: this loop is quadratic in the number of blocks.
    boxes = [b.bbox.as_tuple() for b in blocks]
    # A block with nothing beside it (no other block shares its rows) is a row
    # of the page of its own: everything above it is read before it, everything
    # below after it.
    alone = [
        not any(j != i and min(a[3], c[3]) - max(a[1], c[1]) > slack for j, c in enumerate(boxes))
        for i, a in enumerate(boxes)
    ]
    before: list[set[int]] = [set() for _ in range(n)]
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes):
            if i != j and a[3] <= b[1] + slack and (alone[i] or alone[j] or _stacked(a, b)):
                before[j].add(i)
    # Kahn's algorithm; the heap hands out the earliest ready block first.
    after: list[list[int]] = [[] for _ in range(n)]
    waiting = [len(b) for b in before]
    for j, preds in enumerate(before):
        for i in preds:
            after[i].append(j)
    ready = [i for i in range(n) if not waiting[i]]
    heapq.heapify(ready)
    done = [False] * n
    order: list[int] = []
    while len(order) < n:
        # A cycle cannot arise from boxes taller than 2·slack; if one does, fall
        # back to the given order rather than loop.
        pick = heapq.heappop(ready) if ready else next(i for i in range(n) if not done[i])
        if done[pick]:
            continue
        done[pick] = True
        order.append(pick)
        for j in after[pick]:
            waiting[j] -= 1
            if not waiting[j] and not done[j]:
                heapq.heappush(ready, j)
    return [blocks[i] for i in order]


def _stacked(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether ``a`` and ``b`` share at least half the narrower one's width (a
    caption straddling two columns shares less with either, and must not chain
    the top of one column before the bottom of the other)."""
    overlap = min(a[2], b[2]) - max(a[0], b[0])
    return overlap > 0.5 * min(a[2] - a[0], b[2] - b[0])


def _line(words: list[Word]) -> Line:
    return Line(bbox=BBox.enclosing([w.bbox for w in words]), words=words)


def group_lines(words: Sequence[Word], min_overlap: float = 0.5) -> list[list[Word]]:
    """Cluster words into lines by vertical overlap; each line sorted left to right.

    Two words share a line when their vertical overlap is at least
    ``min_overlap`` of the shorter one's height.
    """
    lines: list[tuple[float, float, list[Word]]] = []  # (y0, y1, words)
    for word in sorted(words, key=lambda w: (w.bbox.center[1], w.bbox.x0)):
        b = word.bbox
        best, best_overlap = None, 0.0
        for i, (y0, y1, _) in enumerate(lines):
            overlap = min(y1, b.y1) - max(y0, b.y0)
            shorter = min(y1 - y0, b.height) or 1.0
            if overlap / shorter >= min_overlap and overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is None:
            lines.append((b.y0, b.y1, [word]))
        else:
            y0, y1, ws = lines[best]
            ws.append(word)
            lines[best] = (min(y0, b.y0), max(y1, b.y1), ws)
    lines.sort(key=lambda item: item[0])
    return [sorted(ws, key=lambda w: w.bbox.x0) for _, _, ws in lines]


def _blocks_from_geometry(words: Sequence[Word]) -> list[Block]:
    lines = [_line(ws) for ws in group_lines(words)]
    blocks: list[list[Line]] = []
    for line in lines:
        if blocks:
            prev = blocks[-1][-1].bbox
            gap = line.bbox.y0 - prev.y1
            horizontal = min(prev.x1, line.bbox.x1) - max(prev.x0, line.bbox.x0)
            if gap < 1.5 * max(prev.height, line.bbox.height) and horizontal > 0:
                blocks[-1].append(line)
                continue
        blocks.append([line])
    return [Block(bbox=BBox.enclosing([ln.bbox for ln in ls]), lines=ls) for ls in blocks]


#: A table needs at least this many rows that its columns share.
_TABLE_MIN_ROWS = 3
#: A column of cells has at most this many words per line (median).
_CELL_WORDS = 2
#: Blocks of cells this many line heights apart or closer, one below the other and
#: aligned, are parts of one column (:func:`_stacked_cells`).
_COLUMN_GAP = 2.5


def table_regions(
    words: Sequence[Word], gray: Callable[[], np.ndarray] | None = None
) -> list[BBox]:
    """Boxes of the tables an engine read column by column, in page pixels.

    ``words`` carry the engine's ``block_id``/``line_id`` (words without them are
    ignored). Blocks are linked when they sit side by side and share rows: at least
    three and 70 % of the shorter one's lines each line up with a line of the other
    (same height within 40 %, overlapping by half of it), or one holds a "vertical
    line" (at least 2.5 median line heights tall and twice as tall as wide: a column
    of short cells the engine read as vertical text) spanning three lines of the
    other. A linked group is a table
    when one of its blocks is such a vertical line or a column of cells (at most two
    words per line); two columns of running text share rows too, but have long lines.

    A table's box is grown by the rows right above and below it that hold two cells
    or more (header, totals). With ``gray``, a function giving the page's luminance
    (H×W uint8, asked for only when a table is found), it is also widened sideways
    over ink in its rows, across gaps of up to eight line heights and up to the
    nearest running text: automatic segmentation sometimes reads nothing at all of
    an outer column (sparse right-aligned amounts).
    """
    lines: dict[int, list[Word]] = {}
    block_of: dict[int, int] = {}
    for word in words:
        if word.block_id is None or word.line_id is None:
            continue
        lines.setdefault(word.line_id, []).append(word)
        block_of[word.line_id] = word.block_id
    if len(lines) < _TABLE_MIN_ROWS:
        return []
    boxes = {lid: BBox.enclosing([w.bbox for w in ws]) for lid, ws in lines.items()}
    heights = sorted(b.height for b in boxes.values())
    typical = heights[len(heights) // 2]
    if typical <= 0:
        return []
    vertical = {
        lid for lid, b in boxes.items() if b.height >= 2.5 * typical and b.height >= 2 * b.width
    }
    blocks: dict[int, list[int]] = {}
    for lid in lines:
        blocks.setdefault(block_of[lid], []).append(lid)

    def is_cells(lids: list[int]) -> bool:
        return any(lid in vertical for lid in lids) or (
            sorted(len(lines[lid]) for lid in lids)[len(lids) // 2] <= _CELL_WORDS
        )

    blocks = _stacked_cells(blocks, boxes, typical, is_cells)
    block_box = {bid: BBox.enclosing([boxes[lid] for lid in lids]) for bid, lids in blocks.items()}
    cells = {bid for bid, lids in blocks.items() if is_cells(lids)}

    def same_row(a: BBox, b: BBox) -> bool:
        shorter, taller = sorted((a.height, b.height))
        overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
        # Cells of one row share the font size: a caption in small capitals
        # beside a column of text does not line up with it.
        return shorter >= 0.6 * taller and overlap >= 0.5 * shorter

    def linked(a: int, b: int) -> bool:
        for one, other in ((a, b), (b, a)):
            for lv in (lid for lid in blocks[one] if lid in vertical):
                span = boxes[lv]
                spanned = sum(
                    min(span.y1, boxes[lid].y1) - max(span.y0, boxes[lid].y0)
                    >= 0.5 * boxes[lid].height
                    for lid in blocks[other]
                    if lid not in vertical
                )
                if spanned >= _TABLE_MIN_ROWS:
                    return True
        rows_a = [boxes[lid] for lid in blocks[a] if lid not in vertical]
        rows_b = [boxes[lid] for lid in blocks[b] if lid not in vertical]
        shared = sum(any(same_row(x, y) for y in rows_b) for x in rows_a)
        # Most rows of the shorter column must line up, not a few by chance.
        return shared >= _TABLE_MIN_ROWS and shared >= 0.7 * min(len(rows_a), len(rows_b))

    ids = list(blocks)
    parent = {bid: bid for bid in ids}

    def root(bid: int) -> int:
        while parent[bid] != bid:
            parent[bid] = parent[parent[bid]]
            bid = parent[bid]
        return bid

    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            ba, bb = block_box[a], block_box[b]
            if min(ba.y1, bb.y1) <= max(ba.y0, bb.y0):
                continue  # no rows in common
            side = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            if side > 0.2 * min(ba.width, bb.width):
                continue  # stacked or overlapping, not side by side
            if linked(a, b):
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for bid in ids:
        groups.setdefault(root(bid), []).append(bid)
    line_boxes = list(boxes.values())
    # Lines of running text (not cells) fence a table in when it is widened.
    text = [boxes[lid] for bid, lids in blocks.items() if bid not in cells for lid in lids]
    tables = [m for m in groups.values() if len(m) >= 2 and any(b in cells for b in m)]
    pixels = gray() if gray is not None and tables else None
    regions = []
    for members in tables:
        region = BBox.enclosing([block_box[b] for b in members])
        if pixels is not None:
            region = _widen_to_ink(region, pixels, text, typical)
        region = _grow_by_rows(region, line_boxes, typical)
        if pixels is not None:
            region = _widen_to_ink(region, pixels, text, typical)
        # Words cut by the region's edge belong to it (a header cell read apart).
        cut = [b for b in line_boxes if region.intersection(b) > 0]
        regions.append(BBox.enclosing([region, *cut]))
    return regions


def _stacked_cells(
    blocks: dict[int, list[int]],
    boxes: dict[int, BBox],
    typical: float,
    is_cells: Callable[[list[int]], bool],
) -> dict[int, list[int]]:
    """``blocks`` (block id -> line ids) with the blocks of cells that continue one
    another down a column joined: automatic segmentation cuts a form's column of
    labels into a block per group of rows ("Invoice No.:" to "Address:", then
    "Phone:", then "Due date:" ...), and each part alone lines up with too few rows
    of the values beside it to count as a table. A block of cells joins the column
    above it when it starts at most :data:`_COLUMN_GAP` line heights below it, their
    left or right edges line up to a line height, and that column has two lines or
    more (a one-line heading starts no column)."""
    order = sorted(blocks, key=lambda bid: min(boxes[lid].y0 for lid in blocks[bid]))
    joined: dict[int, list[int]] = {}
    ends: dict[int, BBox] = {}  # the first block of a column of cells -> its box so far
    for bid in order:
        lids = blocks[bid]
        box = BBox.enclosing([boxes[lid] for lid in lids])
        cells = is_cells(lids)
        head = None
        if cells:
            head = next(
                (
                    first
                    for first, end in ends.items()
                    if len(joined[first]) >= 2  # a heading above a column is no cell of it
                    and (abs(box.x0 - end.x0) <= typical or abs(box.x1 - end.x1) <= typical)
                    and 0 <= box.y0 - end.y1 <= _COLUMN_GAP * typical
                ),
                None,
            )
        if head is None:
            joined[bid] = list(lids)
            if cells:
                ends[bid] = box
        else:
            joined[head].extend(lids)
            ends[head] = BBox.enclosing([ends[head], box])
    return joined


def _grow_by_rows(region: BBox, lines: list[BBox], typical: float) -> BBox:
    """``region`` grown by the rows right above and below it that hold at least two
    cells overlapping its width: the header row and the totals, which share no
    three rows with anything and so are not linked to the table's columns."""
    while True:
        rows: dict[str, list[BBox]] = {"above": [], "below": []}
        for b in lines:
            if b.x1 <= region.x0 or b.x0 >= region.x1 or b.width > region.width:
                continue
            if b.y1 <= region.y0 + 0.2 * typical and region.y0 - b.y1 <= 1.6 * typical:
                rows["above"].append(b)
            elif b.y0 >= region.y1 - 0.2 * typical and b.y0 - region.y1 <= 1.6 * typical:
                rows["below"].append(b)
        grown = region
        for found in rows.values():
            # Only the nearest row: cells of the same row overlap the nearest line.
            if len(found) < 2:
                continue
            near = min(found, key=lambda b: min(abs(region.y0 - b.y1), abs(b.y0 - region.y1)))
            row = [b for b in found if min(b.y1, near.y1) - max(b.y0, near.y0) >= 0.5 * b.height]
            if len(row) >= 2:
                grown = BBox.enclosing([grown, *row])
        if grown == region:
            return region
        region = grown


#: Least paper-to-ink contrast (of 255) for :func:`_widen_to_ink` to tell ink apart.
_MIN_INK_CONTRAST = 40
#: Widest gap between table columns, in line heights (about an inch at 300 dpi:
#: right-aligned amounts sit far from their descriptions).
_TABLE_MAX_GUTTER = 8


def _widen_to_ink(region: BBox, gray: np.ndarray, text: list[BBox], line: float) -> BBox:
    """``region`` widened sideways over the ink in its rows, across gaps of up to
    :data:`_TABLE_MAX_GUTTER` line heights (``line``), stopping at ``text`` (lines of
    running text)."""
    y0, y1 = max(0, int(region.y0)), min(gray.shape[0], int(np.ceil(region.y1)))
    x0, x1 = max(0, int(region.x0)), min(gray.shape[1], int(np.ceil(region.x1)))
    if y1 <= y0 or x1 <= x0:
        return region
    band = gray[y0:y1]
    paper, ink = np.percentile(band, 95), np.percentile(band, 1)
    if paper - ink < _MIN_INK_CONTRAST:
        return region
    inked = (band < (paper + ink) / 2).sum(axis=0) >= max(2, round(0.1 * line))
    blocked = np.zeros(gray.shape[1], bool)
    for b in text:
        if min(b.y1, y1) - max(b.y0, y0) > 0 and not region.intersection(b) > 0:
            blocked[max(0, int(b.x0)) : int(np.ceil(b.x1))] = True
    gap_limit = _TABLE_MAX_GUTTER * line

    def reach(start: int, step: int) -> int:
        edge, gap, x = start, 0, start + step
        while 0 <= x < gray.shape[1] and not blocked[x] and gap <= gap_limit:
            if inked[x]:
                edge, gap = x, 0
            else:
                gap += 1
            x += step
        return edge

    left, right = reach(x0, -1), reach(x1 - 1, 1)
    return BBox(x0=min(region.x0, left), y0=region.y0, x1=max(region.x1, right + 1), y1=region.y1)
