"""Camera shake: a linear motion blur measured on the page, and undone.

A page photographed while the camera moved is smeared the same way everywhere: it is
convolved with a short line segment (the *kernel*). The segment's spectrum is a sinc
whose zeros repeat every ``1/L`` cycles per pixel along its direction, so the log
power spectrum of the page has a comb of dips, and its *cepstrum* (the inverse
transform of the log power spectrum) a sharp negative peak at distance ``L`` from
the origin, in the direction of the motion. Text makes no such peak (its
periodicities, the letter pitch and the line spacing, make positive ones); neither do
defocus (rings), noise or a sharp page.

:func:`estimate_motion_blur` averages the log power spectrum over windowed patches
of the page that hold ink (the content's spectrum varies from patch to patch, the
blur's does not), takes the most negative point of the cepstrum in a ring around its
origin, and keeps it only where it stands out from the ring: the blur's length,
angle and strength. :func:`deblur` undoes the blur with a Wiener filter.

OCR engines trained on sharp print guess at motion-blurred text, and a restorer
trained on many kinds of degradation only sharpens it; the same text deconvolved
with the kernel measured on the page reads like a sharp page. The pipeline re-reads
the unsure regions of such a page deconvolved (:meth:`tair_ocr.pipeline.Pipeline`,
``decision.deblurred`` in the JSON) and fusion keeps what is more likely right.

Plain numpy and OpenCV, no model: it runs wherever the pipeline does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "MotionBlur",
    "anisotropy",
    "deblur",
    "deblur_image",
    "estimate_motion_blur",
    "motion_kernel",
]

#: Patches the spectrum is averaged over (pixels a side); the longest blur
#: measured is a sixth of it.
PATCH = 256
#: Blurs shorter than this (pixels) are not reported: they barely hurt reading, and
#: a fax's doubled rows look like a 2-3 px vertical blur.
MIN_LENGTH = 4.0
#: ... and how far the cepstral dip must stand out from its ring (robust z-score):
#: on the generator's pages, 88-164 with motion blur of 8-20 px, at most 44 on every
#: other kind (sharp, defocused, noisy, JPEG, low-resolution, shaded, faded) ...
MIN_STRENGTH = 60.0
#: ... and the page must be smeared along the blur and sharp across it
#: (:func:`anisotropy` at most this). On the generator's tuning pages: 0.30-0.49 with
#: motion blur of 8-17 px (0.61 on a check page with 5 px at 150 dpi), at least 0.65 on every
#: other kind (0.75 but for 60-dpi JPEGs, whose cepstral dip is under 20); 1.0 on a
#: page of sharp blocks, whose widths make a cepstral dip of their own.
MAX_ANISOTROPY = 0.7
#: Noise and JPEG fill the spectrum's zeros and weaken the dip (z-scores of 25-47
#: with noise of 4 % or JPEG quality 60 on 14-18 px of motion): a weaker dip
#: (:data:`WEAK_STRENGTH`) counts where the page is clearly smeared along it
#: (:data:`WEAK_ANISOTROPY`; 0.31-0.38 on those pages).
WEAK_STRENGTH = 20.0
WEAK_ANISOTROPY = 0.5
#: At most this many patches are averaged (spread over the page): plenty for a
#: stable spectrum, and a huge page costs no more than a big one.
MAX_PATCHES = 48
#: The cepstral dip lies about this much beyond the length of the motion (pixels):
#: 0.24-0.38 on all but one of the generator's eight motion-blurred tuning pages of
#: 8-17 px, and RapidOCR reads those pages deconvolved with a kernel this much
#: shorter than the dip better than with one as long (CER 0.28 against 0.40 %; 13.19 %
#: as loaded; 0.31 % once the direction was refined to 0.1°).
LENGTH_BIAS = 0.3
#: Rows of a page deconvolved at once (see :func:`deblur`).
BAND = 1024
#: Wiener filter: the noise-to-signal power ratio assumed (regularisation).
NOISE_TO_SIGNAL = 0.01


@dataclass(frozen=True)
class MotionBlur:
    """A linear motion blur measured on a page."""

    #: Length of the motion, in pixels of the page it was measured on.
    length: float
    #: Direction of the motion in degrees, counter-clockwise from the page's x axis,
    #: in [-90, 90).
    angle: float
    #: How far the cepstral dip stands out from its ring (robust z-score; larger is
    #: surer).
    strength: float


def _patches(gray: np.ndarray, size: int) -> list[np.ndarray]:
    """Half-overlapping ``size`` patches that hold ink (a flat patch has no
    spectrum to speak of), at most :data:`MAX_PATCHES`, spread over the page."""
    h, w = gray.shape
    step = size // 2
    found = []
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            patch = gray[y : y + size, x : x + size]
            if float(patch.std()) >= 12.0:  # gray levels: text, not paper or noise
                found.append(patch)
    if len(found) > MAX_PATCHES:
        keep = np.linspace(0, len(found) - 1, MAX_PATCHES).round().astype(int)
        found = [found[i] for i in keep]
    return found


def _cepstrum(patches: list[np.ndarray]) -> np.ndarray:
    """The power cepstrum of the patches' mean log power spectrum, origin centred."""
    size = patches[0].shape[0]
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    total = np.zeros((size, size), np.float64)
    for patch in patches:
        p = patch.astype(np.float32)
        p = (p - p.mean()) * window
        total += np.log(np.abs(np.fft.fft2(p)) ** 2 + 1e-3)
    cepstrum = np.real(np.fft.ifft2(total / len(patches)))
    return np.fft.fftshift(cepstrum).astype(np.float32)


