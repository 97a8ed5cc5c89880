"""tair-ocr: text-aware restoration before pluggable OCR engines.

The public API::

    from tair_ocr import Pipeline
    result = Pipeline(engine="tesseract").run("scan.pdf")

    from tair_ocr import run_batch                  # many documents, resumable, on Ray
    job = run_batch(["scans/"], output_dir="out", backend="ray", resume=True)
"""

from tair_ocr._version import __version__
from tair_ocr.batch import BatchResult, DocumentOutcome, RayOptions, run_batch
from tair_ocr.components import (
    Availability,
    LoadedDocument,
    Loader,
    OcrEngine,
    PageFilter,
    RestoredTiles,
    Restorer,
    SpottedWord,
    Writer,
)
from tair_ocr.errors import (
    CorruptInputError,
    EmptyInputError,
    EncryptedInputError,
    ExitCode,
    InputError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    PageFailedError,
    PluginError,
    TairOcrError,
    UnsupportedInputError,
    UsageError,
    WeightsNotFoundError,
)
from tair_ocr.hookspecs import hookimpl
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.pipeline import Pipeline
from tair_ocr.plugins import PluginManager
from tair_ocr.readings import Reading
from tair_ocr.results import (
    Alternative,
    BBox,
    Block,
    DocumentResult,
    Line,
    PageError,
    PageResult,
    RestorationDecision,
    Word,
)

__all__ = [
    "Alternative",
    "Availability",
    "BBox",
    "BatchResult",
    "Block",
    "CorruptInputError",
    "DocumentOutcome",
    "DocumentResult",
    "EmptyInputError",
    "EncryptedInputError",
    "ExitCode",
    "InputError",
    "Line",
    "LoadedDocument",
    "Loader",
    "MissingDependencyError",
    "OcrEngine",
    "OutputError",
    "OutputExistsError",
    "Page",
    "PageAnalysis",
    "PageError",
    "PageFailedError",
    "PageFilter",
    "PageResult",
    "Pipeline",
    "PluginError",
    "PluginManager",
    "RayOptions",
    "Reading",
    "RestorationDecision",
    "RestoredTiles",
    "Restorer",
    "SpottedWord",
    "TairOcrError",
    "UnsupportedInputError",
    "UsageError",
    "WeightsNotFoundError",
    "Word",
    "Writer",
    "__version__",
    "hookimpl",
    "run_batch",
]
