"""Homographies between a photographed page and its corrected (flattened) image.

A phone photo shows the page in perspective: no :class:`~tair_ocr.geometry.Affine`
describes it. The ``perspective`` page filter (:mod:`tair_ocr.filters.perspective`)
warps the page's quadrilateral to an upright rectangle; that corrected image is then
the page that is read. The 3×3 homography ``H`` recorded with it
(``PageGeometry.perspective.homography``) maps corrected-page pixels to photo pixels,
both in edge coordinates (the top-left corner of the top-left pixel is (0, 0)):
``(x, y, 1) ~ H (u, v, 1)``.

This module holds the arithmetic shared by the filter, the pipeline (words mapped
back onto the photo with ``--output-page original``) and the pdf writer (the
corrected page drawn again from the photo when the photo is all it has).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tair_ocr.results import BBox, Block, Line, Point, Word

__all__ = [
    "Homography",
    "homography_to_quad",
    "map_blocks",
    "map_box",
    "map_points",
    "map_word",
    "page_aspect",
    "quad_size",
    "warp_page",
]

#: A 3×3 matrix as nested lists (JSON-serialisable), rows first.
Homography = list[list[float]]

#: Pages up to this many pixels are warped bicubically, larger ones bilinearly.
CUBIC_PIXELS = 4_000_000


def _matrix(h: Homography | np.ndarray) -> np.ndarray:
    m = np.asarray(h, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"a homography is 3×3, not {m.shape}")
    return m


def map_points(h: Homography | np.ndarray, points: Sequence[Point]) -> list[Point]:
    """``points`` mapped by ``h`` (projective division included)."""
    if not points:
        return []
    m = _matrix(h)
    p = np.asarray(points, dtype=np.float64)
    q = p @ m[:, :2].T + m[:, 2]
    w = q[:, 2]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return [(float(x), float(y)) for x, y in zip(q[:, 0] / w, q[:, 1] / w, strict=True)]


def _corners(box: BBox) -> list[Point]:
    return [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]


def map_box(h: Homography | np.ndarray, box: BBox) -> BBox:
    """The axis-aligned box enclosing the four mapped corners of ``box``."""
    return BBox.from_points(map_points(h, _corners(box)))


def map_word(word: Word, h: Homography | np.ndarray) -> Word:
    """``word`` mapped by ``h``: its ``polygon`` the mapped corners of its polygon
    (its box's four corners when it has none), its ``bbox`` the box enclosing them."""
    polygon = map_points(h, word.polygon or _corners(word.bbox))
    return word.model_copy(update={"polygon": polygon, "bbox": BBox.from_points(polygon)})


def map_blocks(blocks: Sequence[Block], h: Homography | np.ndarray) -> list[Block]:
    """``blocks`` with every word mapped by ``h`` (:func:`map_word`); the lines' and
    blocks' boxes enclose their mapped words (or their own mapped corners when empty)."""
    out = []
    for block in blocks:
        lines = []
        for line in block.lines:
            words = [map_word(w, h) for w in line.words]
            bbox = BBox.enclosing([w.bbox for w in words]) if words else map_box(h, line.bbox)
            lines.append(Line(bbox=bbox, words=words))
        bbox = BBox.enclosing([ln.bbox for ln in lines]) if lines else map_box(h, block.bbox)
        out.append(Block(bbox=bbox, lines=lines))
    return out


def quad_size(quad: Sequence[Point], photo_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Width and height of the upright rectangle a page quadrilateral (top-left,
    top-right, bottom-right, bottom-left) is warped to.

    The page's aspect ratio is recovered from the quadrilateral (:func:`page_aspect`,
    a pinhole camera whose principal point is the centre of the ``photo_size``
    photo) where it can be; otherwise (no ``photo_size``, or a view too frontal to
    tell the focal length) it is the ratio of the mean opposite edge lengths. The
    rectangle is at least as wide and as tall as the quadrilateral's longer opposite
    edges, so the text keeps about the size it has where the page is nearest."""
    tl, tr, br, bl = (np.asarray(p, dtype=np.float64) for p in quad)
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    aspect = page_aspect(quad, photo_size) if photo_size is not None else None
    if aspect is None:
        return max(1, round(float(width))), max(1, round(float(height)))
    w = max(width, height * aspect)
    return max(1, round(float(w))), max(1, round(float(w / aspect)))


def page_aspect(quad: Sequence[Point], photo_size: tuple[int, int]) -> float | None:
    """Width / height of the rectangle photographed as ``quad`` (top-left, top-right,
    bottom-right, bottom-left), for a pinhole camera with square pixels and its
    principal point at the photo's centre: the focal length follows from the
    quadrilateral's vanishing geometry, the aspect from the rectangle's two edge
    directions in camera space. None when the view is too frontal to tell the focal
    length (the caller then takes edge lengths) or the answer is implausible."""
    cx, cy = photo_size[0] / 2, photo_size[1] / 2
    tl, tr, br, bl = (np.array([x - cx, y - cy, 1.0]) for x, y in quad)
    # Corners m1..m4 = top-left, top-right, bottom-left, bottom-right.
    m1, m2, m3, m4 = tl, tr, bl, br
    k2 = np.dot(np.cross(m1, m4), m3) / np.dot(np.cross(m2, m4), m3)
    k3 = np.dot(np.cross(m1, m4), m2) / np.dot(np.cross(m3, m4), m2)
    n2, n3 = k2 * m2 - m1, k3 * m3 - m1
    denominator = n2[2] * n3[2]
    if abs(denominator) < 1e-9:
        return None
    f2 = -(n2[0] * n3[0] + n2[1] * n3[1]) / denominator
    diagonal = float(np.hypot(*photo_size))
    # A focal length outside 0.3-5 photo diagonals: the view is nearly frontal (the
    # estimate is noise) or the outline is not a rectangle's.
    if not (0.3 * diagonal) ** 2 <= f2 <= (5 * diagonal) ** 2:
        return None
    across = n2[0] ** 2 / f2 + n2[1] ** 2 / f2 + n2[2] ** 2
    down = n3[0] ** 2 / f2 + n3[1] ** 2 / f2 + n3[2] ** 2
    if across <= 0 or down <= 0:
        return None
    aspect = float(np.sqrt(across / down))
    return aspect if 0.2 <= aspect <= 5.0 else None


def homography_to_quad(quad: Sequence[Point], size: tuple[int, int]) -> np.ndarray:
    """The homography from pixels of a ``size`` rectangle to the photo pixels of
    ``quad`` (top-left, top-right, bottom-right, bottom-left), edge coordinates."""
    import cv2

    w, h = size
    rect = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float64)
    m = cv2.getPerspectiveTransform(rect.astype(np.float32), np.asarray(quad, dtype=np.float32))
    return np.asarray(m, dtype=np.float64)


def warp_page(photo: Image.Image, h: Homography | np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The corrected page: the ``size`` image whose pixel at (u, v) shows the photo
    at ``h``(u, v); same mode as ``photo`` (``L`` or ``RGB``). Deterministic: the
    pdf writer draws the page the pipeline read from the same photo and ``h``."""
    import cv2

    m = _matrix(h)
    # OpenCV addresses pixel centres: index = edge coordinate - 0.5.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], dtype=np.float64)
    centred = back @ m @ shift
    if photo.mode not in ("L", "RGB"):
        photo = photo.convert("RGB")
    pixels = np.asarray(photo)
    w, hgt = size
    interpolation = cv2.INTER_CUBIC if w * hgt <= CUBIC_PIXELS else cv2.INTER_LINEAR
    out = cv2.warpPerspective(
        pixels,
        centred,
        (w, hgt),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return Image.fromarray(out, photo.mode)
