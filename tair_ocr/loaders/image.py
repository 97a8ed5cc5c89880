"""The built-in image loader: PNG, JPEG, TIFF, BMP, GIF, WebP, JPEG 2000, PNM (Pillow).

What a loaded page is
---------------------
* **8-bit ``L``** for grayscale sources (1-bit, 8/16-bit gray, gray palettes, gray +
  alpha) and **8-bit ``RGB``** for everything else (colour palettes, CMYK, RGBA,
  YCbCr, LAB...). CMYK is converted without colour management (Pillow's formula;
  Adobe's inverted CMYK JPEGs are handled by Pillow).
* **Transparency is composited over white**: documents are dark ink on paper, and over
  black the ink of a transparent scan would vanish.
* **16- and 32-bit samples are scaled** to 8 bits (65535 → 255), not clipped.
* **EXIF orientation is applied**: the page comes out as a viewer shows it.
* **Pixels are square**: a file whose trusted resolution differs between the axes
  (a "normal" fax, 204×98 dpi) is resampled to the larger of the two, with a warning.
* **Pages**: each frame of a TIFF is a page. Other formats give one page; of an
  animated GIF or WebP only the first frame is read (with a warning).

Resolution (DPI)
----------------
The DPI comes from the file (PNG ``pHYs``, JFIF density or EXIF resolution for JPEG,
TIFF ``XResolution``/``YResolution``, BMP pixels per metre; centimetre units are
converted). It is **trusted** when it is present and plausible. Otherwise the page
gets :data:`tair_ocr.page.DEFAULT_IMAGE_DPI` (300) with ``dpi_trusted=False`` and a
warning, so that later steps measure the text size instead of believing the number:

* no resolution in the file, or a unit-less one (aspect ratio only);
* exactly 72 or 96 dpi (±0.5): these are the defaults written by cameras, phones,
  screenshot tools and image editors, not a measured scan resolution. (A real 96-dpi
  scan is then treated as unknown; the text-size measurement copes with it);
* below :data:`MIN_PLAUSIBLE_DPI` (50) or above :data:`MAX_PLAUSIBLE_DPI` (2400), e.g.
  TIFFs with no resolution tags, which Pillow reports as 1 dpi.

Size limits
-----------
* A page has at most :data:`MAX_PAGE_PIXELS` (64 Mpx: A4 at 800 dpi; reading it takes
  up to about 2 GB). Larger images are downscaled
  (Lanczos) to fit, with a warning; the DPI is scaled with them.
* At most :data:`MAX_DECODE_PIXELS` (400 Mpx, e.g. 20000×20000) are decoded. A larger
  JPEG is decoded at 1/2, 1/4 or 1/8 scale (JPEG "draft" decoding, which never
  allocates the full image); any other larger image is refused with an
  :class:`~tair_ocr.errors.InputError` that states the limit. Decoding plus conversion
  stays below about 3.5 GB (400 Mpx RGBA: 1.6 GB decoded, 1.6 GB converted).

Errors
------
A damaged or truncated file raises :class:`~tair_ocr.errors.CorruptInputError` with a
one-line message naming the file. A single-frame image is decoded when it is opened,
so a damaged one is an input error of the document; TIFF frames are decoded one at a
time in ``pages()``, so a damaged frame fails only its page.

Pillow's process-wide switches ``Image.MAX_IMAGE_PIXELS`` (its decompression-bomb
check, replaced here by the limits above) and ``ImageFile.LOAD_TRUNCATED_IMAGES``
(which would silently hide truncation) are overridden, under a lock, only while this
module opens and decodes a file.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, features

from tair_ocr.components import LoadedDocument, Loader
from tair_ocr.errors import CorruptInputError, InputError, UnsupportedInputError
from tair_ocr.hookspecs import hookimpl
from tair_ocr.page import DEFAULT_IMAGE_DPI, Page

#: Largest page (pixels) a loader delivers; bigger pages are downscaled with a warning.
MAX_PAGE_PIXELS = 64_000_000
#: Largest image (pixels) decoded at full size; JPEGs above it are decoded reduced.
MAX_DECODE_PIXELS = 400_000_000
#: File resolutions outside this range are treated as missing.
MIN_PLAUSIBLE_DPI = 50.0
MAX_PLAUSIBLE_DPI = 2400.0
#: Resolutions software writes when it knows none (cameras, screenshots, editors).
PLACEHOLDER_DPIS = (72.0, 96.0)

_EXIF_ORIENTATION = 0x0112
_TIFF_X_RESOLUTION, _TIFF_Y_RESOLUTION, _TIFF_RESOLUTION_UNIT = 282, 283, 296
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Rows converted at a time when scaling 16/32-bit samples (bounds the temporaries).
_STRIP_ROWS = 1024
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_PILLOW_LOCK = threading.RLock()


def sniff_format(head: bytes) -> str | None:
    """The Pillow format name of an image this loader reads, from its first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    ):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and features.check("webp"):
        return "WEBP"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")) and features.check(
        "jpg_2000"
    ):
        return "JPEG2000"
    # Netpbm: "P1".."P6", whitespace, then a number or a comment.
    if len(head) >= 4 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        first = head[3:].lstrip()[:1]
        if first == b"#" or first.isdigit():
            return "PPM"
    return None


