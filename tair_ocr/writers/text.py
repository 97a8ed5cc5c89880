"""Plain text output.

Pages are separated by form feeds (``\\f``) as tesseract and pdftotext do, lines
by newlines and blocks by blank lines. A page that failed or holds no text is
an empty page, so the n-th form feed still starts page n + 1 of the selection.
"""

from __future__ import annotations

from pathlib import Path

from tair_ocr.components import Writer
from tair_ocr.hookspecs import hookimpl
from tair_ocr.results import DocumentResult


class TextWriter(Writer):
    """Writes ``<stem>.txt``: UTF-8 text in reading order."""

    name = "txt"
    suffix = ".txt"
    description = "plain UTF-8 text, pages separated by form feeds"

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write the text of ``result`` to ``destination``, ending with a newline."""
        text = result.text
        if not text.endswith("\n"):
            text += "\n"
        # newline="" keeps "\n" on every platform: the format is the same everywhere.
        with destination.open("w", encoding="utf-8", newline="") as file:
            file.write(text)


@hookimpl
def register_writers() -> list[Writer]:
    return [TextWriter()]
