"""What the ``fuse_readings`` hook receives: :class:`Reading`, one reading of a page.

Part of the plugin contract (:mod:`tair_ocr.hookspecs`): it holds data only and
imports nothing but the result types, so a plugin can import it without pulling
in the pipeline or the built-in fusion (:mod:`tair_ocr.fusion`, which re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tair_ocr.results import BBox, Word

__all__ = ["Reading"]


@dataclass
class Reading:
    """One reading of a page: words in original page pixels, and where they came from."""

    #: Provenance written into ``Word.source`` of the words it wins with.
    source: str
    words: list[Word]
    #: True when read from restored pixels (engines on the restored page, spotters);
    #: False for a reading of the page as loaded.
    restored: bool = True
    #: ``"engine"`` readings cover the whole page, so where they have no word they
    #: vote "no text"; ``"spotter"`` readings cover only what they spotted.
    kind: Literal["engine", "spotter"] = "engine"
    #: Vote weight; votes are ``weight × trust × confidence``, where trust is the
    #: reading's mean word confidence on the page.
    weight: float = 1.0
    #: The engine that made the reading (default: ``source`` up to a colon, so
    #: ``"tesseract:original"`` is tesseract's). It pairs the reading of the
    #: unrestored page with the same engine's reading of the restored page, so the
    #: guard acts on words that engine read differently after restoration and
    #: compares confidences of one engine.
    engine: str | None = None
    #: Where the reading looked, in original page pixels: None for the whole page;
    #: a second engine or a re-read of restored pixels covers only the regions the
    #: decide step chose. Outside them it says nothing, not "no text".
    regions: list[BBox] | None = None

    @property
    def engine_name(self) -> str:
        return self.engine or self.source.split(":", 1)[0]

    @property
    def whole_page(self) -> bool:
        """True for a reading of the whole page as loaded (not restored, no
        regions): what restoration and second opinions must beat."""
        return not self.restored and self.regions is None