def normalize_image(image: Image.Image) -> tuple[Image.Image, float, bool, list[str]]:
    """Make ``image`` a page image: 8-bit ``L`` or ``RGB``, upright, square pixels,
    within :data:`MAX_PAGE_PIXELS`; see the module docstring for the rules.

    Returns ``(image, dpi, dpi_trusted, warnings)``. The result may be ``image``
    itself when nothing had to change, so do not modify it in place. A lazily opened
    image is decoded here; a damaged one raises
    :class:`~tair_ocr.errors.CorruptInputError`.
    """
    return _normalize(image, label="<image>", consume=False)


class ImageLoader(Loader):
    """Raster images via Pillow; each TIFF frame is a page.

    The format :meth:`accepts` found in a file's first bytes is remembered for the
    :meth:`open` of that file that follows, so the pipeline's loader choice is the
    only time its header is read and sniffed.
    """

    name = "image"
    description = "PNG, JPEG, TIFF (multi-page), BMP, GIF, WebP, JPEG 2000, PNM images (Pillow)"

    def __init__(self) -> None:
        #: (path, format) of the last file accepted, until it is opened.
        self._sniffed: tuple[Path, str] | None = None

    def accepts(self, path: Path, head: bytes) -> bool:
        fmt = sniff_format(head)
        self._sniffed = (Path(path), fmt) if fmt is not None else None
        return fmt is not None

    def open(self, path: Path, *, dpi: float) -> LoadedDocument:
        # ``dpi`` is for vector inputs; a raster image has its own resolution.
        path = Path(path)
        sniffed, self._sniffed = self._sniffed, None
        return ImageDocument(path, fmt=sniffed[1] if sniffed and sniffed[0] == path else None)


class ImageDocument(LoadedDocument):
    """An opened image file. TIFF frames are decoded lazily, one per page.

    ``fmt`` is the file's format (:func:`sniff_format`) when already known.
    """

    kind = "image"

    def __init__(self, path: Path, *, fmt: str | None = None) -> None:
        self.path = path
        self._image: Image.Image | None = None
        self._ready: Page | None = None
        image = _open(path, fmt)
        try:
            frames = _frame_count(image, path)
            self.page_count = frames if image.format == "TIFF" else 1
            if self.page_count > 1:
                self._image = image  # kept open to seek from frame to frame
                self.embeddable_jpeg = False
            else:
                # Decode now: a damaged single image is an error of the whole input.
                self._ready, as_stored = _load_single(image, path, frames)
                self.embeddable_jpeg = image.format == "JPEG" and frames == 1 and as_stored
        except BaseException:
            image.close()
            raise

    def pages(self, indices: list[int]) -> Iterator[Page]:
        for index in indices:
            if not 0 <= index < self.page_count:
                raise IndexError(f"{self.path}: no page {index + 1} (it has {self.page_count})")
            if self._image is not None:
                yield self._load_frame(self._image, index)
                continue
            page, self._ready = self._ready, None
            if page is None:  # asked for again: decode again
                image = _open(self.path)
                page, _ = _load_single(image, self.path, _frame_count(image, self.path))
            yield page

    def _load_frame(self, image: Image.Image, index: int) -> Page:
        _seek(image, index, self.path)
        label = f"{self.path}, page {index + 1}"
        result, dpi, trusted, warnings = _normalize(image, label=label, consume=False)
        if result is image:
            # The next seek reuses this frame's memory: the page needs its own copy.
            result = image.copy()
        return _page(self.path, index, result, dpi, trusted, warnings)

    def close(self) -> None:
        self._ready = None
        if self._image is not None:
            self._image.close()
            self._image = None


