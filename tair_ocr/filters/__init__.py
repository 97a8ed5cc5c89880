"""The built-in page geometry filters: ``orientation`` and ``deskew``.

Both run by default, orientation first (pages are turned upright, then their lines
levelled); each has a switch to turn it off (``--no-rotate-pages``, ``--no-deskew``;
``options={"orientation": {"enabled": False}}``). Each records what it found and did
in ``PageGeometry`` (``PageResult.geometry`` in the JSON output), and changes the
page only through :meth:`Page.transformed` with the exact affine of its change, so
word boxes map back to the page as loaded.

- :mod:`.textlines`: the measurements on a small binarised copy of the page (skew,
  line direction, which way up);
- :mod:`.osd`: tesseract's orientation detection;
- :mod:`.orientation`: :class:`OrientationFilter` and its options;
- :mod:`.deskew`: :class:`DeskewFilter` and its options.
- :mod:`.perspective`: :class:`PerspectiveFilter` (photographed pages: page outline,
  perspective correction; runs first, image inputs) and its options.
"""

from __future__ import annotations

from tair_ocr.components import PageFilter
from tair_ocr.filters.deskew import DeskewFilter, DeskewOptions
from tair_ocr.filters.orientation import OrientationFilter, OrientationOptions
from tair_ocr.filters.perspective import PerspectiveFilter, PerspectiveOptions
from tair_ocr.hookspecs import hookimpl

__all__ = [
    "DeskewFilter",
    "DeskewOptions",
    "OrientationFilter",
    "OrientationOptions",
    "PerspectiveFilter",
    "PerspectiveOptions",
    "register_page_filters",
]


@hookimpl
def register_page_filters() -> list[PageFilter]:
    return [PerspectiveFilter(), OrientationFilter(), DeskewFilter()]
