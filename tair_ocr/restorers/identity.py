"""The ``none`` restorer: pages go to OCR as loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.hookspecs import hookimpl

if TYPE_CHECKING:
    import numpy as np


class IdentityRestorer(Restorer):
    """Returns tiles unchanged; with it the tile stage is skipped entirely."""

    name = "none"
    description = "no restoration: OCR reads the page as loaded"
    is_identity = True

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        return RestoredTiles(images=tiles, words=[[] for _ in range(tiles.shape[0])])


@hookimpl
def register_restorers() -> list[Restorer]:
    return [IdentityRestorer()]
