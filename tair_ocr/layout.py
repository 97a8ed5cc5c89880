"""Group words into lines and blocks.

Engines that know their layout (tesseract) tag words with ``block_id`` and
``line_id``; those groups are kept, with two repairs. Tesseract sometimes takes the
wide word gaps of monospaced or justified text for a column gutter and cuts one
paragraph into a left and a right "column"; lines of a block that continue lines of
another block, one word space further right, are joined back to them. The blocks keep
the engine's order, except that a block is moved before the blocks below it that it
overlaps horizontally (see :func:`reading_order`).

Words without ids (spotters, line-level engines) are grouped geometrically: words
whose vertical extents overlap enough form a line, read left to right; lines form
blocks where the vertical gap stays small.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

from tair_ocr.results import BBox, Block, Line, Word

__all__ = ["build_blocks", "group_lines", "reading_order"]


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
    that block (the false column split described in the module docstring)."""
    kept: list[tuple[list[_Row], BBox]] = []
    for block in blocks:
        rows = [_Row(words) for words in block]
        box = BBox.enclosing([r.bbox for r in rows])
        host = None
        for candidate, candidate_box in kept:
            # Lines can only continue each other if the blocks share rows.
            if min(box.y1, candidate_box.y1) <= max(box.y0, candidate_box.y0):
                continue
            targets = [next((r for r in candidate if _continues(r, mine)), None) for mine in rows]
            if all(t is not None for t in targets):
                host = (candidate, targets)
                break
        if host is None:
            kept.append((rows, box))
            continue
        candidate, targets = host
        for target, mine in zip(targets, rows, strict=True):
            target.extend(mine)  # type: ignore[union-attr]
        index = next(i for i, (c, _) in enumerate(kept) if c is candidate)
        kept[index] = (candidate, BBox.enclosing([r.bbox for r in candidate]))
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
