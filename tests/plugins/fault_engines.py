"""Fault-injection plugin for tests: engines that crash, hang or run out of memory.

Each engine reads the page's mark: the test inputs paint the top-left 4×4
pixels of a page pure red (255, 0, 0) to ask for the fault on that page, and
the engine otherwise returns one word covering a fixed box.
"""

from __future__ import annotations

import time

from PIL import Image

import tair_ocr
from tair_ocr.results import BBox, Word


def is_marked(image: Image.Image) -> bool:
    return image.convert("RGB").getpixel((1, 1)) == (255, 0, 0)


class _FaultEngine(tair_ocr.OcrEngine):
    parallel_safe = True
    exception: type[BaseException] = RuntimeError

    def recognize(self, image, *, languages, dpi, timeout=None):
        if is_marked(image):
            self.fault(timeout)
        return [
            Word(
                text="hello",
                confidence=0.9,
                bbox=BBox(x0=10, y0=10, x1=50, y1=30),
                source=self.name,
                block_id=0,
                line_id=0,
            )
        ]

    def fault(self, timeout):
        raise RuntimeError("engine crashed (injected)")


class CrashEngine(_FaultEngine):
    name = "crash-marked"
    description = "test engine: crashes on marked pages"


class OomEngine(_FaultEngine):
    name = "oom-marked"
    description = "test engine: runs out of memory on marked pages"

    def fault(self, timeout):
        raise MemoryError()


class SlowEngine(_FaultEngine):
    name = "slow-marked"
    description = "test engine: exceeds the timeout on marked pages"

    def fault(self, timeout):
        time.sleep(min(timeout or 0.2, 0.2))
        raise TimeoutError(f"OCR exceeded the {timeout}s limit")


class MissingEngine(_FaultEngine):
    name = "missing"
    description = "test engine: never available"

    def availability(self):
        return tair_ocr.Availability.no("binary not found", hint="apt-get install nothing")


@tair_ocr.hookimpl
def register_engines():
    return [CrashEngine(), OomEngine(), SlowEngine(), MissingEngine()]
