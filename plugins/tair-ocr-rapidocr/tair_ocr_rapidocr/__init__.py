"""tair-ocr plugin: RapidOCR (PP-OCRv6 small on onnxruntime) as the ``rapidocr`` engine.

Installed, this package registers itself under the ``tair_ocr`` entry-point group,
so ``tair-ocr plugins`` lists it and ``--engine rapidocr`` selects it. Importing
this module is cheap: rapidocr, onnxruntime and OpenCV load on the first page.

Its options are a typed model, :class:`RapidOcrOptions` (``RapidOcrEngine.options_model``):
tair-ocr turns it into ``--rapidocr-threads N`` and ``options={"rapidocr": {...}}``.
"""

from __future__ import annotations

from tair_ocr.hookspecs import hookimpl
from tair_ocr_rapidocr.engine import RapidOcrEngine, RapidOcrOptions, split_line

__all__ = ["RapidOcrEngine", "RapidOcrOptions", "register_engines", "split_line"]
__version__ = "0.1.0"


@hookimpl
def register_engines() -> list[RapidOcrEngine]:
    """Provide the ``rapidocr`` engine."""
    return [RapidOcrEngine()]
