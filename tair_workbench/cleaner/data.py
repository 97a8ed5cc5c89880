"""Training data for the cleaner: pixel-aligned (degraded, clean) pairs, made on the fly.

A pair is made from one seed, deterministically:

1. :func:`tair_workbench.synthetic.render_page` typesets a small page (3–6 in on a side) at a
   high resolution ``hi_dpi`` (280–400 dpi) with a training font, a random layout and
   body size; sometimes the strokes are made bolder or lighter (other font weights).
2. The page is "acquired" at ``dpi`` ≤ ``hi_dpi`` (area resampling, as a scanner's
   sensor integrates light), then degraded with one of :data:`TRAIN_KINDS`
   (:func:`tair_workbench.synthetic.degrade`; the resolution kinds shrink it further).
3. The degraded image goes through the same working-scale step as in the pipeline
   (:func:`tair_ocr.working_scale.auto_scale` and :func:`~tair_ocr.working_scale.resample`),
   and is turned to gray with the BT.601 luma weights the restorer uses. This is the
   network's **input**, exactly as the tile stage would hand it over. On
   :data:`OVERSCALE_SHARE` of the pages the working scale is multiplied by a further
   1.25-3 (within the pipeline's limit of 4): the text-size estimate that sets the
   working scale can mistake blurred or faint text for tiny text (motion blur on thin
   type), and the cleaner must not fall apart on pages enlarged too much.
4. The **target** is the clean high-resolution page mapped through the same geometry
   (acquisition scale, the degradation's own transform, the working scale), so it is
   pixel-aligned with the input at the resolution the restorer outputs.

:func:`sample_patches` cuts square patches from a pair, mostly where there is ink;
:class:`PatchPool` keeps a pool of patches from recent pages and refreshes it with new
pages while training runs.

Seeds. Training pages use :data:`TRAIN_SEEDS`, validation pages :data:`VALIDATION_SEEDS`;
both lie below the benchmark's evaluation seeds (10 000 and up) and avoid the seeds of
the bundled samples. Training fonts exclude :data:`HELD_OUT_FONTS`, which validation
and the benchmark use to check that the cleaner generalises to unseen typefaces.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from tair_ocr.errors import UsageError
from tair_ocr.geometry import Affine

__all__ = [
    "HELD_OUT_FONTS",
    "OVERSCALE_SHARE",
    "TRAIN_KINDS",
    "TRAIN_SEEDS",
    "VALIDATION_SEEDS",
    "PagePair",
    "PageSource",
    "PatchPool",
    "luma",
    "make_pair",
    "page_patches",
    "sample_patches",
    "train_fonts",
    "warp_to",
]

#: Degradation kinds drawn for training pages, with their weights. The hard kinds
#: (motion blur, tiny JPEG'd print, phone photos) get more pages.
TRAIN_KINDS: dict[str, float] = {
    "clean": 0.06,
    "scan": 0.06,
    "shaded_photo": 0.09,
    "lowres_75dpi": 0.09,
    "defocus": 0.06,
    "motion_blur": 0.13,
    "noise": 0.05,
    "faded_ink": 0.10,
    "jpeg": 0.05,
    "lowres_jpeg": 0.14,
    "fax": 0.09,
    "mixed": 0.08,
}
#: Share of pages enlarged beyond the working scale the pipeline chose (see
#: :func:`make_pair`).
OVERSCALE_SHARE = 0.3
#: Larger working images are cut to a random window of about this many pixels.
MAX_WORKING_PIXELS = 6_000_000
#: Font families never used for training pages (validation and benchmarks use them).
HELD_OUT_FONTS: tuple[str, ...] = ("P052", "URWGothic", "NimbusMonoPS")
#: Seeds of training pages (below the evaluation seeds; the samples use 101-422).
TRAIN_SEEDS = range(1_000, 10_000)
#: Seeds of the validation pages the training script reads with tesseract.
VALIDATION_SEEDS = range(500, 600)

#: BT.601 luma weights, as the restorer (and Pillow's ``convert("L")``) uses them.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 (or H×W) uint8/float image -> H×W float32 gray in [0, 1]."""
    a = np.asarray(rgb)
    scale = np.float32(1 / 255) if a.dtype == np.uint8 else np.float32(1)
    if a.ndim == 2:
        return a.astype(np.float32) * scale
    return (a[..., :3].astype(np.float32) @ _LUMA) * scale


