"""Group words into lines and blocks.

Engines that know their layout (tesseract) tag words with ``block_id`` and
``line_id``; those groups are kept. Words without ids (spotters, line-level
engines) are grouped geometrically: words whose vertical extents overlap enough
form a line, read left to right; lines form blocks where the vertical gap stays
small.
"""

from __future__ import annotations

from collections.abc import Sequence

from tair_ocr.results import BBox, Block, Line, Word


def build_blocks(words: Sequence[Word]) -> list[Block]:
    """Arrange ``words`` into blocks of lines in reading order."""
    if not words:
        return []
    if all(w.block_id is not None and w.line_id is not None for w in words):
        return _blocks_from_ids(words)
    return _blocks_from_geometry(words)


def _blocks_from_ids(words: Sequence[Word]) -> list[Block]:
    blocks: dict[int, dict[int, list[Word]]] = {}
    for word in words:  # dicts keep first-seen order: the engine's reading order
        blocks.setdefault(word.block_id, {}).setdefault(word.line_id, []).append(word)  # type: ignore[arg-type]
    result = []
    for lines in blocks.values():
        built = [_line(ws) for ws in lines.values()]
        result.append(Block(bbox=BBox.enclosing([ln.bbox for ln in built]), lines=built))
    return result


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
