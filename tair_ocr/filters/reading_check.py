"""The orientation filter's reading check: which way up a page is, told by reading a
few of its text lines both ways.

The text-line check (:mod:`tair_ocr.filters.textlines`) tells reliably which way a
page's lines run, but on forms, receipts and all-capital text its ascender count
cannot tell which way up they are, and tesseract's OSD is unsure there too (on the
real FUNSD forms and receipts measured, confidences of 0.1-5 with both answers).
Reading settles it: upright text reads as words, upside-down text as junk with low
confidences. So, where both measurements are unsure, up to :data:`MAX_BANDS` text
lines are cut from the page (turned the candidate way, levelled, letters about
:data:`STRIP_LETTER` pixels high), stacked into one small image, and tesseract reads
that strip as one block (``--psm 6``) once as it is and once turned by 180 degrees.
The way with clearly more confidently read characters wins
(:meth:`ReadingAnswer.decisive`); otherwise the page stays unsure. The strip is a
few lines, not the page, so the check costs about 0.3-1.5 s.

On the 22 real pages with a transcription, 20 synthetic pages of every degradation
kind and the 4 sample pages, each turned four ways (182 readings where a strip could
be cut), the reading was right and decisive on every one (see
``benchmarks/README.md``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tair_ocr.engines.tesseract.engine import TesseractEngine
from tair_ocr.errors import MissingDependencyError, PageFailedError
from tair_ocr.results import Word
from tair_ocr.working_scale import ink_levels, ink_mask

log = logging.getLogger(__name__)

__all__ = [
    "MAX_BANDS",
    "MIN_CHARS",
    "MIN_RATIO",
    "STRIP_LETTER",
    "ReadingAnswer",
    "ReadingCheck",
    "confident_chars",
    "line_strip",
]

#: Letter height (pixels) the strip is scaled to: tesseract reads best at about this.
STRIP_LETTER = 28.0
#: Most text lines (bands) cut into the strip: the ones with the most ink.
MAX_BANDS = 12
#: Bands are looked for in columns about this many letters wide, so that the lines
#: of side-by-side columns (forms, receipts) do not merge into one band.
COLUMN_LETTERS = 40
#: A band between these multiples of the letter height is a text line.
BAND_HEIGHT = (0.6, 3.0)
#: Words read at least this confidently count (tesseract's confidence, 0-1). Turned
#: text read as junk reaches 0.6-0.93 on some words (capitals and digits that look
#: alike upside down); at 0.8 the right way read 5.3-400 times as many letters as the
#: wrong one on every page measured, at 0.6 only 2.3 times on a receipt.
MIN_WORD_CONFIDENCE = 0.8
#: The winning way reads at least this many characters confidently ...
MIN_CHARS = 20
#: ... and at least this many times as many as the other way (plus one).
MIN_RATIO = 3.0
#: Seconds one reading of the strip may take.
READ_TIMEOUT = 30.0

#: PIL's transposition for each clockwise turn (PIL's ROTATE_90 turns
#: counter-clockwise).
_CLOCKWISE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ReadingAnswer:
    """What reading the strip both ways found."""

    #: The clockwise turn (0, 90, 180, 270) whose reading was better.
    rotation: int
    #: Characters read confidently that way ...
    chars: int
    #: ... and the most read any other way tried.
    other_chars: int

    def decisive(self) -> bool:
        """Clear enough to turn the page by: enough characters, far more than the
        other way."""
        return self.chars >= MIN_CHARS and self.chars >= MIN_RATIO * (self.other_chars + 1)


def confident_chars(words: list[Word]) -> int:
    """Letters and digits in words of two or more of them read at least
    :data:`MIN_WORD_CONFIDENCE` confidently: what upright text gives and junk
    rarely does."""
    total = 0
    for word in words:
        n = sum(ch.isalnum() for ch in word.text)
        if n >= 2 and (word.confidence or 0.0) >= MIN_WORD_CONFIDENCE:
            total += n
    return total


def line_strip(
    image: Image.Image, letter_height: float, rotation: int = 0, angle: float = 0.0
) -> Image.Image | None:
    """Up to :data:`MAX_BANDS` text lines of ``image`` (letters ``letter_height``
    page pixels high) stacked into one gray image: the page turned clockwise by
    ``rotation``, levelled by ``angle`` (the lines' skew in that frame, degrees,
    counter-clockwise positive) and scaled to letters :data:`STRIP_LETTER` high.
    None when no band of the page looks like a text line."""
    factor = min(2.0, STRIP_LETTER / max(letter_height, 1.0))
    gray = image if image.mode == "L" else image.convert("L")
    size = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
    resample = Image.Resampling.BOX if factor < 1 else Image.Resampling.BICUBIC
    gray = gray.resize(size, resample)
    levels = ink_levels(np.asarray(gray))
    if levels is None:
        return None
    # Gaps and corners in the paper's own shade: on white, grey paper would be
    # the darker side of tesseract's global threshold, and the lines black boxes.
    paper = round(levels.paper)
    if rotation:
        gray = gray.transpose(_CLOCKWISE[rotation])
    if abs(angle) > 0.3:
        gray = gray.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    pixels = np.asarray(gray)
    ink = ink_mask(pixels, 41, levels=levels)
    if ink is None:
        return None
    low, high = (k * STRIP_LETTER for k in BAND_HEIGHT)
    column = int(COLUMN_LETTERS * STRIP_LETTER)
    bands: list[tuple[int, int, int, int, int]] = []  # (ink, x0, y0, x1, y1)
    for x in range(0, ink.shape[1], column):
        part = ink[:, x : x + column]
        profile = part.sum(axis=1)
        if not profile.any():
            continue
        inked = profile > 0.05 * np.percentile(profile[profile > 0], 90)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.view(np.int8), [0]])))
        for top, bottom in zip(edges[::2], edges[1::2], strict=True):
            if not low <= bottom - top <= high:
                continue
            columns = np.flatnonzero(part[top:bottom].any(axis=0))
            ink_count = int(profile[top:bottom].sum())
            bands.append(
                (ink_count, x + int(columns[0]), int(top), x + int(columns[-1]) + 1, int(bottom))
            )
    if not bands:
        return None
    # The inkiest bands, in reading order.
    chosen = sorted(sorted(bands, reverse=True)[:MAX_BANDS], key=lambda b: (b[2], b[1]))
    height, width = pixels.shape
    crops = [
        gray.crop((max(0, x0 - 8), max(0, y0 - 6), min(width, x1 + 8), min(height, y1 + 6)))
        for _, x0, y0, x1, y1 in chosen
    ]
    gap = 12
    strip = Image.new("L", (max(c.width for c in crops), sum(c.height + gap for c in crops)), paper)
    y = gap // 2
    for crop in crops:
        strip.paste(crop, (0, y))
        y += crop.height + gap
    return strip


class ReadingCheck:
    """Reads line strips with tesseract (English: the check compares readings of the
    same lines, so any Latin-script page will do) to tell which way up a page is."""

    def __init__(self, engine: TesseractEngine | None = None) -> None:
        self._engine = engine or TesseractEngine()

    def available(self) -> tuple[bool, str]:
        """Whether the check can run here (tesseract with English), and why not."""
        try:
            install = self._engine.installation()
        except MissingDependencyError as exc:
            return False, str(exc)
        if "eng" not in install.languages:
            return False, "tesseract has no English data"
        return True, f"tesseract {install.version}"

    def compare(
        self, image: Image.Image, letter_height: float, candidates: list[tuple[int, float]]
    ) -> ReadingAnswer | None:
        """Which of the clockwise turns ``candidates`` (each with the lines' skew in
        its frame) and their opposites reads best: a strip is cut per candidate and
        read as it is and turned by 180 degrees. None when no strip could be cut or
        tesseract failed (the check is a fallback: a failure only leaves the page
        unsure)."""
        scores: dict[int, int] = {}
        for rotation, angle in candidates:
            strip = line_strip(image, letter_height, rotation, angle)
            if strip is None:
                continue
            for turn, view in ((rotation, strip), ((rotation + 180) % 360, strip.rotate(180))):
                try:
                    words = self._engine.recognize_region(
                        view, languages=["eng"], dpi=300.0, timeout=READ_TIMEOUT
                    )
                except (MissingDependencyError, PageFailedError, TimeoutError) as exc:
                    log.debug("orientation reading check failed: %s", exc)
                    return None
                scores[turn] = confident_chars(words)
        if not scores:
            return None
        best = max(scores, key=lambda turn: scores[turn])
        others = [chars for turn, chars in scores.items() if turn != best]
        return ReadingAnswer(rotation=best, chars=scores[best], other_chars=max(others))