def estimate_motion_blur(
    gray: np.ndarray,
    *,
    min_length: float = MIN_LENGTH,
    min_strength: float = MIN_STRENGTH,
    max_anisotropy: float | None = MAX_ANISOTROPY,
) -> MotionBlur | None:
    """The linear motion blur of a page (H×W uint8 luminance), or None where none
    is found: too short, not standing out, the page not smeared along it
    (:func:`anisotropy` at most ``max_anisotropy``, or :data:`WEAK_ANISOTROPY` for a
    dip weaker than ``min_strength`` but at least :data:`WEAK_STRENGTH`; None: not
    checked, and only ``min_strength`` counts), or no inked patch to measure on."""
    size = PATCH if min(gray.shape) >= PATCH else 128
    if min(gray.shape) < size:
        return None
    patches = _patches(gray, size)
    if len(patches) < 2:
        return None
    cepstrum = _cepstrum(patches)
    angles = np.deg2rad(np.arange(-90.0, 90.0, 1.0))
    radii = np.arange(3.0, size / 6, 0.25)
    ring = _polar(cepstrum, angles, radii)
    i, j = np.unravel_index(int(np.argmin(ring)), ring.shape)
    beyond = ring[:, radii > radii[0] + 1]
    median = float(np.median(beyond))
    spread = 1.4826 * float(np.median(np.abs(beyond - median))) + 1e-9
    strength = (median - float(ring[i, j])) / spread
    angle = _refined_angle(cepstrum, float(angles[i]), float(radii[j]))
    length = _refined(cepstrum, angle, float(radii[j])) - LENGTH_BIAS
    angle = float(np.rad2deg(angle))
    if length < min_length or strength < min(min_strength, WEAK_STRENGTH):
        return None
    if max_anisotropy is not None:
        smear = anisotropy(gray, angle, patches)
        # A clear dip on a smeared page, or a weaker one on a clearly smeared page.
        if smear > (max_anisotropy if strength >= min_strength else WEAK_ANISOTROPY):
            return None
    elif strength < min_strength:
        return None
    return MotionBlur(length=length, angle=angle, strength=strength)