@hookimpl
def register_loaders() -> list[Loader]:
    return [ImageLoader()]


# ---------------------------------------------------------------------- opening


@contextmanager
def _pillow_switches() -> Iterator[None]:
    """Our limits replace Pillow's decompression-bomb check, and truncation is an
    error, while this module opens or decodes (both are process-wide in Pillow)."""
    with _PILLOW_LOCK:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _open(path: Path, fmt: str | None = None) -> Image.Image:
    """Open ``path`` (not decoded yet) as ``fmt``, sniffed from its head when None."""
    if fmt is None:
        try:
            with path.open("rb") as fh:
                head = fh.read(64)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        fmt = sniff_format(head)
        if fmt is None:
            raise UnsupportedInputError(f"{path}: not an image format this loader reads")
    try:
        with _pillow_switches():
            return Image.open(path, formats=[fmt])
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error...
        raise CorruptInputError(
            f"{path}: damaged {_format_name(fmt)} file, its header cannot be read ({_reason(exc)})"
        ) from exc


def _frame_count(image: Image.Image, path: Path) -> int:
    """Frames in the file, counted before any pixels are decoded."""
    try:
        with _pillow_switches():
            return max(1, int(getattr(image, "n_frames", 1)))
    except MemoryError:
        raise
    except Exception as exc:
        if image.format != "TIFF":
            return 1  # a broken later frame of an animation: only the first is read
        raise CorruptInputError(
            f"{path}: damaged TIFF, its list of pages cannot be read ({_reason(exc)})"
        ) from exc


def _load_single(image: Image.Image, path: Path, frames: int) -> tuple[Page, bool]:
    """Decode and normalise a one-page image; the page owns what is left of it.
    Also says whether the page shows the file's pixels as stored (not converted,
    rotated, resampled or decoded reduced)."""
    size = image.size
    with image:  # closes the file; the pixels stay
        result, dpi, trusted, warnings = _normalize(image, label=str(path), consume=True)
    as_stored = result is image and result.size == size
    if frames > 1 and image.format != "MPO":  # MPO: a camera's previews / stereo views
        warnings.append(
            f"{_format_name(image.format)} has {frames} frames; only the first was read"
        )
    return _page(path, 0, result, dpi, trusted, warnings), as_stored


def _seek(image: Image.Image, index: int, path: Path) -> None:
    try:
        with _pillow_switches():
            image.seek(index)
    except MemoryError:
        raise
    except Exception as exc:
        raise CorruptInputError(
            f"{path}, page {index + 1}: damaged TIFF page ({_reason(exc)})"
        ) from exc


