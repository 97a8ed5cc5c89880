"""Words from tesseract's TSV output, and words read on a crop moved onto the page."""

from __future__ import annotations

from typing import Any

from tair_ocr.results import BBox, Word


def parse_tsv(tsv: str, *, source: str = "tesseract") -> list[Word]:
    """Words from tesseract's TSV output, in its reading order.

    ``block_id`` numbers paragraphs (block, paragraph) and ``line_id`` numbers
    lines (block, paragraph, line), both from 0 in reading order and unique on
    the page, so the layout keeps tesseract's grouping.
    """
    rows = tsv.replace("\r", "").split("\n")
    header = rows[0].split("\t") if rows else []
    try:
        col = {name: header.index(name) for name in _TSV_COLUMNS}
    except ValueError:
        return []
    text_col = col["text"]
    blocks: dict[tuple[int, ...], int] = {}
    lines: dict[tuple[int, ...], int] = {}
    words: list[Word] = []
    for row in rows[1:]:
        cells = row.split("\t", len(header) - 1)
        if len(cells) < len(header) - 1:
            continue
        if len(cells) == len(header) - 1:  # empty last column
            cells.append("")
        try:
            level = int(cells[col["level"]])
            conf = float(cells[col["conf"]])
            page, block, par, line, left, top, w, h = (int(cells[col[n]]) for n in _INT_COLUMNS)
        except ValueError:
            continue
        text = cells[text_col].strip()
        # Level 5 is a word; conf -1 marks rows that carry no recognized text.
        if level != 5 or conf < 0 or not text:
            continue
        block_id = blocks.setdefault((page, block, par), len(blocks))
        line_id = lines.setdefault((page, block, par, line), len(lines))
        words.append(
            Word(
                text=text,
                confidence=conf / 100.0,
                bbox=BBox(x0=left, y0=top, x1=left + w, y1=top + h),
                source=source,
                block_id=block_id,
                line_id=line_id,
            )
        )
    return words


_INT_COLUMNS = ("page_num", "block_num", "par_num", "line_num", "left", "top", "width", "height")
_TSV_COLUMNS = ("level", "conf", "text", *_INT_COLUMNS)


def moved(word: Word, dx: float, dy: float, **update: Any) -> Word:
    """``word`` read on a crop, its box moved by the crop's offset (and ``update``)."""
    box = word.bbox
    bbox = BBox(x0=box.x0 + dx, y0=box.y0 + dy, x1=box.x1 + dx, y1=box.y1 + dy)
    return word.model_copy(update={"bbox": bbox, **update})
