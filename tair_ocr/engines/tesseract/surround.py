"""The paper of a page framed by a dark surround (:func:`paper_box`).

A phone photo of a document shows the table it lies on, a scan may have a
black border. Tesseract binarizes the page as a whole, and its automatic layout
analysis takes such a dark frame around the paper for one big picture region: text
next to it goes missing. On the bundled receipt photo (a receipt on a dark table)
``--psm 3`` reads no amount of the right-aligned price column on the page as loaded,
and on the restored page (or the page enlarged to the working scale) it keeps only
what follows the decimal points ("19.84" read "84"); on the paper alone it reads every
amount whole, at every scale. So where the page is framed by a dark surround on at
least three sides (:func:`paper_box`), tesseract reads the paper only and the boxes
are mapped back (``--tesseract-surround keep`` reads the whole image).
"""

from __future__ import annotations

import numpy as np

#: The surround (:func:`paper_box`) is trimmed when it is at least this many gray
#: levels darker than the paper...
SURROUND_MIN_CONTRAST = 60
#: ...on at least this many sides (the surround of a photographed document; a dark
#: bar along one or two edges is left alone)...
SURROUND_MIN_SIDES = 3
#: ...each band at least this share of the image's width or height...
SURROUND_MIN_BAND = 0.01
#: ...and the paper's box covers at least this share of the image (a bright sign in
#: a street photo, or light lettering on a dark ground, is no paper).
SURROUND_MIN_PAPER = 0.25


def paper_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The paper of a page framed by a dark surround, as a (left, top, right, bottom)
    crop box in pixels of ``gray`` (H×W uint8 luminance); None when there is no
    such surround.

    The page is shrunk to about 200 px on its short side and closed (dilated, then
    eroded) so that text disappears into the paper, then split into bright and
    dark by Otsu's threshold. The paper's edges are where the bright share of
    the columns (rows) reaches half of its largest value. A side has a surround
    when the band outside that edge is at least :data:`SURROUND_MIN_BAND` of the
    image thick and :data:`SURROUND_MIN_CONTRAST` gray levels darker than the
    paper; the box trims those bands when there are :data:`SURROUND_MIN_SIDES` of
    them and the paper covers :data:`SURROUND_MIN_PAPER` of the image. The box is
    not widened: a sliver of the surround at the crop's edge (a skewed sheet's
    corners) is read as junk ("OSS", "eee" on the bundled receipt photo).
    """
    import cv2

    height, width = gray.shape
    step = max(1, min(height, width) // 200)
    if min(height, width) // step < 32:
        return None
    small = cv2.resize(
        np.ascontiguousarray(gray), (width // step, height // step), interpolation=cv2.INTER_AREA
    )
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, bright = cv2.threshold(paper, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if bright.all() or not bright.any():
        return None
    rows, cols = bright.shape

    def extent(share: np.ndarray) -> tuple[int, int]:
        inside = np.flatnonzero(share >= 0.5 * share.max())
        return int(inside[0]), int(inside[-1]) + 1

    x0, x1 = extent(bright.mean(axis=0))
    y0, y1 = extent(bright.mean(axis=1))
    if (x1 - x0) * (y1 - y0) < SURROUND_MIN_PAPER * rows * cols:
        return None
    inner = bright[y0:y1, x0:x1].astype(bool)
    level = float(np.median(paper[y0:y1, x0:x1][inner]))
    bands = {
        "left": (paper[:, :x0], x0 / cols),
        "top": (paper[:y0], y0 / rows),
        "right": (paper[:, x1:], (cols - x1) / cols),
        "bottom": (paper[y1:], (rows - y1) / rows),
    }
    dark = {
        side
        for side, (band, thickness) in bands.items()
        if thickness >= SURROUND_MIN_BAND and float(band.mean()) <= level - SURROUND_MIN_CONTRAST
    }
    if len(dark) < SURROUND_MIN_SIDES:
        return None
    return (
        x0 * step if "left" in dark else 0,
        y0 * step if "top" in dark else 0,
        min(width, x1 * step) if "right" in dark else width,
        min(height, y1 * step) if "bottom" in dark else height,
    )
