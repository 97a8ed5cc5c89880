"""Phone photos of synthetic pages: the page in perspective on a table, with ground
truth (its corners and its words' quadrilaterals in photo pixels).

``photograph(page, seed=...)`` tilts the page (a plane turned up to ``max_tilt``
degrees about both image axes and up to ``max_turn`` degrees in its plane, seen by
a pinhole camera), lays it on a background (``dark`` surface, ``wood`` table
texture or a ``coloured`` cloth), lights the scene unevenly (a gradient, a vignette,
often a soft shadow), adds a colour cast, lens blur, sensor noise and JPEG.
Deterministic for a given page and seed. Perspective only: the page stays flat
(no curl).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from tair_workbench.synthetic.render import RenderedPage

__all__ = ["BACKGROUNDS", "Photo", "photograph"]

#: Backgrounds :func:`photograph` lays the page on.
BACKGROUNDS = ("dark", "wood", "coloured")

Point = tuple[float, float]


@dataclass
class Photo:
    """A photographed page and its ground truth."""

    image: Image.Image
    #: The page's corners in photo pixels (edge coordinates): top-left, top-right,
    #: bottom-right, bottom-left.
    quad: list[Point]
    #: The homography from clean-page pixels to photo pixels.
    homography: np.ndarray
    text: str | None
    #: Each word's text and its box's corners mapped into the photo.
    words: list[tuple[str, list[Point]]] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)


def _camera(
    rng: np.random.Generator, size: tuple[int, int], max_tilt: float, max_turn: float
) -> tuple[np.ndarray, dict[str, float]]:
    """Page corners (pixels, page centred at the origin) projected by a pinhole camera
    looking at the page turned by random tilts: the projected corners, unscaled."""
    w, h = size
    ax = math.radians(rng.uniform(-max_tilt, max_tilt))
    ay = math.radians(rng.uniform(-max_tilt, max_tilt))
    az = math.radians(rng.uniform(-max_turn, max_turn))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    corners = np.array(
        [(-w / 2, -h / 2, 0), (w / 2, -h / 2, 0), (w / 2, h / 2, 0), (-w / 2, h / 2, 0)]
    )
    turned = corners @ (rx @ ry @ rz).T
    focal = 1.1 * math.hypot(w, h)  # a phone's wide lens, about 50° across the diagonal
    distance = focal
    z = turned[:, 2] + distance
    projected = focal * turned[:, :2] / z[:, None]
    params = {
        "tilt_x": round(math.degrees(ax), 2),
        "tilt_y": round(math.degrees(ay), 2),
        "turn": round(math.degrees(az), 2),
    }
    return projected, params


def _background(rng: np.random.Generator, kind: str, size: tuple[int, int]) -> np.ndarray:
    """An H×W×3 float background in [0, 1]."""
    w, h = size
    noise = rng.standard_normal((h, w)).astype(np.float32)
    if kind == "dark":
        base = np.array(rng.uniform(0.08, 0.25, 3), np.float32)
        grain = cv2.GaussianBlur(noise, (0, 0), 2.0) * 0.03
        return np.clip(base[None, None, :] * (1 + grain[..., None] * 3) + grain[..., None], 0, 1)
    if kind == "wood":
        # Grain: stretched noise along a random direction, brown tones.
        angle = rng.uniform(-20, 20)
        stretched = cv2.GaussianBlur(noise, (0, 0), sigmaX=40.0, sigmaY=1.5)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        stretched = cv2.warpAffine(stretched, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        stretched /= max(float(np.abs(stretched).max()), 1e-6)
        tone = np.array([0.55, 0.36, 0.2], np.float32) * rng.uniform(0.6, 1.0)
        return np.clip(tone[None, None, :] * (1 + 0.35 * stretched[..., None]), 0, 1)
    if kind == "coloured":
        hues = [(0.15, 0.3, 0.6), (0.2, 0.5, 0.3), (0.65, 0.2, 0.2), (0.5, 0.45, 0.15)]
        base = np.array(hues[int(rng.integers(len(hues)))], np.float32)
        weave = cv2.GaussianBlur(noise, (0, 0), 1.0) * 0.04
        return np.clip(base[None, None, :] + weave[..., None], 0, 1)
    raise ValueError(f"unknown background {kind!r}; known: {', '.join(BACKGROUNDS)}")


def photograph(
    page: RenderedPage | Image.Image,
    *,
    seed: int = 0,
    background: str | None = None,
    max_tilt: float = 25.0,
    max_turn: float = 12.0,
    coverage: tuple[float, float] = (0.45, 0.7),
    light: bool = True,
    blur: tuple[float, float] = (0.5, 1.2),
    jpeg: tuple[int, int] = (65, 90),
) -> Photo:
    """A phone photo of ``page`` (see the module docstring). ``coverage``: the share
    of the photo the page's quadrilateral covers (drawn in this range)."""
    rng = np.random.default_rng([int(seed), 7021])
    if isinstance(page, RenderedPage):
        clean, text, words = page.image, page.text, page.words
    else:
        clean, text, words = page, None, []
    gray = np.asarray(clean.convert("L"), np.float32) / 255.0
    ph, pw = gray.shape
    projected, params = _camera(rng, (pw, ph), max_tilt, max_turn)
    # Photo size: the page's projection covers `coverage` of it, at about the page's
    # own resolution (text keeps its size where it is nearest).
    share = rng.uniform(*coverage)
    quad_area = cv2.contourArea(projected.astype(np.float32))
    span = projected.max(axis=0) - projected.min(axis=0)
    photo_area = quad_area / share
    aspect = 3 / 4 if span[0] < span[1] else 4 / 3
    photo_w = math.sqrt(photo_area * aspect)
    photo_h = photo_area / photo_w
    photo_w = max(photo_w, span[0] * 1.06)
    photo_h = max(photo_h, span[1] * 1.06)
    size = (round(photo_w), round(photo_h))
    free = np.array(size, np.float64) - span
    offset = -projected.min(axis=0) + free * rng.uniform(0.25, 0.75, 2)
    quad = projected + offset
    rect = np.array([(0, 0), (pw, 0), (pw, ph), (0, ph)], np.float32)
    h = cv2.getPerspectiveTransform(rect, quad.astype(np.float32)).astype(np.float64)
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
    back = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], np.float64)
    centred = back @ h @ shift  # pixel-centre convention for OpenCV
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    params.update({"background": kind, "coverage": round(share, 3)})
    ink, paper = rng.uniform(0.08, 0.18), rng.uniform(0.86, 0.95)
    levels = ink + (paper - ink) * gray
    warped = cv2.warpPerspective(levels, centred, size, flags=cv2.INTER_AREA)
    # Coverage of each photo pixel by the page (anti-aliased edges).
    mask = cv2.warpPerspective(np.ones_like(gray), centred, size, flags=cv2.INTER_LINEAR)
    scene = _background(rng, kind, size)
    scene = scene * (1 - mask[..., None]) + warped[..., None] * mask[..., None]
    if light:
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
        yy /= size[1]
        xx /= size[0]
        theta = rng.uniform(0, 2 * math.pi)
        ramp = (xx - 0.5) * math.cos(theta) + (yy - 0.5) * math.sin(theta)
        slope = rng.uniform(0.1, 0.35)
        field_ = 1.0 - slope * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        cx, cy = rng.uniform(0.3, 0.7, 2)
        field_ *= 1.0 - rng.uniform(0.05, 0.25) * ((xx - cx) ** 2 + (yy - cy) ** 2)
        if rng.random() < 0.5:
            phi = rng.uniform(0, 2 * math.pi)
            px, py = rng.uniform(0.2, 0.8, 2)
            dist = (xx - px) * math.cos(phi) + (yy - py) * math.sin(phi)
            field_ *= 1.0 - rng.uniform(0.15, 0.35) / (1.0 + np.exp(-dist / 0.05))
        scene *= field_[..., None]
        params["light_slope"] = round(slope, 3)
    warm = rng.random() < 0.6
    gains = (1.0, 0.94, 0.8) if warm else (0.92, 0.97, 1.0)
    scene *= np.array(gains, np.float32)[None, None, :]
    sigma = rng.uniform(*blur)
    scene = cv2.GaussianBlur(scene.astype(np.float32), (0, 0), sigma)
    scene += rng.standard_normal(scene.shape).astype(np.float32) * 0.012
    quality = int(rng.integers(jpeg[0], jpeg[1] + 1))
    params.update({"blur_sigma": round(sigma, 3), "jpeg_quality": quality})
    pixels = np.clip(scene * 255 + 0.5, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    image = Image.open(buffer)
    image.load()
    image = image.convert("RGB")

    def mapped(points: list[Point]) -> list[Point]:
        p = np.asarray(points, np.float64)
        q = p @ h[:, :2].T + h[:, 2]
        return [(float(x), float(y)) for x, y in q[:, :2] / q[:, 2:3]]

    quad_points = [(float(x), float(y)) for x, y in quad]
    word_quads = [
        (
            w.text,
            mapped(
                [
                    (w.box[0], w.box[1]),
                    (w.box[2], w.box[1]),
                    (w.box[2], w.box[3]),
                    (w.box[0], w.box[3]),
                ]
            ),
        )
        for w in words
    ]
    return Photo(
        image=image, quad=quad_points, homography=h, text=text, words=word_quads, params=params
    )
