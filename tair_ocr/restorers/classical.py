"""The ``classical`` restorer: image processing without a model, on the CPU.

What it does to a page, in order:

1. **Binary pages** (fax, 1-bit scans) are detected on the whole page. Smoothing,
   stretching or sharpening can only thin or blur their strokes, so they only get
   **despeckled**: small ink specks far from any larger ink are removed.
2. **Denoising**, only when the page is noisy: an edge-preserving filter whose
   strength follows the page's noise level.
3. **Background normalisation**: the paper's brightness (shading, vignetting and
   shadows of phone photos, grey paper) is estimated with a grey-level closing, a max
   filter wider than any stroke followed by a box mean, and divided out.
4. **Contrast stretch**: the paper level measured on the page maps to white and,
   when the ink is faint, the ink level to black, so faded or grey ink becomes dark
   again (already dark ink is left alone: stretching blurred strokes merges letters).
5. **Sharpening** (off by default, see :data:`SHARPEN_AMOUNT`): an unsharp mask.

What must agree between tiles (binary or not, noise level, ink and paper levels, the
background filter size, the text size, the sharpening) is measured once per page in
:meth:`ClassicalRestorer.page_hint` (whether the page is binary comes with the page's
analysis, measured once for every stage); every tile is processed with those
parameters. The background itself is computed per tile from the tile's own pixels
(tiles carry no page position): a max filter only needs a neighbourhood, and shading
changes slowly enough that neighbouring tiles agree where the tile stage blends them.

Enlarging small text is the framework's working scale (it runs before tiling), so this
restorer works at scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tair_ocr.components import Availability, RestoredTiles, Restorer
from tair_ocr.hookspecs import hookimpl
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.working_scale import is_binary

__all__ = [
    "ClassicalRestorer",
    "PageParams",
    "analyze_page",
    "denoise_gray",
    "despeckle",
    "estimate_noise",
    "is_binary",
    "normalize_background",
    "restore_gray",
]

#: Luma weights (ITU-R BT.601), as Pillow's ``convert("L")`` uses.
_LUMA = (0.299, 0.587, 0.114)
#: Below this noise level (gray levels) a page is not denoised.
_NOISE_FLOOR = 3.0
#: Gray level faint ink is mapped to.
INK_TARGET = 0.0
#: Ink cores darker than this (fraction of paper) are not stretched.
INK_GATE = 0.25
#: Default unsharp-mask amount and sigma (px). Off: on the synthetic benchmark a mild
#: mask (0.5, 1 px) helped defocus pages by ~0.1 pp CER but cost as much on motion
#: blur, JPEG and upscaled low-resolution pages, and blur-adaptive or stronger masks
#: were worse. ``ClassicalRestorer(sharpen=0.5)`` turns it on.
SHARPEN_AMOUNT = 0.0
SHARPEN_SIGMA = 1.0


@dataclass(frozen=True)
class PageParams:
    """What :func:`analyze_page` measured on one page.

    Gray levels of ``ink_level``/``paper_level`` are fractions of the paper
    brightness (after background normalisation); sizes are working-image pixels.
    """

    #: The page is (almost) two-level: only despeckle it.
    binary: bool
    #: Estimated standard deviation of the noise, in 0-255 gray levels.
    noise_sigma: float
    #: Denoising strength in 0-255 gray levels (0: no denoising).
    denoise: float
    #: Typical height of a letter on the page (0 when no text was found).
    char_height: float
    #: Width of the max filter that estimates the paper background (odd).
    background_size: int
    #: Background-normalised levels mapped to black and to white.
    ink_level: float
    paper_level: float
    #: Unsharp-mask amount (0: none) and Gaussian sigma in pixels.
    sharpen_amount: float
    sharpen_sigma: float


class ClassicalRestorer(Restorer):
    """Background normalisation, denoising and contrast stretch on the CPU.

    A baseline without a model: deterministic, no weights, milliseconds per tile.
    Binary (fax-like) pages are only despeckled. ``sharpen`` (default
    :data:`SHARPEN_AMOUNT`, off) adds an unsharp mask of that amount and
    ``sharpen_sigma`` pixels. See the module docstring.

    The page measured by :meth:`page_hint` is instance state: one page at
    a time (the tile stage restores pages one after another in one thread).
    """

    name = "classical"
    description = "image processing without a model: shading, noise, faint ink, fax specks (CPU)"
    scale = 1
    #: Gray in, gray out: RGB pages reach it as luma.
    channels = 1
    batch_size = 8
    #: It turns paper white, so skipped (blank) tiles are written white too.
    blank_paper = 1.0

    def __init__(
        self, *, sharpen: float = SHARPEN_AMOUNT, sharpen_sigma: float = SHARPEN_SIGMA
    ) -> None:
        if sharpen < 0 or sharpen_sigma <= 0:
            raise ValueError("sharpen must be >= 0 and sharpen_sigma > 0")
        self.sharpen = float(sharpen)
        self.sharpen_sigma = float(sharpen_sigma)
        self._params: PageParams | None = None

    def availability(self) -> Availability:
        try:
            import cv2  # noqa: F401
        except ImportError:
            return Availability.no(
                "OpenCV is not installed", hint="pip install opencv-python-headless"
            )
        return Availability.yes()

    @property
    def page_params(self) -> PageParams | None:
        """What the last :meth:`page_hint` measured (None before any)."""
        return self._params

    def page_hint(self, page: PageAnalysis) -> None:
        """Measure the page once (on its luminance; binary or not as its analysis
        found); its tiles use the result."""
        self._params = self._analyze(page.gray, binary=page.is_binary)

    def _analyze(self, gray: np.ndarray, *, binary: bool | None = None) -> PageParams:
        params = analyze_page(gray, binary=binary)
        if params.binary:
            return params
        return replace(params, sharpen_amount=self.sharpen, sharpen_sigma=self.sharpen_sigma)

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        """Restore N×1×H×W float tiles in [0, 1] (N×3×H×W RGB tiles are turned to
        BT.601 luma first); returns N×1×H×W float32 gray.

        Without a page hint, each tile is measured on its own: consistent within
        a tile but not across tiles, so callers outside the tile stage still get
        a sensible result.
        """
        gray = _tiles_to_gray_uint8(tiles)
        out = np.empty(gray.shape, np.uint8)
        for i, tile in enumerate(gray):
            params = self._params if self._params is not None else self._analyze(tile)
            out[i] = restore_gray(tile, params)
        images = out[:, None].astype(np.float32)
        images /= 255.0
        return RestoredTiles(images=images, words=[[] for _ in range(len(out))])


def _tiles_to_gray_uint8(tiles: np.ndarray) -> np.ndarray:
    """N×1×H×W or N×3×H×W float tiles in [0, 1] -> N×H×W uint8 gray (rounded)."""
    if tiles.ndim != 4 or tiles.shape[1] not in (1, 3):
        raise ValueError(f"expected N×1×H×W or N×3×H×W tiles, got shape {tuple(tiles.shape)}")
    x = np.asarray(tiles, dtype=np.float32)
    if x.shape[1] == 3:
        gray = x[:, 0] * np.float32(_LUMA[0])
        gray += x[:, 1] * np.float32(_LUMA[1])
        gray += x[:, 2] * np.float32(_LUMA[2])
    else:
        gray = x[:, 0].copy()
    gray *= 255.0
    gray += 0.5
    np.clip(gray, 0, 255, out=gray)
    return gray.astype(np.uint8)


# ---------------------------------------------------------------------- analysis


def analyze_page(gray: np.ndarray, *, binary: bool | None = None) -> PageParams:
    """Measure a gray uint8 page: binary or not (``binary``, when already known:
    :func:`is_binary` of ``gray``), noise, text size, ink and paper levels."""
    import cv2

    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a non-empty H×W gray page, got shape {gray.shape}")
    if binary is None:
        binary = is_binary(gray)
    if binary:
        ink = gray < 128
        return PageParams(
            binary=True,
            noise_sigma=0.0,
            denoise=0.0,
            char_height=_char_height(ink, gray.shape[0]),
            background_size=0,
            ink_level=0.0,
            paper_level=1.0,
            sharpen_amount=0.0,
            sharpen_sigma=0.0,
        )
    sigma = estimate_noise(gray)
    denoise = float(min(25.0, 1.2 * sigma)) if sigma >= _NOISE_FLOOR else 0.0
    # Measuring needs no fine denoising: a median is enough, and fast on a full page.
    work = cv2.medianBlur(gray, 3) if denoise else gray

    # A first pass with a generic background size finds the ink and its size...
    rough = normalize_background(work, _odd(max(31, min(gray.shape) // 25)))
    char_height = _char_height(rough < _otsu(rough), gray.shape[0])
    # ... which sets the final size: wide enough that the max filter reaches paper
    # from every ink pixel (letters, bold strokes), narrow enough to follow shadows.
    size = 2.5 * char_height if char_height > 0 else 0.04 * min(gray.shape)
    background_size = _odd(int(np.clip(size, 21, 201)))
    normalized = normalize_background(work, background_size)
    ink_level, paper_level = _ink_and_paper(normalized)

    return PageParams(
        binary=False,
        noise_sigma=sigma,
        denoise=denoise,
        char_height=char_height,
        background_size=background_size,
        ink_level=ink_level,
        paper_level=paper_level,
        sharpen_amount=SHARPEN_AMOUNT,
        sharpen_sigma=SHARPEN_SIGMA,
    )


def estimate_noise(gray: np.ndarray) -> float:
    """Standard deviation of additive noise, in 0-255 gray levels.

    Filters with a kernel that cancels smooth image content (Immerkær's Laplacian
    difference) and takes a robust scale (median absolute value), so text edges,
    a minority of pixels, barely count.
    """
    import cv2

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(gray.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    # For white noise the response has std 6·sigma; MAD -> std factor 1.4826.
    return float(1.4826 * _median_abs(response) / 6.0)


def _char_height(ink: np.ndarray, page_height: int) -> float:
    """Median height of letter-sized ink blobs, in pixels (0 when too few)."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    if count <= 1:
        return 0.0
    heights = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    widths = stats[1:, cv2.CC_STAT_WIDTH].astype(np.float64)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    # Letters: not specks, not rules or merged words, not page-sized blobs.
    keep = (heights >= 5) & (areas >= 10) & (widths < 3 * heights) & (heights < page_height / 6)
    if keep.sum() < 10:
        return 0.0
    return float(np.median(heights[keep]))


