"""The ``perspective`` page filter: a phone photo of a page is read as the page, not
as the table, the hand and the perspective around it.

Runs first (before ``orientation`` and ``deskew``), on image inputs, by default;
``--no-perspective`` (``options={"perspective": {"enabled": False}}``) turns it off.

1. **Outline** (:func:`find_page_outline`): on a copy whose longer side is at most
   :data:`DETECT_SIDE` pixels, each pixel is scored for how paper-like it is
   (bright and colourless: Lab lightness minus chroma), the score is thresholded
   (Otsu), and the largest paper region's outer contour is reduced to four corners,
   each side then refitted to the contour's points (a line fit, so the corners land
   within a pixel or two of the page's corners at full resolution). No correction
   when the outline is implausible: the paper touches the image edge along much of
   its outline (a scan, a clean page, a close-up: the whole image already is the
   page; this costs one small threshold), covers less than :data:`MIN_AREA` of the
   image, is not four-cornered and convex, does not match its quadrilateral (overlap), has a
   corner angle outside 35-145°, or barely stands out from its surround.
2. **Warp**: the quadrilateral becomes an upright rectangle at full resolution,
   bicubic (:func:`tair_ocr.perspective.warp_page`), of the page's aspect ratio as the
   quadrilateral shows it to a pinhole camera (:func:`tair_ocr.perspective.page_aspect`;
   the edge lengths' ratio where the view is too frontal to tell) and at least as
   wide and tall as its longer opposite edges (text keeps about its size). With
   ``flatten`` (default on), uneven light is evened out on the image that is read (the
   paper divided by a smooth estimate of its brightness; on 6 synthetic photos it
   takes tesseract's mean CER from 0.26 to 0.007); the searchable PDF shows the warped
   photo unflattened.
3. The corrected image becomes the page that is read: a new :class:`Page` whose
   pixels, ``original_size`` and frame are the corrected page's. Perspective is not
   affine, so it is not forced into ``to_original``: the homography from
   corrected-page pixels to photo pixels is recorded instead
   (``PageGeometry.perspective``, :class:`~tair_ocr.results.PerspectiveCorrection`,
   status ``proposed``).
4. **Guard** (in the pipeline, which has the engines; ``guard``, default on): the
   primary engine reads the corrected page and the photo as loaded; the correction is
   kept only when the corrected page reads at least as well (:func:`judge`: as many
   words with calibrated confidence of at least 0.5 as the photo, less 3 % or 3
   words, and some);
   otherwise the photo is read as loaded (status ``rejected``). The
   reading of the page that wins is the pipeline's first reading, not read again.
5. **Shown page** (``--output-page``): ``corrected`` (default) makes the corrected
   page the result's page (its size, word boxes in its pixels, the searchable PDF
   shows it); ``original`` maps the words back onto the photo through the homography
   (each word's ``polygon`` its four mapped corners, ``bbox`` their enclosing box)
   and keeps the photo's size. PDF inputs always show ``original`` (their pages are
   copied into the searchable PDF as they are).

Curled or folded pages (dewarping) are out of scope: the outline is a quadrilateral.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, ClassVar, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from tair_ocr.components import PageFilter
from tair_ocr.geometry import Affine
from tair_ocr.options import Flag, PluginOptions
from tair_ocr.page import Page
from tair_ocr.perspective import homography_to_quad, quad_size, warp_page
from tair_ocr.results import PageGeometry, PerspectiveCorrection, Point, Word

__all__ = [
    "DETECT_SIDE",
    "MIN_AREA",
    "SURE_CONFIDENCE",
    "Outline",
    "PerspectiveFilter",
    "PerspectiveOptions",
    "correct",
    "even_light",
    "find_page_outline",
    "judge",
]

#: Longer side, in pixels, of the copy the outline is searched on.
DETECT_SIDE = 800
#: Smallest share of the image the page's quadrilateral must cover.
MIN_AREA = 0.3
#: Largest share of the outline that may run along the image edge (more: the page
#: fills the image or runs off it).
MAX_EDGE_SHARE = 0.08
#: Smallest overlap (intersection over union) of the paper region and its
#: quadrilateral.
MIN_FILL = 0.93
#: Corner angles, in degrees, a photographed page's outline keeps within.
MIN_ANGLE, MAX_ANGLE = 35.0, 145.0
#: Smallest difference of paper score (Lab lightness minus chroma) between the
#: page and its surround.
MIN_CONTRAST = 25.0
#: Calibrated confidence from which the guard counts a word as read.
SURE_CONFIDENCE = 0.5
#: How many fewer sure words than the photo the corrected page may read and be kept:
#: this share of the photo's, or this many, whichever is more. Counts differ by a few
#: words between two readings of the same text (a word split or joined): on
#: ``samples/receipt_photo.jpg`` the corrected page has 76 sure words to the photo's
#: 79 with tesseract, yet reads better (CER 0.005 against 0.019).
GUARD_TOLERANCE = 0.03
GUARD_SLACK_WORDS = 3


class PerspectiveOptions(PluginOptions):
    """Perspective: a photographed page is found in the photo and read flattened."""

    namespace: ClassVar[str] = "perspective"

    enabled: Annotated[bool, Flag(aliases=("--perspective",))] = Field(
        True,
        description="find the page's outline in photos of a page (paper against a "
        "darker or coloured surround), warp it to an upright rectangle and read that; "
        "scans and clean pages are left alone",
    )
    guard: bool = Field(
        True,
        description="keep a correction only when the primary engine reads the "
        "corrected page at least as well as the photo as loaded (one more reading per "
        "photo)",
    )
    output_page: Annotated[Literal["corrected", "original"], Flag(aliases=("--output-page",))] = (
        Field(
            "corrected",
            description="the page a kept correction's outputs show: 'corrected' (the "
            "flattened page: searchable PDF and word boxes) or 'original' (the photo, "
            "word boxes mapped back onto it)",
        )
    )
    flatten: bool = Field(
        True,
        description="even out uneven light on the corrected page before it is read",
    )


@dataclass
class Outline:
    """What :func:`find_page_outline` found: the page's corners in image pixels (edge
    coordinates; top-left, top-right, bottom-right, bottom-left) or None, and why."""

    quad: list[Point] | None
    reason: str


# --------------------------------------------------------------------------- outline


def _paper_score(rgb: np.ndarray) -> np.ndarray:
    """How paper-like each pixel is: Lab lightness minus chroma (0-255 scale)."""
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    return lab[..., 0] - 1.5 * chroma


def find_page_outline(image: Image.Image) -> Outline:
    """The outline of a photographed page in ``image``, or why there is none."""
    import cv2

    w, h = image.size
    if min(w, h) < 64:
        return Outline(None, "image too small")
    step = max(1, math.ceil(max(w, h) / DETECT_SIDE))
    factor = 1.0 / step  # reduced by whole blocks: edge coordinates scale exactly
    small = image.reduce(step) if step > 1 else image
    if small.mode != "RGB":
        small = small.convert("RGB")
    sw, sh = small.size
    score = cv2.GaussianBlur(_paper_score(np.asarray(small)), (0, 0), 1.5)
    lo, hi = np.percentile(score, (1, 99))
    if hi - lo < MIN_CONTRAST:
        return Outline(None, "no paper against a surround (uniform image)")
    u8 = np.clip((score - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    _, mask = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Cheap first test: a scan's or a clean page's paper runs round the image edge.
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    if (border > 0).mean() > 0.5:
        return Outline(None, "the page fills the image (paper along the image edge)")
    k = max(3, round(min(sw, sh) * 0.01)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return Outline(None, "no paper region")
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if area < MIN_AREA * sw * sh:
        return Outline(None, f"largest paper region covers {area / (sw * sh):.0%} of the image")
    pts = contour[:, 0, :].astype(np.float64)
    on_edge = (
        (pts[:, 0] <= 1) | (pts[:, 1] <= 1) | (pts[:, 0] >= sw - 2) | (pts[:, 1] >= sh - 2)
    ).mean()
    if on_edge > MAX_EDGE_SHARE:
        return Outline(None, f"the page runs off the image ({on_edge:.0%} of its outline)")
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    approx = None
    for eps in (0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08):
        candidate = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(candidate) == 4:
            approx = candidate[:, 0, :].astype(np.float64)
            break
    if approx is None:
        return Outline(None, "the paper region has no four-cornered outline")
    corners = _order(approx)
    if not cv2.isContourConvex(corners.astype(np.float32).reshape(-1, 1, 2)):
        return Outline(None, "the outline is not convex")
    quad_area = cv2.contourArea(corners.astype(np.float32))
    if quad_area < MIN_AREA * sw * sh:
        return Outline(None, f"the outline covers {quad_area / (sw * sh):.0%} of the image")
    region = np.zeros((sh, sw), np.uint8)
    cv2.drawContours(region, [contour], -1, 1, thickness=cv2.FILLED)
    inside = np.zeros((sh, sw), np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    overlap = np.count_nonzero(region & inside) / max(1, np.count_nonzero(region | inside))
    if overlap < MIN_FILL:
        return Outline(None, f"the paper region is not a quadrilateral ({overlap:.0%} overlap)")
    angles = _angles(corners)
    if min(angles) < MIN_ANGLE or max(angles) > MAX_ANGLE:
        return Outline(None, f"implausible corner angles {', '.join(f'{a:.0f}' for a in angles)}")
    contrast = float(np.median(score[inside > 0]) - np.median(score[inside == 0]))
    if contrast < MIN_CONTRAST:
        return Outline(None, f"the page barely stands out from its surround ({contrast:.0f})")
    refined = _refine(corners, pts)
    # Contour points are pixel centres on the paper's side of its edge: half a pixel
    # inside. Edge coordinates, pushed out by that half pixel, at full resolution.
    centre = refined.mean(axis=0)
    out = refined + 0.5
    direction = out - (centre + 0.5)
    norms = np.linalg.norm(direction, axis=1, keepdims=True)
    out = out + 0.5 * math.sqrt(2) * direction / np.maximum(norms, 1e-9)
    quad = [(float(x / factor), float(y / factor)) for x, y in out]
    quad = [(min(max(x, 0.0), w), min(max(y, 0.0), h)) for x, y in quad]
    return Outline(quad, f"page outline covers {quad_area / (sw * sh):.0%} of the photo")


def _order(points: np.ndarray) -> np.ndarray:
    """Four corners as top-left, top-right, bottom-right, bottom-left."""
    centre = points.mean(axis=0)
    angle = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    ring = points[np.argsort(angle)]  # clockwise on screen (y down), from the left
    start = int(np.argmin(ring[:, 0] + ring[:, 1]))
    return np.roll(ring, -start, axis=0)


def _angles(corners: np.ndarray) -> list[float]:
    out = []
    for i in range(4):
        a, b, c = corners[i - 1], corners[i], corners[(i + 1) % 4]
        u, v = a - b, c - b
        cos = float(np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-9))
        out.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return out


def _refine(corners: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Corners from lines fitted to the contour points along each side (their middle
    80 %, near the side): sub-pixel corners, blunted or rounded corners ignored."""
    import cv2

    lines = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        d = b - a
        length = float(np.linalg.norm(d))
        if length < 8:
            return corners
        d /= length
        rel = contour - a
        t = rel @ d
        dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
        near = (t > 0.1 * length) & (t < 0.9 * length) & (dist < max(3.0, 0.01 * length))
        if near.sum() < 10:
            return corners
        vx, vy, x0, y0 = cv2.fitLine(
            contour[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01
        ).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    refined = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return corners
        s, _ = np.linalg.solve(m, p2 - p1)
        refined.append(p1 + s * d1)
    out = np.array(refined)
    if np.max(np.linalg.norm(out - corners, axis=1)) > 0.03 * max(np.ptp(corners, axis=0)):
        return corners  # the fit went elsewhere: keep the polygon's corners
    return out


# --------------------------------------------------------------------------- correction


def even_light(image: Image.Image) -> Image.Image:
    """``image`` with uneven light evened out: each pixel divided by a smooth estimate
    of the paper's brightness around it (the page's luminance with its ink closed
    over, reduced, blurred), so the paper comes out an even light grey."""
    import cv2

    pixels = np.asarray(image)
    gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    factor = min(1.0, 400 / max(h, w))
    small = cv2.resize(
        gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    k = max(5, round(max(small.shape) * 0.03)) | 1
    paper = cv2.morphologyEx(
        small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    paper = cv2.GaussianBlur(paper.astype(np.float32), (0, 0), k / 2)
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    level = float(np.percentile(paper, 90))
    gain = level / np.maximum(paper, 8.0)
    if pixels.ndim == 3:
        gain = gain[..., None]
    out = np.clip(pixels.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return Image.fromarray(out, image.mode)


def correct(
    image: Image.Image, quad: Sequence[Point], *, flatten: bool = False
) -> tuple[Image.Image, np.ndarray, tuple[int, int]]:
    """The corrected page of ``image`` for the page outline ``quad``, the homography
    from its pixels to ``image``'s and its size."""
    size = quad_size(quad, image.size)
    h = homography_to_quad(quad, size)
    corrected = warp_page(image, h, size)
    if flatten:
        corrected = even_light(corrected)
    return corrected, h, size


def judge(
    corrected: list[Word], photo: list[Word], *, strict: bool = False
) -> tuple[bool, str, dict[str, float]]:
    """Whether the corrected page reads at least as well as the photo as loaded: at
    least as many words with calibrated confidence of at least
    :data:`SURE_CONFIDENCE` (within :data:`GUARD_TOLERANCE` or
    :data:`GUARD_SLACK_WORDS`), and some. With ``strict``, whether it reads better:
    its sure words' calibrated confidences sum higher (the number of them expected
    to be right), or as high with more of them. The decision, why, and the scores.

    As many, not more: an engine that reads tilted words well (RapidOCR) is as sure
    of each word on the photo as on the corrected page (790 sure words either way on
    a page tilted by 20°) while its lines, and so the text's order, come out broken
    on the photo (CER 0.76 against 0.00 corrected); a wrong outline (a crop, a mirror,
    a corner off the page) loses words. Strict is for corrections that change the
    pixels of the text itself (a deconvolution): they have to earn their place. By
    the sum, not the count: RapidOCR is about as many times sure of words on a
    motion-blurred page as on the page deconvolved, but far less right (a check
    page with 16 px at 60°: 249 sure words as loaded, 248 deconvolved; sums 209 and
    237; CER 7.6 and 0.0 %)."""
    c_sure = [w.confidence for w in corrected if w.confidence >= SURE_CONFIDENCE]
    p_sure = [w.confidence for w in photo if w.confidence >= SURE_CONFIDENCE]
    scores = {
        "corrected_sure": float(len(c_sure)),
        "photo_sure": float(len(p_sure)),
        "corrected_confidence": round(sum(c_sure), 3),
        "photo_confidence": round(sum(p_sure), 3),
    }
    counts = f"{len(c_sure)} sure words corrected, {len(p_sure)} as loaded"
    if strict:
        if (sum(c_sure), len(c_sure)) > (sum(p_sure), len(p_sure)):
            return True, f"reads better corrected ({counts})", scores
        return False, f"reads no better corrected ({counts})", scores
    slack = max(GUARD_TOLERANCE * len(p_sure), GUARD_SLACK_WORDS)
    if c_sure and len(c_sure) >= len(p_sure) - slack:
        return True, f"reads as well or better corrected ({counts})", scores
    return False, f"reads worse corrected ({counts})", scores


# --------------------------------------------------------------------------- the filter


class PerspectiveFilter(PageFilter):
    """Finds a photographed page's outline and reads the page flattened."""

    name = "perspective"
    description = "find a photographed page's outline and flatten its perspective"
    order = 5
    enabled_by_default = True
    options_model = PerspectiveOptions

    def __init__(self) -> None:
        self.options = PerspectiveOptions()

    def configure(self, options: PerspectiveOptions) -> None:
        self.options = options

    def apply(self, page: Page) -> Page:
        if not self.options.enabled or page.existing_text is not None:
            return page  # off, or a PDF page with text of its own (in its pixels)
        if not page.to_original.is_identity or page.original_size != page.image.size:
            return page  # not the page as loaded: the outline must be found first
        geometry = (page.geometry or PageGeometry()).model_copy()
        outline = find_page_outline(page.image)
        record = PerspectiveCorrection(
            status="not-found", reason=outline.reason, photo_size=page.image.size
        )
        if outline.quad is None:
            geometry.perspective = record
            same = page.transformed(page.image, Affine())
            same.geometry = geometry
            return same
        image, h, size = correct(page.image, outline.quad, flatten=self.options.flatten)
        geometry.perspective = record.model_copy(
            update={
                "status": "proposed",
                "quad": [(round(x, 2), round(y, 2)) for x, y in outline.quad],
                "corrected_size": size,
                "homography": [[float(v) for v in row] for row in h],
                "shown": self.options.output_page,
            }
        )
        return replace(
            page,
            image=image,
            original_size=size,
            to_original=Affine(),
            warnings=list(page.warnings),
            geometry=geometry,
        )