def anisotropy(gray: np.ndarray, angle: float, patches: list[np.ndarray] | None = None) -> float:
    """How much less steep the page's edges are along ``angle`` (degrees) than across
    it: on the pixels of its edges (a gray-level slope of at least half the page's
    contrast per 8 px, after a slight blur that keeps noise and JPEG blocks from
    counting as edges), the ratio of the 90th percentiles of the slope's components
    along and across. About 1 on a sharp page, whatever its shapes; a motion blur of
    ``L`` pixels flattens the edges along it to about 1/L. 1 where the page has too
    few edges to tell. Measured on ``patches`` of the page when given (a huge page
    costs no more than its patches), else on all of it."""
    import cv2

    low, high = np.percentile(gray[:: max(1, gray.shape[0] // 512)], [1, 99])
    edge = 0.5 * float(high - low)
    c, s = math.cos(math.radians(angle)), -math.sin(math.radians(angle))
    along: list[np.ndarray] = []
    across: list[np.ndarray] = []
    for part in patches if patches is not None else [gray]:
        smooth = cv2.GaussianBlur(part.astype(np.float32), (0, 0), 1.0)
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)  # 8x the slope per pixel
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
        edges = np.hypot(gx, gy) >= edge
        along.append(np.abs(gx * c + gy * s)[edges])
        across.append(np.abs(gx * s - gy * c)[edges])
    slopes_along, slopes_across = np.concatenate(along), np.concatenate(across)
    if slopes_along.size < 50:
        return 1.0
    steepest_across = float(np.percentile(slopes_across, 90))
    return float(np.percentile(slopes_along, 90)) / steepest_across if steepest_across else 1.0


def _polar(cepstrum: np.ndarray, angles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """The cepstrum at ``radii`` from its origin along ``angles`` (radians):
    len(angles) × len(radii), interpolated bilinearly."""
    import cv2

    centre = cepstrum.shape[0] // 2
    xs = centre + np.outer(np.cos(angles), radii)
    ys = centre - np.outer(np.sin(angles), radii)
    return cv2.remap(cepstrum, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR)


def _refined_angle(cepstrum: np.ndarray, angle: float, radius: float) -> float:
    """The dip's direction (radians) to a tenth of a degree: the deepest point within
    a degree of the whole-degree search, around its radius (at 30 px a degree moves
    the dip by half a pixel, which a deconvolution of a long blur feels)."""
    angles = angle + np.deg2rad(np.arange(-1.0, 1.05, 0.1))
    radii = radius + np.arange(-0.5, 0.55, 0.125)
    ring = _polar(cepstrum, angles, radii)
    return float(angles[int(np.argmin(ring.min(axis=1)))])


def _refined(cepstrum: np.ndarray, angle: float, radius: float) -> float:
    """The dip's distance to sub-pixel precision: a parabola through the cepstrum
    one pixel before, at and after it (the dip is sharp; a grid point is up to half
    a pixel off, which is a lot for a deconvolution)."""
    radii = np.array([radius - 1.0, radius, radius + 1.0])
    before, at, after = (float(v) for v in _polar(cepstrum, np.array([angle]), radii)[0])
    curvature = before - 2 * at + after
    if curvature <= 0:
        return radius
    return radius + max(-0.5, min(0.5, 0.5 * (before - after) / curvature))


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """The blur of a motion of ``length`` pixels at ``angle`` degrees: a strip one
    pixel wide and ``length`` long through the centre pixel, area-sampled at 8× per
    axis (sums to 1)."""
    half = math.ceil(length / 2) + 1
    size = 2 * half + 1
    up = 8
    # Supersample centres in pixels from the kernel's centre (y down, as images).
    offsets = (np.arange(size * up) + 0.5) / up - size / 2
    y, x = np.meshgrid(offsets, offsets, indexing="ij")
    c, s = math.cos(math.radians(angle)), -math.sin(math.radians(angle))
    along, across = x * c + y * s, x * s - y * c
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= 0.5)
    kernel = inside.reshape(size, up, size, up).mean(axis=(1, 3)).astype(np.float32)
    return kernel / kernel.sum()


def deblur(
    gray: np.ndarray, blur: MotionBlur, noise_to_signal: float = NOISE_TO_SIGNAL
) -> np.ndarray:
    """``gray`` (H×W uint8) with ``blur`` undone by a Wiener filter: uint8.

    The image is mirrored at its edges first, so a crop deconvolves without a frame
    of ringing, and filtered in bands of :data:`BAND` rows that overlap by the
    kernel's reach (the filter is local): a 64-Mpx page costs the memory of a band."""
    import cv2

    kernel = motion_kernel(blur.length, blur.angle)
    k = kernel.shape[0]
    pad = 2 * k
    h, w = gray.shape
    padded = cv2.copyMakeBorder(
        np.ascontiguousarray(gray, dtype=np.float32) / 255.0, pad, pad, pad, pad, cv2.BORDER_REFLECT
    )
    out = np.empty((h, w), np.uint8)
    transfers: dict[tuple[int, int], np.ndarray] = {}
    for top in range(0, h, BAND):
        rows = min(BAND, h - top)
        band = padded[top : top + rows + 2 * pad]
        shape = band.shape
        if shape not in transfers:
            # The kernel centred on the origin (wrapped round), as the filter needs it.
            spread = np.zeros(shape, np.float32)
            spread[:k, :k] = kernel
            spread = np.roll(spread, (-(k // 2), -(k // 2)), axis=(0, 1))
            transfer = np.fft.rfft2(spread)
            transfers[shape] = np.conj(transfer) / (np.abs(transfer) ** 2 + noise_to_signal)
        restored = np.fft.irfft2(np.fft.rfft2(band) * transfers[shape], s=shape)
        middle = restored[pad : pad + rows, pad : pad + w]
        out[top : top + rows] = np.clip(middle * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def deblur_image(
    image: Image.Image, blur: MotionBlur, gray: np.ndarray | None = None
) -> Image.Image:
    """A page image with ``blur`` undone, in the image's mode (deconvolved on its
    luminance: colour does not help reading, and it costs three filters). ``gray``
    is that luminance when already measured (a page's analysis has it)."""
    if gray is None:
        gray = np.asarray(image.convert("L"))
    out = Image.fromarray(deblur(gray, blur), mode="L")
    return out if image.mode == "L" else out.convert(image.mode)
