"""Fault-injection plugin for batch jobs (tests/test_batch.py, tests/test_ray_backend.py).

``batch-fault`` reads every page as one word, ``p<N>`` where N is the page's mark
(the gray level of its top-left 4×4 pixels: page k of a test document is painted
k), after ``--batchfault-delay`` seconds. Two colours of that mark ask for faults:

* pure red (255, 0, 0): the engine raises, so the page fails;
* pure blue (0, 0, 255): the engine's **process dies** (``os._exit``), once: the
  first time it creates ``--batchfault-marker FILE`` and exits, later readings
  (with the file there) read the page. A killed worker must be retried. With
  ``--batchfault-always-die`` it dies every time: the page is lost for good.

``gpu-copy`` is a restorer that wants a CUDA GPU (``wants_gpu``) and copies its
tiles; it appends the GPUs its process was given (``CUDA_VISIBLE_DEVICES``, as Ray
sets it) to ``--gpucopy-log FILE``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

import tair_ocr
from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.options import PluginOptions
from tair_ocr.results import BBox, Word

RED = (255, 0, 0)
BLUE = (0, 0, 255)


class BatchFaultOptions(PluginOptions):
    """Options of the batch-fault test engine."""

    namespace: ClassVar[str] = "batchfault"

    marker: Path | None = Field(None, description="file created when the process dies")
    delay: float = Field(0.0, ge=0, description="seconds per reading")
    always_die: bool = Field(False, description="die on every reading of a blue page")


class GpuCopyOptions(PluginOptions):
    """Options of the gpu-copy test restorer."""

    namespace: ClassVar[str] = "gpucopy"

    log: Path | None = Field(None, description="file the GPUs given are appended to")


def mark(image) -> tuple[int, int, int]:
    return image.convert("RGB").getpixel((1, 1))


class BatchFaultEngine(tair_ocr.OcrEngine):
    name = "batch-fault"
    description = "test engine: reads a page's mark; fails on red, dies once on blue"
    parallel_safe = True
    options_model = BatchFaultOptions

    def __init__(self) -> None:
        self.options = BatchFaultOptions()

    def configure(self, options: BatchFaultOptions) -> None:
        self.options = options

    def recognize(self, image, *, languages, dpi, timeout=None):
        time.sleep(self.options.delay)
        colour = mark(image)
        if colour == RED:
            raise RuntimeError("engine crashed (injected)")
        if colour == BLUE:
            marker = self.options.marker
            if self.options.always_die or (marker is not None and not marker.exists()):
                if marker is not None:
                    with marker.open("a") as fh:
                        fh.write(f"{os.getpid()}\n")
                os._exit(17)  # the worker process dies, mid-page
        return [
            Word(
                text=f"p{colour[0]}",
                confidence=0.95,
                bbox=BBox(x0=10, y0=10, x1=50, y1=30),
                source=self.name,
                block_id=0,
                line_id=0,
            )
        ]


class GpuCopyRestorer(Restorer):
    name = "gpu-copy"
    description = "test restorer: wants a GPU, copies tiles, logs the GPUs it got"
    tile_size = 128
    batch_size = 4
    options_model = GpuCopyOptions

    def __init__(self) -> None:
        self.options = GpuCopyOptions()

    def configure(self, options: GpuCopyOptions) -> None:
        self.options = options

    def wants_gpu(self) -> bool:
        return True

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        if self.options.log is not None:
            with self.options.log.open("a") as fh:
                fh.write(f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
        return RestoredTiles(images=tiles.copy(), words=[[] for _ in tiles])


@tair_ocr.hookimpl
def register_engines():
    return [BatchFaultEngine()]


@tair_ocr.hookimpl
def register_restorers():
    return [GpuCopyRestorer()]
