"""Group words into lines and blocks.

Engines that know their layout (tesseract) tag words with ``block_id`` and
``line_id``; those groups are kept, with two repairs. Tesseract sometimes takes the
wide word gaps of monospaced or justified text for a column gutter and cuts one
paragraph into a left and a right "column"; lines of a block that continue lines of
another block, one word space further right, are joined back to them. Then the blocks
are put in reading order by recursive XY-cut: split the page at horizontal bands of
white space that no block crosses (read top to bottom), else at vertical ones
(columns, left to right); blocks that neither cut separates keep the engine's order.

Words without ids (spotters, line-level engines) are grouped geometrically: words
whose vertical extents overlap enough form a line, read left to right; lines form
blocks where the vertical gap stays small.
"""

from __future__ import annotations

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


def _word_gaps(line: list[Word]) -> list[float]:
    boxes = sorted((w.bbox for w in line), key=lambda b: b.x0)
    return [b.x0 - a.x1 for a, b in itertools.pairwise(boxes) if b.x0 > a.x1]


def _continues(left: list[Word], right: list[Word]) -> bool:
    """Whether line ``right`` is the continuation of line ``left`` on the same row."""
    a = BBox.enclosing([w.bbox for w in left])
    b = BBox.enclosing([w.bbox for w in right])
    shorter, taller = sorted((a.height, b.height))
    if shorter <= 0 or taller > 1.6 * shorter:
        return False
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap < 0.6 * shorter:
        return False
    gaps = sorted(_word_gaps(left) + _word_gaps(right))
    word_gap = gaps[len(gaps) // 2] if gaps else 0.0
    limit = max(_CONTINUATION_GAP * taller, _CONTINUATION_WORD_GAPS * word_gap)
    return -0.2 * shorter <= b.x0 - a.x1 <= limit


def _join_split_lines(blocks: list[list[list[Word]]]) -> list[list[list[Word]]]:
    """Join a block whose every line continues a line of an earlier block into
    that block (the false column split described in the module docstring)."""
    kept: list[list[list[Word]]] = []
    for block in blocks:
        host = None
        for candidate in kept:
            pairs = [next((ln for ln in candidate if _continues(ln, mine)), None) for mine in block]
            if all(p is not None for p in pairs):
                host = candidate
                break
        if host is None:
            kept.append([list(line) for line in block])
            continue
        for mine in block:
            target = next(ln for ln in host if _continues(ln, mine))
            target.extend(mine)
    return kept


def reading_order(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` in reading order by recursive XY-cut (see the module docstring);
    blocks that no white-space band separates keep their given order."""
    return _xy_cut(list(blocks), horizontal_first=True)


def _xy_cut(blocks: list[Block], *, horizontal_first: bool) -> list[Block]:
    if len(blocks) <= 1:
        return blocks
    for horizontal in (horizontal_first, not horizontal_first):
        groups = _split(blocks, horizontal)
        if len(groups) > 1:
            return [b for g in groups for b in _xy_cut(g, horizontal_first=not horizontal)]
    return blocks


def _split(blocks: list[Block], horizontal: bool) -> list[list[Block]]:
    """Groups of ``blocks`` separated by bands of white space across the page:
    horizontal bands (groups top to bottom) or vertical ones (left to right).
    Blocks keep their relative order inside a group."""

    def extent(b: Block) -> tuple[float, float]:
        return (b.bbox.y0, b.bbox.y1) if horizontal else (b.bbox.x0, b.bbox.x1)

    # Boxes of neighbouring blocks may touch or overlap by a pixel or two.
    heights = sorted(ln.bbox.height for b in blocks for ln in b.lines)
    slack = 0.15 * heights[len(heights) // 2] if heights else 0.0
    order = sorted(range(len(blocks)), key=lambda i: extent(blocks[i])[0])
    groups: list[list[int]] = []
    reach = float("-inf")
    for i in order:
        start, end = extent(blocks[i])
        if not groups or start >= reach - slack:
            groups.append([i])
            reach = end
        else:
            groups[-1].append(i)
            reach = max(reach, end)
    return [[blocks[i] for i in sorted(g)] for g in groups]


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
