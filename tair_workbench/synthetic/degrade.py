"""A model of how document images degrade: named kinds, deterministic per seed.

Each kind is a function of (clean page, seed) that returns an RGB ``uint8`` image. Most
kinds keep the clean page's pixel size; the resolution kinds (``lowres_75dpi``,
``lowres_jpeg``, sometimes ``mixed``) return a smaller image and its new DPI. Every
result carries the geometric transform from clean to degraded pixels (a scale, or a
slight rotation for ``scan``), so ground-truth word boxes map onto the degraded image::

    page = render_page(seed=7)
    bad = degrade(page, "lowres_75dpi", seed=7)
    bad.dpi           # 75.0
    bad.words[0].box  # the first word's box in bad.image pixels

Parameters are drawn from ranges per kind (see each function's docstring; pixel sizes are
given at 300 dpi and scale with the page's DPI) and recorded in :attr:`Degraded.params`.
The generator is seeded with ``(seed, crc32(kind))``, so the same seed gives identical
bytes and different kinds draw independent parameters. The work is vectorised
(NumPy/OpenCV); an A4 page at 300 dpi takes well under a second per kind.

Colour in the input is dropped (degradations start from luminance); ``shaded_photo``
and some ``mixed`` chains add a colour cast of their own.

Ranges (pixel sizes at 300 dpi). They were widened towards what users bring (heavier
camera shake and defocus, small print, lower resolution); the earlier values are in
brackets. ``render_hints`` are body sizes :func:`synthesize` (and the benchmarks) use.

=============  ==========================================================================
kind           ranges
=============  ==========================================================================
clean          none
scan           skew ±0.5°, blur σ 0.4-0.9 px, paper 0.80-0.92, noise σ 1-3 %, JPEG q 70-90
shaded_photo   blur σ 0.6-1.4 px, light gradient 5-30 %, shadow 15-40 %, JPEG q 55-85
lowres_75dpi   75 dpi; blur σ 0.3-1.2 px [0.3-0.8] before and 0.2-0.7 low-res px
               [0.2-0.5] after; print 8-11 pt [any]
defocus        pillbox radius 2-6 px [1.5-3]
motion_blur    8-20 px [5-12] within ±6° [±4°] of horizontal
noise          σ 6-16 %
faded_ink      strokes thinned 1-2 px, ink 0.40-0.62
jpeg           q 10-25
lowres_jpeg    60 dpi, JPEG q 15-30, print 8-10 pt
fax            204 × 196 or 204 × 98 dpi, 1 bit
mixed          random chain: motion 3-14 px [3-9], downsampling to 75-300 dpi [100-300]
small_print    (new) print 8-10 pt at 65-100 dpi, blur σ 0.3-1.0 px, grey levels,
               noise σ 0.5-2 %, JPEG q 30-75
=============  ==========================================================================
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from tair_ocr.errors import UsageError
from tair_ocr.geometry import Affine
from tair_ocr.results import BBox
from tair_workbench.synthetic.render import RenderedPage, WordBox, render_page

__all__ = ["ALIASES", "DEGRADATION_KINDS", "DegradationKind", "Degraded", "degrade", "synthesize"]

Params = dict[str, object]


@dataclass
class _Out:
    """What a kind function returns: pixels in [0, 1] (H×W or H×W×3), and geometry."""

    array: np.ndarray
    #: Clean pixels -> output pixels (edge coordinates: (0, 0) is the top-left corner).
    transform: Affine = field(default_factory=Affine)


KindFunc = Callable[[np.ndarray, np.random.Generator, float, Params], _Out]


@dataclass(frozen=True)
class DegradationKind:
    """A registered degradation: its name, a one-line description and its function."""

    name: str
    description: str
    func: KindFunc
    #: True when the output has fewer pixels (and a lower DPI) than the clean page.
    changes_resolution: bool = False
    #: ``render_page`` options this kind is meant for, as ``(low, high)`` ranges that
    #: :func:`synthesize` draws from (e.g. small print for ``lowres_jpeg``).
    render_hints: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Degraded:
    """A degraded page image and how it relates to the clean page.

    ``transform`` maps clean-page pixel coordinates to ``image`` pixel coordinates;
    ``text``, ``words`` (with boxes already mapped into ``image``) and ``clean`` are set
    when :func:`degrade` was given a :class:`~tair_workbench.synthetic.render.RenderedPage`.
    """

    image: Image.Image
    dpi: float
    kind: str
    seed: int
    clean_dpi: float
    transform: Affine
    params: Params = field(default_factory=dict)
    text: str | None = None
    words: list[WordBox] | None = None
    #: The clean page it came from (for restorer training pairs), when known.
    clean: RenderedPage | None = None

    @property
    def scale(self) -> float:
        """Degraded pixels per clean pixel (``box_degraded ≈ box_clean * scale``)."""
        return self.dpi / self.clean_dpi

    @property
    def scale_to_clean(self) -> float:
        """Clean pixels per degraded pixel (``box_clean ≈ box_degraded * scale_to_clean``)."""
        return self.clean_dpi / self.dpi

    def map_box(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """A clean-page box ``(x0, y0, x1, y1)`` in degraded pixels (rounded outwards,
        clipped to the image)."""
        b = self.transform.box(BBox(x0=box[0], y0=box[1], x1=box[2], y1=box[3]))
        w, h = self.image.size
        return (
            max(0, math.floor(b.x0)),
            max(0, math.floor(b.y0)),
            min(w, math.ceil(b.x1)),
            min(h, math.ceil(b.y1)),
        )


# ------------------------------------------------------------------ building blocks


def _u(rng: np.random.Generator, lo: float, hi: float, params: Params, name: str) -> float:
    """Draw ``U[lo, hi)`` and record it."""
    value = float(rng.uniform(lo, hi))
    params[name] = round(value, 4)
    return value


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.05:
        return a
    return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _filter(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(a, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT)


def _disk_kernel(radius: float) -> np.ndarray:
    """A defocus (pillbox) kernel with anti-aliased rim, normalised to sum 1."""
    r = max(radius, 0.5)
    half = math.ceil(r)
    sub = 8  # sub-samples per pixel for the rim coverage
    coords = (np.arange((2 * half + 1) * sub) + 0.5) / sub - (half + 0.5)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    inside = (xx**2 + yy**2 <= r * r).astype(np.float32)
    kernel = inside.reshape(2 * half + 1, sub, 2 * half + 1, sub).mean(axis=(1, 3))
    return kernel / kernel.sum()


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A linear motion kernel of ``length`` pixels at ``angle_deg`` (0 = horizontal)."""
    half = math.ceil(length / 2) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float32)
    t = np.linspace(-length / 2, length / 2, max(2, int(length * 8)))
    xs = half + t * math.cos(math.radians(angle_deg))
    ys = half - t * math.sin(math.radians(angle_deg))
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    # Bilinear splat of points along the segment: sub-pixel lengths and angles.
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (y0 + dy, x0 + dx), w.astype(np.float32))
    return kernel / kernel.sum()