def _ink_and_paper(normalized: np.ndarray) -> tuple[float, float]:
    """Ink and paper levels of a background-normalised page (Otsu split).

    The paper level is the median of the light class; the ink level the 25th
    percentile of the dark class (the core of the strokes, not their anti-aliased
    edges), returned as 0 (no stretch) when it is already dark or when the page
    has no clear dark class.
    """
    threshold = _otsu(normalized)
    dark = normalized[normalized < threshold]
    light = normalized[normalized >= threshold]
    paper = _percentile(light, 50) if light.size else 1.0
    paper = float(np.clip(paper, 0.5, 1.0))
    if dark.size < max(50, normalized.size // 5000) or dark.size > normalized.size // 2:
        return 0.0, paper
    ink = _percentile(dark, 25)
    # Dark ink is left as it is: stretching blurred dark strokes thickens them and
    # merges letters (measured on defocus and motion-blur pages). Faint ink (grey
    # cores above ~0.45) is stretched to black, with a smooth ramp in between.
    ink *= float(np.clip((ink - INK_GATE) / 0.2, 0.0, 1.0))
    # Never stretch more than 4x (noise would grow with it), never invert.
    return float(np.clip(ink, 0.0, paper - 0.25)), paper


# ---------------------------------------------------------------------- processing


def denoise_gray(gray: np.ndarray, strength: float) -> np.ndarray:
    """Edge-preserving denoising of a gray uint8 image (``strength`` in gray levels).

    A bilateral filter: it averages each pixel with its neighbours of similar
    gray level only, so flat paper and ink get smooth while strokes keep their
    edges. (Non-local means was measured too: no better OCR, 10-30× slower.)
    """
    import cv2

    if strength <= 0:
        return gray
    return cv2.bilateralFilter(gray, 5, 2.5 * float(strength), 3.0)


def normalize_background(gray: np.ndarray, size: int) -> np.ndarray:
    """Divide out the paper background; returns float32 with paper about 1, ink below.

    The background is a grey-level closing: a max filter ``size`` wide (removes
    every dark feature narrower than that) then a box mean of the same size,
    computed at a reduced resolution when ``size`` is large.
    """
    import cv2

    g = gray.astype(np.float32)
    h, w = g.shape
    factor = max(1, size // 16)
    small = g
    if factor > 1:
        small = cv2.resize(
            g, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA
        )
    k = _odd(max(3, round(size / factor)))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    background = cv2.dilate(small, kernel, borderType=cv2.BORDER_REFLECT)
    background = cv2.blur(background, (k, k), borderType=cv2.BORDER_REFLECT)
    if factor > 1:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    return g / np.maximum(background, 8.0)


def despeckle(gray: np.ndarray, char_height: float) -> np.ndarray:
    """Remove small isolated ink specks from a binary-looking gray uint8 image.

    A speck is an ink blob of at most ``(0.15·char_height)²`` pixels with no larger
    ink within ``0.5·char_height``: periods, commas and i-dots are larger or sit
    next to letters, and stay. Blobs touching the image border stay too (they may be the edge of a
    letter in the next tile).
    """
    import cv2

    height = char_height if char_height > 0 else 20.0
    ink = (gray < 128).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return gray
    x, y, w, h, area = (stats[:, i] for i in range(5))
    rows, cols = gray.shape
    inside = (x > 0) & (y > 0) & (x + w < cols) & (y + h < rows)
    small = (area <= max(2.0, (0.15 * height) ** 2)) & inside
    small[0] = False
    if not small.any():
        return gray
    large_ink = ink & ~small[labels]
    r = max(1, round(0.5 * height))
    near = cv2.dilate(
        large_ink.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    )
    kept = np.zeros(count, bool)
    kept[np.unique(labels[(near > 0) & small[labels]])] = True
    remove = small & ~kept
    out = gray.copy()
    out[remove[labels]] = 255
    return out


def restore_gray(gray: np.ndarray, params: PageParams) -> np.ndarray:
    """Restore one gray uint8 tile (or page) with its page's parameters; returns uint8."""
    import cv2

    if params.binary:
        return despeckle(gray, params.char_height)
    work = denoise_gray(gray, params.denoise)
    normalized = normalize_background(work, params.background_size)
    span = max(params.paper_level - params.ink_level, 0.05)
    # ink_level -> INK_TARGET, paper_level -> 1 (identity when ink_level is 0 and
    # paper_level 1).
    target = INK_TARGET if params.ink_level > 0 else 0.0
    stretched = target + (normalized - params.ink_level) * ((1.0 - target) / span)
    if params.sharpen_amount > 0:
        blurred = cv2.GaussianBlur(stretched, (0, 0), params.sharpen_sigma)
        stretched = cv2.addWeighted(
            stretched, 1.0 + params.sharpen_amount, blurred, -params.sharpen_amount, 0.0
        )
    return np.clip(stretched * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- helpers


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


#: Histogram resolution for percentiles of [0, ~1.5] float images.
_BINS = 2048


def _percentile(values: np.ndarray, q: float, upper: float = 1.5) -> float:
    """Percentile ``q`` of ``values`` in ``[0, upper]``, from a histogram (fast, exact
    to ``upper / 2048``)."""
    if values.size == 0:
        return 0.0
    scaled = np.clip(values.ravel() * (_BINS / upper), 0, _BINS - 1).astype(np.int32)
    cumulative = np.cumsum(np.bincount(scaled, minlength=_BINS))
    index = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1]))
    return (index + 0.5) * upper / _BINS


def _median_abs(values: np.ndarray) -> float:
    # Noise responses of interest are below ~60 gray levels · 6; larger values
    # (edges) only need to land above the median.
    return _percentile(np.abs(values), 50, upper=400.0)


def _otsu(normalized: np.ndarray) -> float:
    """Otsu's threshold of a background-normalised image (values in [0, ~1])."""
    import cv2

    image = np.clip(normalized * 255.0, 0, 255).astype(np.uint8)
    threshold, _ = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(threshold) / 255.0


@hookimpl
def register_restorers() -> list[Restorer]:
    return [ClassicalRestorer()]