def _decode(image: Image.Image, label: str, warnings: list[str]) -> float:
    """Decode ``image``'s pixels within the limits; return the decode scale (< 1
    when a huge JPEG was decoded reduced)."""
    if not getattr(image, "tile", None):
        return 1.0  # already in memory
    width, height = image.size
    if width * height > MAX_DECODE_PIXELS and image.format in ("JPEG", "MPO"):
        for k in (2, 4, 8):
            if math.ceil(width / k) * math.ceil(height / k) <= MAX_DECODE_PIXELS:
                # Draft mode makes libjpeg decode at 1/k scale: the full image is
                # never allocated.
                image.draft(image.mode, (width // k, height // k))
                break
    if image.width * image.height > MAX_DECODE_PIXELS:
        raise InputError(
            f"{label}: image is {width}×{height} ({_mpx(width * height)}), larger than "
            f"the {_mpx(MAX_DECODE_PIXELS)} this loader decodes",
            hint="split or downscale it first",
        )
    scale = image.width / width
    if scale < 1:
        warnings.append(
            f"image is {width}×{height} ({_mpx(width * height)}); decoded at 1/{round(1 / scale)} "
            f"scale ({image.width}×{image.height}) to stay within {_mpx(MAX_DECODE_PIXELS)}"
        )
    try:
        with _pillow_switches():
            image.load()
    except MemoryError:
        raise
    except Exception as exc:
        raise CorruptInputError(
            f"{label}: damaged or truncated {_format_name(image.format)} image ({_reason(exc)})"
        ) from exc
    return scale


# ---------------------------------------------------------------------- normalising


def _normalize(
    image: Image.Image, *, label: str, consume: bool
) -> tuple[Image.Image, float, bool, list[str]]:
    """:func:`normalize_image`; with ``consume``, ``image`` is closed as soon as a
    converted copy exists, so the two are not held at once longer than needed."""
    warnings: list[str] = []
    decode_scale = _decode(image, label, warnings)
    orientation = _orientation(image, warnings)
    (xdpi, ydpi), trusted = _resolution(_file_dpi(image), warnings)
    xdpi, ydpi = xdpi * decode_scale, ydpi * decode_scale
    result = _to_8bit(image)
    if consume and result is not image:
        image.close()
    result, dpi = _fit(result, xdpi, ydpi, trusted, warnings)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is not None:
        result = result.transpose(method)
    return result, dpi, trusted, warnings


def _orientation(image: Image.Image, warnings: list[str]) -> int:
    try:
        tags = getattr(image, "tag_v2", None)  # TIFF: the current frame's own tags
        value = tags.get(_EXIF_ORIENTATION, 1) if tags is not None else None
        if value is None:
            value = image.getexif().get(_EXIF_ORIENTATION, 1)
        return int(value)
    except Exception:
        warnings.append("unreadable EXIF data; orientation tag ignored")
        return 1


def _file_dpi(image: Image.Image) -> object:
    """The resolution the file records, as Pillow's ``info["dpi"]`` would give it."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return image.info.get("dpi")
    # TIFF: read the current frame's tags; ``info`` can keep an earlier frame's DPI,
    # and Pillow reports missing tags as 1 dpi.
    x, y, unit = (
        tags.get(_TIFF_X_RESOLUTION),
        tags.get(_TIFF_Y_RESOLUTION),
        tags.get(_TIFF_RESOLUTION_UNIT),
    )
    if x is None or y is None or unit == 1:  # unit 1: an aspect ratio only
        return None
    factor = 2.54 if unit == 3 else 1.0  # 3: per centimetre; 2 or absent: per inch
    try:
        return float(x) * factor, float(y) * factor
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _resolution(value: object, warnings: list[str]) -> tuple[tuple[float, float], bool]:
    """The (x, y) DPI to use for a file that records ``value``, and whether to trust
    it; see the module docstring."""
    dpi = _parse_dpi(value)
    reason = None
    if dpi is None:
        reason = "the file records no resolution"
    elif any(abs(d - p) < 0.5 for d in dpi for p in PLACEHOLDER_DPIS):
        reason = (
            f"the file says {_dpi_text(dpi)} dpi, a software default rather than a scan resolution"
        )
    elif min(dpi) < MIN_PLAUSIBLE_DPI or max(dpi) > MAX_PLAUSIBLE_DPI:
        reason = f"the file says {_dpi_text(dpi)} dpi, which is implausible"
    if reason is None and dpi is not None:
        return dpi, True
    warnings.append(f"{reason}; assuming {DEFAULT_IMAGE_DPI:g} dpi")
    return (DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI), False


def _parse_dpi(value: object) -> tuple[float, float] | None:
    try:
        if isinstance(value, (int, float)):
            x = y = float(value)
        else:
            x, y = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
        return None
    return x, y


def _to_8bit(image: Image.Image) -> Image.Image:
    """Convert to 8-bit ``L`` (grayscale sources) or ``RGB`` (the rest)."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        gray = _gray_palette(image)
        if "transparency" in image.info:
            return _flatten(image.convert("LA" if gray else "RGBA"))
        return image.convert("L" if gray else "RGB")
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        return _flatten(image)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _scale_to_l(image)
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _gray_palette(image: Image.Image) -> bool:
    """Whether every palette entry the image uses is a gray."""
    palette = image.getpalette() or []
    used = image.getcolors(256) or []
    for _, index in used:
        r, g, b = palette[3 * index : 3 * index + 3] or (0, 0, 0)
        if not r == g == b:
            return False
    return True


def _flatten(image: Image.Image) -> Image.Image:
    """Composite an image with alpha over white."""
    if image.mode in ("La", "RGBa", "PA"):
        image = image.convert({"La": "LA", "RGBa": "RGBA", "PA": "RGBA"}[image.mode])
    out_mode = "L" if image.mode == "LA" else "RGB"
    background = Image.new(out_mode, image.size, 255 if out_mode == "L" else (255, 255, 255))
    background.paste(image, mask=image)  # the alpha band of ``image`` is the mask
    return background


def _scale_to_l(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer or float samples to 8-bit gray, strip by strip."""
    if image.mode.startswith("I;16"):
        low, scale = 0.0, 255.0 / 65535.0
    else:
        low, high = (float(v) for v in image.getextrema())  # type: ignore[misc]
        if image.mode == "F" and low >= 0.0 and high <= 1.0:
            low, scale = 0.0, 255.0
        elif low >= 0.0 and high <= 255.0:
            low, scale = 0.0, 1.0
        elif low >= 0.0 and high <= 65535.0:
            low, scale = 0.0, 255.0 / 65535.0
        else:  # unknown range: stretch what is there
            scale = 255.0 / (high - low) if high > low else 1.0
    out = Image.new("L", image.size)
    width, height = image.size
    for top in range(0, height, _STRIP_ROWS):
        bottom = min(height, top + _STRIP_ROWS)
        strip = np.asarray(image.crop((0, top, width, bottom)), dtype=np.float32)
        strip = np.clip((strip - low) * scale + 0.5, 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(strip), (0, top))
    return out


def _fit(
    image: Image.Image, xdpi: float, ydpi: float, trusted: bool, warnings: list[str]
) -> tuple[Image.Image, float]:
    """Resample to square pixels and within :data:`MAX_PAGE_PIXELS`; return the
    image and its (square) DPI."""
    width, height = image.size
    if abs(xdpi - ydpi) > 0.01 * max(xdpi, ydpi):
        dpi = max(xdpi, ydpi)
        target_w, target_h = width * dpi / xdpi, height * dpi / ydpi
        warnings.append(
            f"non-square pixels ({_dpi_text((xdpi, ydpi))} dpi) resampled to {dpi:.0f} dpi"
        )
    else:
        dpi = (xdpi + ydpi) / 2
        target_w, target_h = float(width), float(height)
    if target_w * target_h > MAX_PAGE_PIXELS:
        shrink = math.sqrt(MAX_PAGE_PIXELS / (target_w * target_h))
        target_w, target_h, dpi = target_w * shrink, target_h * shrink, dpi * shrink
        warnings.append(
            f"image is {width}×{height} ({_mpx(width * height)}), above the "
            f"{_mpx(MAX_PAGE_PIXELS)} page limit; downscaled to "
            f"{math.floor(target_w)}×{math.floor(target_h)} ({dpi:.0f} dpi"
            f"{'' if trusted else ' from the assumed resolution'})"
        )
        size = (max(1, math.floor(target_w)), max(1, math.floor(target_h)))
    else:
        size = (max(1, round(target_w)), max(1, round(target_h)))
    if size != image.size:
        # reducing_gap: an integer box reduction first, then Lanczos (fast, same quality).
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image, dpi


# ---------------------------------------------------------------------- helpers


def _page(
    path: Path, index: int, image: Image.Image, dpi: float, trusted: bool, warnings: list[str]
) -> Page:
    return Page(
        source=path,
        index=index,
        image=image,
        dpi=dpi,
        dpi_trusted=trusted,
        original_size=image.size,
        warnings=warnings,
    )


def _format_name(fmt: str | None) -> str:
    return {"JPEG2000": "JPEG 2000", "PPM": "PNM", "WEBP": "WebP", "MPO": "JPEG"}.get(
        fmt or "", fmt or "image"
    )


def _reason(exc: BaseException) -> str:
    """One line from an exception raised by Pillow."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _mpx(pixels: float) -> str:
    return f"{pixels / 1e6:.3g} Mpx"


def _dpi_text(dpi: tuple[float, float]) -> str:
    x, y = dpi
    return f"{x:.0f}" if abs(x - y) < 0.5 else f"{x:.0f}×{y:.0f}"
