"""One page image, analysed once: what the stages measure on the whole page.

Several stages look at the whole page before they work on it: the working-scale
choice (the text size, binary or not), the restorer's page hint (binary or not,
the luminance), the blank-tile detector (paper level and noise) and the decide step
(the luminance and its ink levels). A :class:`PageAnalysis` holds these
measurements for one page image. Each is made on first use and kept, so the
luminance of a page is computed once, and a fax page is found binary once, however
many stages ask.

An analysis belongs to one image. The pipeline makes one for the page it reads
and hands it to the working-scale choice, the decide step and the restoration stage,
which passes it to the restorer's page hint
(:meth:`tair_ocr.components.Restorer.page_hint`) and the blank-tile detector. A page
resampled to its working scale, or a restored page, has other pixels and gets an
analysis of its own, made once (:meth:`PageAnalysis.reuse` tells the two cases
apart). OCR engines get the image and measure what they need on it themselves.

What it holds (all in pixels and gray levels of ``image``):

* :attr:`~PageAnalysis.gray`: the H×W uint8 luminance (BT.601, as Pillow's ``"L"``;
  a gray image's own pixels);
* :attr:`~PageAnalysis.is_binary`: a two-level page (fax, 1-bit scan),
  :func:`tair_ocr.working_scale.is_binary`;
* :attr:`~PageAnalysis.ink_levels`: Otsu's ink/paper threshold and the paper level
  (90th percentile) the ink masks use (:func:`tair_ocr.working_scale.ink_levels`);
* :attr:`~PageAnalysis.text_size`: the x-height and capital height
  (:func:`tair_ocr.working_scale.estimate_text_size`);
* :attr:`~PageAnalysis.background`: the median gray level and the noise around it,
  what the blank-tile detector (:class:`tair_ocr.tiling.BlankDetector`) compares
  tiles with;
* :attr:`~PageAnalysis.motion_blur`: the camera shake the page shows, if any
  (:func:`tair_ocr.motion_blur.estimate_motion_blur`).

The measurements are kept without a lock: one page is worked on by one thread at a
time, and two threads that ask at once only compute the same value twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, overload

import numpy as np
from PIL import Image

from tair_ocr.motion_blur import MotionBlur, estimate_motion_blur
from tair_ocr.working_scale import (
    InkLevels,
    TextSize,
    estimate_text_size,
    ink_levels,
    is_binary,
    luminance,
    page_scale,
)

__all__ = ["Background", "PageAnalysis", "histogram_median"]

_T = TypeVar("_T")

#: The background is measured on a sample of about this many pixels.
_BACKGROUND_SAMPLE = 1_000_000


class Background(NamedTuple):
    """The gray level most of a page has (its paper, on a document) and the noise."""

    #: The median gray level (0–255).
    level: float
    #: The robust spread of the gray levels around it (1.4826 × their median
    #: absolute deviation: the standard deviation of Gaussian noise).
    noise: float


class _measured(Generic[_T]):
    """A measurement made on first access and kept in the instance (as
    ``functools.cached_property`` does, without its lock, which in Python 3.11 is
    shared by all instances: pages in other threads would wait for each other)."""

    def __init__(self, measure: Callable[[Any], _T]) -> None:
        self.measure = measure
        self.__doc__ = measure.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _measured[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> _T: ...
    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        value = self.measure(instance)
        # The instance attribute hides this (non-data) descriptor from now on.
        instance.__dict__[self.name] = value
        return value


@dataclass(frozen=True, eq=False)
class PageAnalysis:
    """The whole-page measurements of one page image, each made once (see the
    module docstring).

    ``image`` is a PIL image (8-bit ``L`` or ``RGB``, as pages are; other modes are
    measured on their luminance) or an H×W, H×W×1 or H×W×3 uint8 array. It must not
    change while the analysis is used. Analyses compare by identity.
    """

    image: Image.Image | np.ndarray

    @classmethod
    def of(cls, image: Image.Image | np.ndarray | PageAnalysis) -> PageAnalysis:
        """``image`` itself when it is an analysis, else a new analysis of it."""
        return image if isinstance(image, PageAnalysis) else cls(image)

    @classmethod
    def reuse(cls, image: Image.Image | np.ndarray, known: PageAnalysis | None) -> PageAnalysis:
        """``known`` when it is the analysis of ``image`` (the same object), else a
        new analysis of ``image``."""
        return known if known is not None and known.image is image else cls(image)

    @property
    def width(self) -> int:
        if isinstance(self.image, Image.Image):
            return self.image.width
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        if isinstance(self.image, Image.Image):
            return self.image.height
        return int(self.image.shape[0])

    @_measured
    def gray(self) -> np.ndarray:
        """The H×W uint8 luminance (BT.601, as Pillow's ``"L"``; a gray image's own
        pixels), read-only: every stage shares it."""
        gray = np.ascontiguousarray(luminance(self.image))
        if gray.flags.writeable:
            gray = gray.view()  # the flag of this view only, not of the caller's array
            gray.flags.writeable = False
        return gray

    @_measured
    def is_binary(self) -> bool:
        """Whether the page is two-level (fax, 1-bit scan):
        :func:`tair_ocr.working_scale.is_binary` of :attr:`gray`."""
        return is_binary(self.gray)

    @_measured
    def ink_levels(self) -> InkLevels | None:
        """Otsu's ink/paper threshold and the paper level of :attr:`gray` (None on a
        page under 8 pixels a side): :func:`tair_ocr.working_scale.ink_levels`."""
        return ink_levels(self.gray)

    @property
    def paper_level(self) -> float | None:
        """The paper's gray level (the 90th percentile of :attr:`gray`), or None on a
        page under 8 pixels a side."""
        levels = self.ink_levels
        return levels.paper if levels is not None else None

    @_measured
    def text_size(self) -> TextSize:
        """The x-height and capital height of the text:
        :func:`tair_ocr.working_scale.estimate_text_size`."""
        return estimate_text_size(self.gray, levels=self.ink_levels)

    def auto_scale(self) -> tuple[float, TextSize]:
        """The working scale chosen from the text size (and, for readable text,
        whether the page is binary), as :func:`tair_ocr.working_scale.auto_scale`
        chooses it, and the text size."""
        text = self.text_size
        return page_scale(text, lambda: self.is_binary), text

    @_measured
    def background(self) -> Background:
        """The median gray level and the noise around it, on a sample of about a
        million pixels (a sparse sample is plenty for a median, and keeps huge
        pages cheap); medians of uint8 values from histograms, exact and fast."""
        gray = self.gray
        h, w = gray.shape
        step = max(1, int(math.sqrt(h * w / _BACKGROUND_SAMPLE)))
        histogram = np.bincount(gray[::step, ::step].ravel(), minlength=256)
        level = histogram_median(histogram)
        spread = np.bincount(np.abs(np.arange(256) - level), histogram, minlength=256)
        return Background(level=float(level), noise=1.4826 * histogram_median(spread))

    @_measured
    def motion_blur(self) -> MotionBlur | None:
        """The linear motion blur of :attr:`gray` (camera shake), or None:
        :func:`tair_ocr.motion_blur.estimate_motion_blur`."""
        return estimate_motion_blur(self.gray)

    def pixels(self) -> np.ndarray:
        """The image as an H×W×C uint8 array: C = 3 for an RGB image or array (a new
        array on every call for an image, not kept: the tile stage frees it before
        it builds its output), else C = 1, a view of :attr:`gray` (no copy,
        read-only; for PIL modes other than ``L`` and ``RGB``, their luminance)."""
        image = self.image
        if isinstance(image, Image.Image):
            array = np.asarray(image) if image.mode == "RGB" else self.gray
        else:
            array = np.asarray(image)
            if array.ndim == 3 and array.shape[2] == 1:
                array = self.gray
        return array[..., None] if array.ndim == 2 else array

    def rgb(self) -> np.ndarray:
        """The image as H×W×3 uint8 (what restorers' ``restore_page_hint`` got before
        :meth:`~tair_ocr.components.Restorer.page_hint`): a gray image is a read-only
        broadcast view of :attr:`gray`, not a copy."""
        pixels = self.pixels()
        if pixels.shape[2] >= 3:
            return pixels[..., :3]
        return np.broadcast_to(pixels[..., :1], (*pixels.shape[:2], 3))


def histogram_median(histogram: np.ndarray) -> int:
    """The (lower) median of the values whose counts ``histogram`` holds."""
    cumulative = np.cumsum(histogram)
    return int(np.searchsorted(cumulative, (cumulative[-1] + 1) // 2))