def train_fonts() -> list[str]:
    """Installed font families that training may use (all but :data:`HELD_OUT_FONTS`)."""
    from tair_workbench.synthetic import available_fonts

    names = [n for n in available_fonts() if n not in HELD_OUT_FONTS]
    return names or list(available_fonts())


@dataclass
class PagePair:
    """One training page: the restorer's input and its target, pixel-aligned.

    Both are H×W float32 gray in [0, 1] at the working resolution.
    """

    input: np.ndarray
    target: np.ndarray
    kind: str
    seed: int
    #: The working scale of the input (the pipeline's choice for the degraded page,
    #: sometimes enlarged further).
    working_scale: float
    #: Resolution of the degraded page, and of the working image.
    dpi: float
    working_dpi: float
    font: str
    font_pt: float
    params: dict[str, object] = field(default_factory=dict)


def _edge_to_centre(m: Affine) -> np.ndarray:
    """An edge-coordinate affine as OpenCV's 2×3 matrix (pixel-centre coordinates)."""
    c = Affine.translation(-0.5, -0.5) @ m @ Affine.translation(0.5, 0.5)
    return np.array([[c.a, c.b, c.c], [c.d, c.e, c.f]], np.float64)


def warp_to(image: np.ndarray, transform: Affine, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H×W float32, white background) mapped by ``transform`` (source ->
    output pixels, edge coordinates) onto an output of ``size`` (w, h).

    Shrinking is done by area averaging first (what a sensor does), so thin strokes
    keep their gray weight instead of aliasing away.
    """
    h, w = image.shape[:2]
    s = math.sqrt(abs(transform.a * transform.e - transform.b * transform.d))
    if s < 0.999:
        pw, ph = max(1, round(w * s)), max(1, round(h * s))
        image = cv2.resize(image, (pw, ph), interpolation=cv2.INTER_AREA)
        transform = transform @ Affine.scaling(w / pw, h / ph)
        h, w = ph, pw
    pure_scale = abs(transform.b) < 1e-9 and abs(transform.d) < 1e-9
    untranslated = abs(transform.c) < 1e-6 and abs(transform.f) < 1e-6
    if pure_scale and untranslated and (round(w * transform.a), round(h * transform.e)) == size:
        if size == (w, h):
            return image
        return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    return cv2.warpAffine(
        image,
        _edge_to_centre(transform),
        size,
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=1.0,
    )


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def make_pair(
    seed: int,
    *,
    kind: str | None = None,
    fonts: Sequence[str] | None = None,
    kinds: dict[str, float] | None = None,
    size_in: tuple[float, float] | None = None,
    hi_dpi: float | None = None,
    font_pt: float | None = None,
    layout: str | None = None,
) -> PagePair:
    """Make the (input, target) pair of one synthetic page; the same arguments give
    identical arrays.

    :param seed: a non-negative integer fixing every random choice.
    :param kind: a degradation kind; default drawn from ``kinds`` (:data:`TRAIN_KINDS`).
    :param fonts: font families to draw from; default :func:`train_fonts`.
    :param size_in: page size in inches; default 3-6 in wide, 3-5 in high.
    :param hi_dpi: resolution of the clean rendering; default 280-400 dpi.
    :param font_pt: body text size; default the layout's range, or 6.5-16 pt (30 %).
    :param layout: a layout of :data:`tair_workbench.synthetic.LAYOUTS`; default drawn.
    """
    from tair_ocr.working_scale import MAX_AUTO_SCALE, auto_scale, resample
    from tair_workbench.synthetic import degrade, render_page
    from tair_workbench.synthetic.degrade import DEGRADATION_KINDS

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, not {seed!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(b"tair-ocr cleaner pairs")])
    kind = kind or _choose(rng, kinds or TRAIN_KINDS)
    if kind not in DEGRADATION_KINDS:
        raise UsageError(f"unknown degradation kind {kind!r}")
    font_pool = list(fonts) if fonts is not None else train_fonts()
    font = str(font_pool[int(rng.integers(len(font_pool)))])
    if size_in is None:
        size_in = (float(rng.uniform(3.0, 6.0)), float(rng.uniform(3.0, 5.0)))
    if hi_dpi is None:
        hi_dpi = float(rng.uniform(280.0, 400.0))
    if font_pt is None and rng.random() < 0.3:
        font_pt = round(float(rng.uniform(6.5, 16.0)) * 2) / 2
    page = render_page(
        int(seed),
        dpi=hi_dpi,
        size=size_in,
        font=font,
        font_pt=font_pt,
        margin_in=0.3,
        layout=layout,
    )
    clean = np.asarray(page.image, np.float32) / np.float32(255.0)

    # Other stroke weights: a small erosion of the white (bolder) or dilation (lighter),
    # applied to the clean page itself so input and target agree.
    weight = rng.random()
    if weight < 0.15:
        clean = cv2.erode(clean, np.ones((2, 2), np.uint8))
    elif weight < 0.25 and page.font_pt >= 9:
        clean = cv2.dilate(clean, np.ones((2, 2), np.uint8))

    # Acquisition resolution: the page as the scanner or camera sampled it.
    changes_resolution = DEGRADATION_KINDS[kind].changes_resolution
    dpi = hi_dpi
    if not changes_resolution and kind != "fax" and rng.random() < 0.5:
        dpi = float(rng.uniform(150.0, hi_dpi))
    h, w = clean.shape
    acquired = clean
    to_acquired = Affine()
    if dpi < hi_dpi:
        aw, ah = max(16, round(w * dpi / hi_dpi)), max(16, round(h * dpi / hi_dpi))
        acquired = cv2.resize(clean, (aw, ah), interpolation=cv2.INTER_AREA)
        to_acquired = Affine.scaling(aw / w, ah / h)
    acquired_u8 = Image.fromarray(np.clip(acquired * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    bad = degrade(acquired_u8, kind, seed=int(seed), dpi=dpi)

    # The pipeline's working scale, on the degraded page as it would be loaded.
    factor, _ = auto_scale(bad.image)
    if rng.random() < OVERSCALE_SHARE and factor < MAX_AUTO_SCALE / 1.3:
        factor *= float(rng.uniform(1.25, min(3.0, MAX_AUTO_SCALE / factor)))
    degraded, crop = bad.image, Affine()
    side = math.ceil(math.sqrt(MAX_WORKING_PIXELS) / factor)
    if side < degraded.width or side < degraded.height:
        # Only patches are used: a window keeps very enlarged pages cheap.
        cw, ch = min(side, degraded.width), min(side, degraded.height)
        x0 = int(rng.integers(0, degraded.width - cw + 1))
        y0 = int(rng.integers(0, degraded.height - ch + 1))
        degraded = degraded.crop((x0, y0, x0 + cw, y0 + ch))
        crop = Affine.translation(-x0, -y0)
    working, to_degraded = resample(degraded, factor)
    inp = luma(np.asarray(working))
    clean_to_working = to_degraded.inverse() @ crop @ bad.transform @ to_acquired
    target = warp_to(clean, clean_to_working, (working.width, working.height))
    return PagePair(
        input=inp,
        target=np.clip(target, 0.0, 1.0).astype(np.float32),
        kind=kind,
        seed=int(seed),
        working_scale=float(factor),
        dpi=float(bad.dpi),
        working_dpi=float(bad.dpi * working.width / bad.image.width),
        font=font,
        font_pt=float(page.font_pt),
        params=dict(bad.params),
    )


def sample_patches(
    pair: PagePair,
    rng: np.random.Generator,
    count: int,
    size: int,
    *,
    ink_fraction: float = 0.85,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` square patches of ``size`` px cut at the same places from the input
    and the target of ``pair``: ``count×size×size`` uint8 arrays (input, target).

    About ``ink_fraction`` of the patches are centred on a random ink pixel of the
    target (text is where the loss matters); the rest anywhere on the page. Pages
    smaller than a patch are padded with their mirror image.
    """
    inp, tgt = pair.input, pair.target
    h, w = tgt.shape
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        inp = np.pad(inp, ((0, ph), (0, pw)), mode="reflect" if h > ph and w > pw else "edge")
        tgt = np.pad(tgt, ((0, ph), (0, pw)), mode="reflect" if h > ph and w > pw else "edge")
        h, w = tgt.shape
    ys, xs = np.nonzero(tgt[::4, ::4] < 0.5)
    out_in = np.empty((count, size, size), np.uint8)
    out_tg = np.empty((count, size, size), np.uint8)
    for i in range(count):
        if ys.size and rng.random() < ink_fraction:
            j = int(rng.integers(ys.size))
            cy = int(ys[j]) * 4 + int(rng.integers(-size // 4, size // 4 + 1))
            cx = int(xs[j]) * 4 + int(rng.integers(-size // 4, size // 4 + 1))
            y0 = int(np.clip(cy - size // 2, 0, h - size))
            x0 = int(np.clip(cx - size // 2, 0, w - size))
        else:
            y0 = int(rng.integers(0, h - size + 1))
            x0 = int(rng.integers(0, w - size + 1))
        out_in[i] = _to_u8(inp[y0 : y0 + size, x0 : x0 + size])
        out_tg[i] = _to_u8(tgt[y0 : y0 + size, x0 : x0 + size])
    return out_in, out_tg


def _to_u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)


def page_patches(
    seed: int,
    fonts: Sequence[str] | None,
    patch: int,
    count: int,
    kinds: dict[str, float] | None = None,
) -> tuple[int, str, np.ndarray, np.ndarray]:
    """The training patches of page ``seed``: ``(seed, kind, inputs, targets)``, the
    arrays as :func:`sample_patches` returns them. Deterministic per seed (and
    ``kinds``, the degradation weights; default :data:`TRAIN_KINDS`).

    A page the renderer cannot typeset (an odd layout on a small page) is made
    again with the plain ``paragraphs`` layout rather than stopping training.
    """
    try:
        pair = make_pair(seed, fonts=fonts, kinds=kinds)
    except Exception:
        pair = make_pair(seed, fonts=fonts, kinds=kinds, layout="paragraphs")
    rng = np.random.default_rng([int(seed), zlib.crc32(b"tair-ocr cleaner patches")])
    inp, tgt = sample_patches(pair, rng, count, patch)
    return int(seed), pair.kind, inp, tgt


def _produce(
    queue: Any,
    start: int,
    seeds: range,
    fonts: list[str],
    patch: int,
    count: int,
    kinds: dict[str, float] | None,
) -> None:
    """Background process: pages ``start, start + 1, ...`` into ``queue``, in order."""
    cv2.setNumThreads(1)  # this process is meant to keep one core busy, no more
    i = start
    while True:
        queue.put(page_patches(seeds[i % len(seeds)], fonts, patch, count, kinds))
        i += 1


class PageSource:
    """Makes training pages in a background process, in seed order, so page
    synthesis runs on one core while the training step runs on another.

    ``next()`` returns the patches of page number ``start``, ``start + 1``, ... (in
    that order, whatever the timing), so training stays reproducible.
    """

    def __init__(
        self,
        start: int,
        *,
        seeds: range,
        fonts: Sequence[str],
        patch: int,
        count: int,
        kinds: dict[str, float] | None = None,
        prefetch: int = 16,
    ) -> None:
        import multiprocessing

        self.index = start
        self.seeds = seeds
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue(maxsize=prefetch)
        self._process = context.Process(
            target=_produce,
            args=(self._queue, start, seeds, list(fonts), patch, count, kinds),
            daemon=True,
            name="tair-ocr-cleaner-pages",
        )
        self._process.start()

    def next(self) -> tuple[int, str, np.ndarray, np.ndarray]:
        """The next page's ``(seed, kind, inputs, targets)``."""
        while True:
            try:
                item = self._queue.get(timeout=60)
                break
            except Exception:
                if not self._process.is_alive():
                    raise RuntimeError("the page synthesis process died") from None
        expected = self.seeds[self.index % len(self.seeds)]
        if item[0] != expected:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"page source out of order: got seed {item[0]}, not {expected}")
        self.index += 1
        return item

    def close(self) -> None:
        """Stop the background process."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=10)


class PatchPool:
    """A fixed-size pool of training patches that fresh pages keep replacing.

    ``refresh(n)`` makes ``n`` new pages (seeds ``first_seed``, ``first_seed + 1``, ...
    in order) and overwrites the oldest patches with theirs; ``batch`` draws a random
    batch. Everything follows from ``seed``, so a run (or a resumed run, given the
    same state) is reproducible.
    """

    def __init__(
        self,
        capacity: int,
        patch: int,
        *,
        patches_per_page: int = 24,
        seed: int = 0,
        seeds: range = TRAIN_SEEDS,
        fonts: Sequence[str] | None = None,
        kinds: dict[str, float] | None = None,
    ) -> None:
        if capacity < patches_per_page:
            raise UsageError("the patch pool must hold at least one page's patches")
        self.capacity = capacity
        self.patch = patch
        self.patches_per_page = patches_per_page
        self.seeds = seeds
        self.fonts = list(fonts) if fonts is not None else train_fonts()
        #: Degradation kind weights of new pages (``None``: :data:`TRAIN_KINDS`).
        self.kinds = dict(kinds) if kinds is not None else None
        self.rng = np.random.default_rng([seed, zlib.crc32(b"tair-ocr cleaner pool")])
        self.inputs = np.zeros((capacity, patch, patch), np.uint8)
        self.targets = np.zeros((capacity, patch, patch), np.uint8)
        self.filled = 0
        self.cursor = 0
        #: Pages made so far; the next page uses ``seeds[pages_made % len(seeds)]``.
        self.pages_made = 0
        self.kinds_seen: dict[str, int] = {}
        #: Where new pages come from; ``None``: made inline (see :meth:`attach`).
        self.source: PageSource | None = None

    def attach(self, prefetch: int = 16) -> PageSource:
        """Make the next pages in a background process (:class:`PageSource`)."""
        self.source = PageSource(
            self.pages_made,
            seeds=self.seeds,
            fonts=self.fonts,
            patch=self.patch,
            count=self.patches_per_page,
            kinds=self.kinds,
            prefetch=prefetch,
        )
        return self.source

    def close(self) -> None:
        """Stop the background page source, if any."""
        if self.source is not None:
            self.source.close()
            self.source = None

    def refresh(self, pages: int) -> None:
        """Make ``pages`` new pages and write their patches over the oldest ones."""
        for _ in range(pages):
            if self.source is not None:
                _, kind, inp, tgt = self.source.next()
            else:
                seed = self.seeds[self.pages_made % len(self.seeds)]
                _, kind, inp, tgt = page_patches(
                    seed, self.fonts, self.patch, self.patches_per_page, self.kinds
                )
            self.pages_made += 1
            self.kinds_seen[kind] = self.kinds_seen.get(kind, 0) + 1
            for a, b in zip(inp, tgt, strict=True):
                self.inputs[self.cursor] = a
                self.targets[self.cursor] = b
                self.cursor = (self.cursor + 1) % self.capacity
                self.filled = min(self.capacity, self.filled + 1)

    def fill(self) -> None:
        """Make pages until the pool is full."""
        while self.filled < self.capacity:
            self.refresh(1)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A random batch: ``size×patch×patch`` float32 input and target in [0, 1]."""
        if self.filled == 0:
            raise UsageError("the patch pool is empty; call fill() first")
        idx = self.rng.integers(0, self.filled, size)
        x = self.inputs[idx].astype(np.float32) / 255.0
        y = self.targets[idx].astype(np.float32) / 255.0
        return x, y

    def state_dict(self) -> dict[str, object]:
        """What :meth:`load_state_dict` needs to rebuild this pool exactly (the
        patches themselves are not saved: they are made again from their seeds)."""
        return {
            "pages_made": self.pages_made,
            "cursor": self.cursor,
            "filled": self.filled,
            "rng": self.rng.bit_generator.state,
            "kinds_seen": dict(self.kinds_seen),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore a pool saved by :meth:`state_dict`: remake the pages whose
        patches it held, in order, at the positions they had. Call it before
        :meth:`attach`."""
        if self.source is not None:
            raise RuntimeError("load the pool state before attaching a page source")
        pages_made = int(state["pages_made"])  # type: ignore[call-overload]
        cursor = int(state["cursor"])  # type: ignore[call-overload]
        filled = int(state["filled"])  # type: ignore[call-overload]
        held = min(pages_made, -(-filled // self.patches_per_page))
        self.pages_made = pages_made - held
        self.cursor = (cursor - held * self.patches_per_page) % self.capacity
        self.filled = max(0, filled - held * self.patches_per_page)
        self.refresh(held)
        self.cursor, self.filled = cursor, filled
        self.rng.bit_generator.state = state["rng"]
        self.kinds_seen = dict(state["kinds_seen"])  # type: ignore[call-overload]
