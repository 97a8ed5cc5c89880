"""Scripted engines for the fusion wiring tests: each reads every page as the same
three words at fixed boxes, with its own misreadings and confidences.

``script-a`` reads "Fusion is here" with tesseract-like line/block ids,
``script-b`` misreads "is" as "1s" with low confidence and gives no ids,
``script-crash`` always fails, ``script-unavailable`` is never available.
"""

from __future__ import annotations

import tair_ocr
from tair_ocr.results import BBox, Word

_BOXES = {"Fusion": (10, 120), "is": (135, 165), "here": (180, 260)}


class _ScriptEngine(tair_ocr.OcrEngine):
    parallel_safe = True
    #: (text as read, box key, confidence)
    script: tuple[tuple[str, str, float], ...] = ()
    ids = False

    def recognize(self, image, *, languages, dpi, timeout=None):
        words = []
        for text, key, confidence in self.script:
            x0, x1 = _BOXES[key]
            words.append(
                Word(
                    text=text,
                    confidence=confidence,
                    bbox=BBox(x0=x0, y0=30, x1=x1, y1=60),
                    source=self.name,
                    line_id=0 if self.ids else None,
                    block_id=0 if self.ids else None,
                )
            )
        return words


class ScriptA(_ScriptEngine):
    name = "script-a"
    description = "test engine: reads 'Fusion is here'"
    script = (("Fusion", "Fusion", 0.9), ("is", "is", 0.85), ("here", "here", 0.9))
    ids = True


class ScriptB(_ScriptEngine):
    name = "script-b"
    description = "test engine: misreads 'is' as '1s'"
    script = (("Fusion", "Fusion", 0.95), ("1s", "is", 0.3), ("here", "here", 0.95))


class ScriptCrash(_ScriptEngine):
    name = "script-crash"
    description = "test engine: always crashes"

    def recognize(self, image, *, languages, dpi, timeout=None):
        raise RuntimeError("scripted crash")


class ScriptUnavailable(_ScriptEngine):
    name = "script-unavailable"
    description = "test engine: never available"

    def availability(self):
        return tair_ocr.Availability.no("scripted absence")


@tair_ocr.hookimpl
def register_engines():
    return [ScriptA(), ScriptB(), ScriptCrash(), ScriptUnavailable()]
