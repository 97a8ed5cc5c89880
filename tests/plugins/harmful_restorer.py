"""Fault-injection plugin: a restorer that changes what the page says.

``harmful`` returns each tile cleaned up a little (contrast stretched) but with
some glyphs swapped: it finds the ink blobs (letters) of the tile and exchanges
the pixels of pairs of similar-sized ones, each resized into the other's box.
The result looks like crisp text, so OCR reads the wrong letters with good
confidence: the failure mode of a generative restorer that hallucinates glyphs.
The hallucination guard (``tair_ocr.fusion``) must keep the reading of the
unrestored page there.

Deterministic: which glyphs are swapped depends only on the tile's pixels.
Used by ``tests/test_fusion.py`` and ``benchmarks/fusion_accuracy.py``.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import ndimage

import tair_ocr
from tair_ocr.components import RestoredTiles

#: Share of the glyphs of a tile that get swapped with another glyph.
SWAP_SHARE = 0.12


class HarmfulRestorer(tair_ocr.Restorer):
    """Swaps similar-sized glyphs inside each tile (see the module docstring)."""

    name = "harmful"
    description = "test restorer: swaps glyphs, so the restored page reads wrong letters"
    tile_size = 512
    batch_size = 4

    def __init__(self, swap_share: float = SWAP_SHARE) -> None:
        self.swap_share = swap_share

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        out = np.array(tiles, dtype=np.float32)  # a copy
        for i in range(out.shape[0]):
            image = out[i].transpose(1, 2, 0)  # H×W×3 view
            swap_glyphs(image, self.swap_share)
        return RestoredTiles(images=out, words=[[] for _ in range(out.shape[0])])


def swap_glyphs(image: np.ndarray, share: float) -> int:
    """Swap pairs of glyphs of ``image`` (H×W×3 float in [0, 1]) in place.

    Returns the number of glyphs changed.
    """
    gray = image.mean(axis=2)
    # Ink relative to the paper, so faded and blurred text has glyphs too; the
    # threshold sits nearer the ink so blurred letters don't merge into words.
    paper, darkest = float(np.median(gray)), float(np.percentile(gray, 1))
    if paper - darkest < 0.1:
        return 0  # no contrast: nothing that looks like text
    ink = gray < darkest + 0.3 * (paper - darkest)
    labels, count = ndimage.label(ink)
    if count < 2:
        return 0
    boxes = ndimage.find_objects(labels)
    glyphs = []
    for index, box in enumerate(boxes, start=1):
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        # Letter-sized blobs only: not specks, rules or whole words touching.
        if 8 <= h <= 80 and 3 <= w <= 60 and w < 1.5 * h:
            glyphs.append((index, box, h, w))
    if len(glyphs) < 2:
        return 0
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(ink.tobytes()).digest()[:8], "big"))
    wanted = max(1, round(share * len(glyphs)))
    order = rng.permutation(len(glyphs))
    used: set[int] = set()
    changed = 0
    for a in order:
        if changed >= wanted:
            break
        if a in used:
            continue
        _, box_a, h_a, w_a = glyphs[a]
        # A partner of similar height but a different shape (so the letter changes).
        partners = [
            b
            for b in order
            if b != a
            and b not in used
            and abs(glyphs[b][2] - h_a) <= 0.15 * h_a
            and abs(glyphs[b][3] - w_a) <= 0.5 * w_a
            and _differ(ink[glyphs[b][1]], ink[box_a])
        ]
        if not partners:
            continue
        b = partners[0]
        _, box_b, _, _ = glyphs[b]
        patch_a, patch_b = image[box_a].copy(), image[box_b].copy()
        image[box_a] = _resize(patch_b, patch_a.shape[:2])
        image[box_b] = _resize(patch_a, patch_b.shape[:2])
        used.update((a, b))
        changed += 2
    return changed


def _differ(mask_a: np.ndarray, mask_b: np.ndarray) -> bool:
    """True when two glyph masks are different letters (over 25 % of pixels differ
    once ``mask_a`` is resized onto ``mask_b``)."""
    resized = _resize(mask_a[..., None].astype(np.float32), mask_b.shape)[..., 0] > 0.5
    return float(np.mean(resized != mask_b)) > 0.25


def _resize(patch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    zoom = (h / patch.shape[0], w / patch.shape[1], 1)
    resized = ndimage.zoom(patch, zoom, order=1)
    # zoom can be off by one pixel; pad or crop with white.
    out = np.ones((h, w, patch.shape[2]), dtype=patch.dtype)
    hh, ww = min(h, resized.shape[0]), min(w, resized.shape[1])
    out[:hh, :ww] = resized[:hh, :ww]
    return np.clip(out, 0.0, 1.0)


@tair_ocr.hookimpl
def register_restorers() -> list[tair_ocr.Restorer]:
    return [HarmfulRestorer()]
