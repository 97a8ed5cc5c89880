"""JSON output: the :class:`~tair_ocr.results.DocumentResult` model as it is.

The file is ``result.model_dump_json(indent=2)``: words with boxes, confidences,
sources, alternatives and flags, page errors, timings and counters. It loads
back with ``DocumentResult.model_validate_json``. Derived values (page text)
are not stored; the model computes them, so there is one source of truth.
"""

from __future__ import annotations

from pathlib import Path

from tair_ocr.components import Writer
from tair_ocr.hookspecs import hookimpl
from tair_ocr.results import DocumentResult


class JsonWriter(Writer):
    """Writes ``<stem>.json``: the full result model (schema version included)."""

    name = "json"
    suffix = ".json"
    description = "JSON: words with boxes, confidences and provenance; page errors and timings"

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write ``result`` as indented UTF-8 JSON to ``destination``."""
        destination.write_text(
            result.model_dump_json(indent=2) + "\n", encoding="utf-8", newline=""
        )


@hookimpl
def register_writers() -> list[Writer]:
    return [JsonWriter()]