def _resize(a: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    return cv2.resize(a, size, interpolation=interp)


def _to_u8(a: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8, rounded and saturated."""
    # convertScaleAbs rounds and saturates in one fast pass; negatives are clipped first
    # because it takes the absolute value.
    return cv2.convertScaleAbs(np.maximum(a, 0.0, dtype=np.float32), alpha=255.0)


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip (4:2:0 for colour) of a [0, 1] image."""
    u8 = _to_u8(a)
    if u8.ndim == 3:
        u8 = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 arrays
        raise RuntimeError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    return out.astype(np.float32) / 255.0


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth random field of unit standard deviation with ~``cells`` bumps across."""
    h, w = shape
    ch = max(2, round(cells * h / max(h, w)))
    cw = max(2, round(cells * w / max(h, w)))
    small = rng.standard_normal((ch, cw)).astype(np.float32)
    field_ = _resize(small, (w, h), cv2.INTER_CUBIC)
    std = float(field_.std())
    return field_ / std if std > 0 else field_


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise; for H×W×3 shapes, full-resolution luminance noise plus blotchier
    half-resolution chroma noise, as a camera pipeline leaves it (and half the cost of
    three full planes)."""
    luma = rng.standard_normal(shape[:2], dtype=np.float32)
    luma *= np.float32(sigma)
    if len(shape) == 2:
        return luma
    h, w = shape[:2]
    chroma = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32)
    chroma = _resize(chroma, (w, h), cv2.INTER_LINEAR) * np.float32(sigma * 0.8)
    return chroma + luma[:, :, None]


def _levels(a: np.ndarray, ink: float, paper: float) -> np.ndarray:
    """Map black 0 / white 1 to ``ink`` / ``paper`` reflectance."""
    return a * np.float32(paper - ink) + np.float32(ink)


def _downscale(
    a: np.ndarray, dpi: float, target_dpi: float, interp: int
) -> tuple[np.ndarray, Affine]:
    """Resample to ``target_dpi`` (never up); the transform holds the exact factors."""
    h, w = a.shape[:2]
    factor = min(1.0, target_dpi / dpi)
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    if (nw, nh) == (w, h):
        return a, Affine()
    return _resize(a, (nw, nh), interp), Affine.scaling(nw / w, nh / h)


def _rotate(a: np.ndarray, degrees: float, fill: float) -> tuple[np.ndarray, Affine]:
    """Rotate about the page centre, same size; the transform is in edge coordinates."""
    h, w = a.shape[:2]
    edge = Affine.rotation(degrees, center=(w / 2, h / 2))
    # OpenCV addresses pixel centres; shift by half a pixel on both sides.
    m = Affine.translation(-0.5, -0.5) @ edge @ Affine.translation(0.5, 0.5)
    matrix = np.array([[m.a, m.b, m.c], [m.d, m.e, m.f]], np.float64)
    out = cv2.warpAffine(
        a,
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(fill),
    )
    return out, edge


def _k(dpi: float) -> float:
    """Pixel sizes below are given at 300 dpi; this converts them to the page's DPI."""
    return dpi / 300.0


# ------------------------------------------------------------------ kinds


def _clean(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """No change (the reference row of every benchmark)."""
    return _Out(a)


def _scan(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A mediocre flatbed scan or photocopy: skew within ±0.5°, optics blur σ 0.4-0.9 px,
    grey paper (0.80-0.92) and grey-black toner, slightly uneven background, sensor noise
    σ 1-3 %, a few dust specks, JPEG q 70-90."""
    k = _k(dpi)
    a = _blur(a, _u(rng, 0.4, 0.9, p, "blur_sigma") * k)
    paper = _u(rng, 0.80, 0.92, p, "paper")
    a = _levels(a, _u(rng, 0.04, 0.18, p, "ink"), paper)
    unevenness = _u(rng, 0.0, 0.04, p, "unevenness")
    a = a * (1.0 + unevenness * _smooth_field(rng, a.shape, 5))
    a, transform = _rotate(a, _u(rng, -0.5, 0.5, p, "skew_deg"), paper)
    a = a + _noise(rng, a.shape, _u(rng, 0.01, 0.03, p, "noise_sigma"))
    # Dust: sparse dark specks a pixel or two across.
    n_specks = int(rng.integers(0, 40) * a.size / 8.7e6)
    ys, xs = rng.integers(0, a.shape[0], n_specks), rng.integers(0, a.shape[1], n_specks)
    specks = np.zeros_like(a)
    specks[ys, xs] = 1.0
    specks = _blur(specks, 0.8 * k) * (2 * math.pi * (0.8 * k) ** 2)
    a = a - 0.6 * np.clip(specks, 0, 1)
    p["specks"] = n_specks
    quality = int(rng.integers(70, 91))
    p["jpeg_quality"] = quality
    return _Out(_jpeg(np.clip(a, 0, 1), quality), transform)


def _shaded_photo(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A phone photo of a flat page: lens blur σ 0.6-1.4 px, uneven light (gradient,
    vignette, often a soft shadow edge), a warm or cool colour cast, paper texture,
    colour sensor noise and JPEG q 55-85."""
    k = _k(dpi)
    h, w = a.shape
    a = _blur(a, _u(rng, 0.6, 1.4, p, "blur_sigma") * k)
    a = _levels(a, _u(rng, 0.08, 0.22, p, "ink"), _u(rng, 0.80, 0.94, p, "paper"))
    # Illumination is smooth: compute it on a coarse grid, then upsample.
    gh, gw = max(8, h // 8), max(8, w // 8)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    yy, xx = yy / (gh - 1), xx / (gw - 1)
    theta = _u(rng, 0, 2 * math.pi, p, "light_angle")
    slope = _u(rng, 0.05, 0.3, p, "light_gradient")
    ramp = (xx - 0.5) * math.cos(theta) + (yy - 0.5) * math.sin(theta)
    light = 1.0 - slope * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    cx, cy = rng.uniform(0.2, 0.8, 2)
    vignette = _u(rng, 0.05, 0.25, p, "vignette")
    light *= 1.0 - vignette * ((xx - cx) ** 2 + (yy - cy) ** 2)
    if rng.random() < 0.7:
        # A soft shadow edge (a hand or the phone) across part of the page.
        phi = rng.uniform(0, 2 * math.pi)
        px, py = rng.uniform(0.1, 0.9, 2)
        dist = (xx - px) * math.cos(phi) + (yy - py) * math.sin(phi)
        softness = _u(rng, 0.02, 0.12, p, "shadow_softness")
        depth = _u(rng, 0.15, 0.4, p, "shadow_depth")
        light *= 1.0 - depth / (1.0 + np.exp(-dist / softness))
    # The brightest spot gets full light; the darkest keeps at least 45 %.
    light = np.maximum(light / light.max(), 0.45)
    light = _resize(light.astype(np.float32), (w, h), cv2.INTER_LINEAR)
    texture = _resize(
        _blur(rng.standard_normal((h // 3 + 1, w // 3 + 1)).astype(np.float32), 1.0),
        (w, h),
        cv2.INTER_LINEAR,
    )
    a = a * light * (1.0 + _u(rng, 0.02, 0.06, p, "texture") * texture)
    warm = rng.random() < 0.6
    p["cast"] = "warm" if warm else "cool"
    if warm:  # tungsten / evening light
        gains = (1.0, _u(rng, 0.90, 0.97, p, "gain_g"), _u(rng, 0.72, 0.88, p, "gain_b"))
    else:  # shade / daylight through a window
        gains = (_u(rng, 0.88, 0.96, p, "gain_r"), _u(rng, 0.95, 1.0, p, "gain_g"), 1.0)
    rgb = a[:, :, None] * np.array(gains, np.float32)[None, None, :]
    rgb += _noise(rng, rgb.shape, _u(rng, 0.008, 0.025, p, "noise_sigma"))
    quality = int(rng.integers(55, 86))
    p["jpeg_quality"] = quality
    return _Out(_jpeg(np.clip(rgb, 0, 1), quality))


def _lowres_75dpi(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A 75 dpi scan of 8-11 pt print: optics blur σ 0.3-1.2 px, area (60 %) or
    bilinear (aliasing) downsampling to 75 dpi, then blur σ 0.2-0.7 low-res px."""
    a = _blur(a, _u(rng, 0.3, 1.2, p, "pre_blur_sigma") * _k(dpi))
    area = rng.random() < 0.6
    p["interpolation"] = "area" if area else "bilinear"
    a, transform = _downscale(a, dpi, 75.0, cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    return _Out(_blur(a, _u(rng, 0.2, 0.7, p, "post_blur_sigma")), transform)


def _defocus(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Out of focus: a pillbox of radius 2-6 px (at 300 dpi), softened by σ 0.3 px."""
    k = _k(dpi)
    a = _filter(a, _disk_kernel(_u(rng, 2.0, 6.0, p, "radius") * k))
    return _Out(_blur(a, 0.3 * k))


def _motion_blur(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Camera shake: linear motion of 8-20 px (at 300 dpi) within ±6° of horizontal."""
    length = _u(rng, 8.0, 20.0, p, "length") * _k(dpi)
    return _Out(_filter(a, _motion_kernel(length, _u(rng, -6.0, 6.0, p, "angle_deg"))))


def _noise_kind(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Sensor noise: Gaussian σ 6-16 %, grey or independent per channel (50/50)."""
    sigma = _u(rng, 0.06, 0.16, p, "sigma")
    colour = rng.random() < 0.5
    p["colour"] = colour
    shape = (*a.shape, 3) if colour else a.shape
    base = a[:, :, None] if colour else a
    return _Out(np.clip(base + _noise(rng, shape, sigma), 0, 1))


def _faded_ink(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Faded print: strokes thinned by 1-2 px (at 300 dpi), grey ink (0.40-0.62) that
    fades unevenly across the page, slight blur and noise."""
    k = _k(dpi)
    size = max(1, round((2 if rng.random() < 0.75 else 3) * k))
    p["thinning_px"] = size - 1
    if size > 1:
        # Growing the white (dilation) eats into the dark strokes.
        a = cv2.dilate(a, np.ones((size, size), np.uint8))
    ink = _u(rng, 0.40, 0.62, p, "ink")
    paper = _u(rng, 0.88, 1.0, p, "paper")
    fade = _u(rng, 0.03, 0.12, p, "fade_variation")
    ink_map = np.clip(ink + fade * _smooth_field(rng, a.shape, 6), 0.3, 0.9)
    a = a * (paper - ink_map) + ink_map
    a = _blur(a, 0.5 * k)
    return _Out(np.clip(a + _noise(rng, a.shape, _u(rng, 0.005, 0.02, p, "noise_sigma")), 0, 1))


def _jpeg_kind(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Heavy JPEG compression, quality 10-25."""
    quality = int(rng.integers(10, 26))
    p["jpeg_quality"] = quality
    return _Out(_jpeg(a, quality))


def _lowres_jpeg(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A thumbnail-sized web image: area downsampling to 60 dpi, then JPEG q 15-30."""
    a, transform = _downscale(a, dpi, 60.0, cv2.INTER_AREA)
    quality = int(rng.integers(15, 31))
    p["jpeg_quality"] = quality
    return _Out(_jpeg(a, quality), transform)


def _fax(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A received fax: sampled at 204 × 196 dpi ("fine", 60 %) or 204 × 98 dpi
    ("standard"), thresholded after noise (ragged edges), black specks, white
    drop-outs, sometimes streaks; shown 1-bit at the clean page's size and DPI."""
    h, w = a.shape
    fine = rng.random() < 0.6
    p["mode"] = "fine" if fine else "standard"
    vdpi = 196.0 if fine else 98.0
    a = _blur(a, _u(rng, 0.3, 0.8, p, "pre_blur_sigma") * _k(dpi))
    fw, fh = max(1, round(w * min(1.0, 204.0 / dpi))), max(1, round(h * min(1.0, vdpi / dpi)))
    a = _resize(a, (fw, fh), cv2.INTER_AREA)
    a = a + _noise(rng, a.shape, _u(rng, 0.04, 0.12, p, "noise_sigma"))
    bits = a > _u(rng, 0.45, 0.65, p, "threshold")  # True = white
    bits &= rng.random(bits.shape, dtype=np.float32) >= _u(rng, 2e-4, 2e-3, p, "pepper")
    bits |= rng.random(bits.shape, dtype=np.float32) < _u(rng, 0.0, 0.01, p, "salt")
    if rng.random() < 0.4:
        # Line errors in transmission: short black streaks along a scan row.
        for _ in range(int(rng.integers(1, 4))):
            y = int(rng.integers(0, fh))
            x0 = int(rng.integers(0, fw))
            bits[y, x0 : x0 + int(rng.integers(fw // 20 + 1, fw // 3 + 2))] = False
    out = _resize(bits.astype(np.float32), (w, h), cv2.INTER_NEAREST)
    return _Out(out)


def _mixed(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """A random chain for training data: grey levels, one blur (Gaussian σ 0.5-2 px,
    defocus radius 1-2.5 px, motion 3-14 px or none), optional fading, optional
    downsampling to 75-300 dpi, optional uneven light with a colour cast, optional
    noise and optional JPEG q 20-90."""
    k = _k(dpi)
    steps: list[str] = []
    a = _levels(a, _u(rng, 0.0, 0.25, p, "ink"), _u(rng, 0.8, 1.0, p, "paper"))
    blur = ("none", "gaussian", "defocus", "motion")[int(rng.choice(4, p=[0.2, 0.35, 0.25, 0.2]))]
    if blur == "gaussian":
        a = _blur(a, _u(rng, 0.5, 2.0, p, "blur_sigma") * k)
    elif blur == "defocus":
        a = _filter(a, _disk_kernel(_u(rng, 1.0, 2.5, p, "radius") * k))
    elif blur == "motion":
        length = _u(rng, 3.0, 14.0, p, "motion_length") * k
        a = _filter(a, _motion_kernel(length, _u(rng, -10.0, 10.0, p, "motion_angle")))
    if blur != "none":
        steps.append(blur)
    if rng.random() < 0.25:
        steps.append("faded")
        contrast = _u(rng, 0.4, 0.8, p, "fade_contrast")
        a = 1.0 - (1.0 - a) * contrast
    transform = Affine()
    if rng.random() < 0.5:
        steps.append("downsample")
        interp = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(3))]
        a, transform = _downscale(a, dpi, _u(rng, 75.0, 300.0, p, "target_dpi"), interp)
    if rng.random() < 0.4:
        steps.append("light")
        field_ = _smooth_field(rng, a.shape, 3)
        a = a * (
            1.0
            - _u(rng, 0.05, 0.25, p, "light_variation")
            * (field_ - field_.min())
            / max(float(np.ptp(field_)), 1e-6)
        )
        gains = np.array([1.0, *rng.uniform(0.85, 1.0, 2)], np.float32)[rng.permutation(3)]
        a = a[:, :, None] * gains[None, None, :]
    if rng.random() < 0.6:
        steps.append("noise")
        a = a + _noise(rng, a.shape, _u(rng, 0.01, 0.08, p, "noise_sigma"))
    a = np.clip(a, 0, 1)
    if rng.random() < 0.7:
        steps.append("jpeg")
        quality = int(rng.integers(20, 91))
        p["jpeg_quality"] = quality
        a = _jpeg(a, quality)
    p["steps"] = "+".join(steps) or "levels"
    return _Out(a, transform)


def _small_print(a: np.ndarray, rng: np.random.Generator, dpi: float, p: Params) -> _Out:
    """Small print (8-10 pt) captured at low resolution: optics blur σ 0.3-1.0 px,
    grey paper (0.82-0.95) and ink (0.05-0.25), area (60 %) or bilinear sampling at
    65-100 dpi, sensor noise σ 0.5-2 %, JPEG q 30-75."""
    a = _blur(a, _u(rng, 0.3, 1.0, p, "pre_blur_sigma") * _k(dpi))
    a = _levels(a, _u(rng, 0.05, 0.25, p, "ink"), _u(rng, 0.82, 0.95, p, "paper"))
    area = rng.random() < 0.6
    p["interpolation"] = "area" if area else "bilinear"
    target = _u(rng, 65.0, 100.0, p, "target_dpi")
    a, transform = _downscale(a, dpi, target, cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    a = a + _noise(rng, a.shape, _u(rng, 0.005, 0.02, p, "noise_sigma"))
    quality = int(rng.integers(30, 76))
    p["jpeg_quality"] = quality
    return _Out(_jpeg(np.clip(a, 0, 1), quality), transform)


def _kind(
    name: str,
    func: KindFunc,
    *,
    changes_resolution: bool = False,
    render_hints: dict[str, tuple[float, float]] | None = None,
) -> DegradationKind:
    description = " ".join((func.__doc__ or "").split())
    return DegradationKind(name, description, func, changes_resolution, render_hints or {})


#: The registered kinds, in a fixed order: benchmarks derive seeds from the position,
#: so new kinds are appended, never inserted.
DEGRADATION_KINDS: dict[str, DegradationKind] = {
    k.name: k
    for k in (
        _kind("clean", _clean),
        _kind("scan", _scan),
        _kind("shaded_photo", _shaded_photo),
        _kind(
            "lowres_75dpi",
            _lowres_75dpi,
            changes_resolution=True,
            render_hints={"font_pt": (8.0, 11.0)},
        ),
        _kind("defocus", _defocus),
        _kind("motion_blur", _motion_blur),
        _kind("noise", _noise_kind),
        _kind("faded_ink", _faded_ink),
        _kind("jpeg", _jpeg_kind),
        _kind(
            "lowres_jpeg",
            _lowres_jpeg,
            changes_resolution=True,
            render_hints={"font_pt": (8.0, 10.0)},
        ),
        _kind("fax", _fax),
        _kind("mixed", _mixed, changes_resolution=True),
        _kind(
            "small_print",
            _small_print,
            changes_resolution=True,
            render_hints={"font_pt": (8.0, 10.0)},
        ),
    )
}

#: Short names accepted by :func:`degrade` and the command line.
ALIASES: dict[str, str] = {
    "blur": "defocus",
    "photo": "shaded_photo",
    "lowres": "lowres_75dpi",
    "motion": "motion_blur",
    "faded": "faded_ink",
    "small": "small_print",
}


def _resolve_kind(kind: str) -> DegradationKind:
    name = ALIASES.get(kind, kind)
    if name not in DEGRADATION_KINDS:
        raise UsageError(
            f"unknown degradation kind {kind!r}; known: {', '.join(DEGRADATION_KINDS)}"
        )
    return DEGRADATION_KINDS[name]


def degrade(
    source: RenderedPage | Image.Image,
    kind: str,
    *,
    seed: int = 0,
    dpi: float | None = None,
) -> Degraded:
    """Degrade a clean page deterministically.

    :param source: a :class:`RenderedPage` (its text and word boxes are carried over,
        mapped into the degraded image) or any PIL image (converted to luminance).
    :param kind: a name from :data:`DEGRADATION_KINDS` or :data:`ALIASES`.
    :param seed: a non-negative integer; the same ``(source, kind, seed)`` gives
        byte-identical output.
    :param dpi: the clean page's resolution; default the page's DPI, or the image's DPI
        tag, or 300.
    :returns: a :class:`Degraded` with an RGB ``uint8`` image.
    :raises UsageError: on an unknown kind, a bad seed or DPI, or an unsupported source.
    """
    spec = _resolve_kind(kind)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, not {seed!r}")
    if isinstance(source, RenderedPage):
        image, text, words = source.image, source.text, source.words
        clean_dpi = float(dpi or source.dpi)
    elif isinstance(source, Image.Image):
        image, text, words = source, None, None
        tag = source.info.get("dpi")
        clean_dpi = float(dpi or (tag[0] if tag and tag[0] and tag[0] > 1 else 300.0))
    else:
        raise UsageError(
            f"degrade() needs a RenderedPage or a PIL image, not {type(source).__name__}"
        )
    if not 30 <= clean_dpi <= 1200:
        raise UsageError(f"dpi {clean_dpi} is out of range (30 to 1200)")

    gray = np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)
    rng = np.random.default_rng([int(seed), zlib.crc32(spec.name.encode())])
    params: Params = {}
    out = spec.func(gray, rng, clean_dpi, params)
    pixels = _to_u8(out.array)
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    result_image = Image.fromarray(pixels, "RGB")
    sx = result_image.width / image.width
    out_dpi = clean_dpi * sx if spec.changes_resolution else clean_dpi
    result = Degraded(
        image=result_image,
        dpi=out_dpi,
        kind=spec.name,
        seed=int(seed),
        clean_dpi=clean_dpi,
        transform=out.transform,
        params=params,
        text=text,
    )
    if isinstance(source, RenderedPage):
        result.clean = source
    if words is not None:
        result.words = [WordBox(w.text, result.map_box(w.box), w.line) for w in words]
    return result


def synthesize(kind: str, seed: int, **render: Any) -> Degraded:
    """Render a page suited to ``kind`` and degrade it, both from ``seed``.

    The kind's :attr:`~DegradationKind.render_hints` are drawn from the seed (body sizes
    in half points) unless ``render`` sets them; other ``render`` options go to
    :func:`~tair_workbench.synthetic.render.render_page`. Same arguments, same bytes.
    """
    spec = _resolve_kind(kind)
    rng = np.random.default_rng([int(seed), zlib.crc32(b"hints:" + spec.name.encode())])
    options: dict[str, Any] = {}
    for key, (low, high) in spec.render_hints.items():
        options[key] = round(float(rng.uniform(low, high)) * 2) / 2
    options.update(render)
    return degrade(render_page(seed, **options), spec.name, seed=seed)
