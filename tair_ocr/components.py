"""The objects plugins provide: OCR engines, restorers, writers, loaders, page filters.

Plugins return instances of these classes from the ``register_*`` hooks (see
:mod:`tair_ocr.hookspecs`). Registering must be cheap: load binaries and models
lazily, on first use, not in ``__init__``.

Each component has a unique ``name`` within its kind; the user selects engines,
restorers and writers by name (``--engine``, ``--restorer``, ``--output-type``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from tair_ocr.options import PluginOptions
    from tair_ocr.page import Page
    from tair_ocr.page_analysis import PageAnalysis
    from tair_ocr.results import DocumentResult, Point, Word


@dataclass(frozen=True)
class Availability:
    """Whether a component can run on this machine, and if not, why and how to fix it."""

    ok: bool
    reason: str = ""
    hint: str = ""

    @classmethod
    def yes(cls, reason: str = "") -> Availability:
        return cls(True, reason)

    @classmethod
    def no(cls, reason: str, hint: str = "") -> Availability:
        return cls(False, reason, hint)


def checked_availability(component: Component) -> Availability:
    """``component.availability()``, with a check that raises (plugins' checks must
    not, but may) reported as "not available" instead of crashing the caller."""
    try:
        return component.availability()
    except Exception as exc:
        return Availability.no(f"availability check failed: {exc}")


class Component(ABC):
    """Common base: a name, a one-line description, an availability check, options."""

    #: Unique name within the component kind; what users type on the command line.
    name: ClassVar[str]
    #: One line shown by ``tair-ocr plugins``.
    description: ClassVar[str] = ""

    def availability(self) -> Availability:
        """Can this component run here? Must be cheap-ish and never raise."""
        return Availability.yes()

    #: The component's options: a :class:`tair_ocr.options.PluginOptions` subclass
    #: (its ``namespace`` prefixes the flags, ``--tesseract-psm``), or None for none.
    #: Its flags, Python spellings and validation are generated from it.
    options_model: ClassVar[type[PluginOptions] | None] = None

    def configure(self, options: Any) -> None:  # noqa: B027 - optional hook
        """Receive the run's options for this component.

        ``options`` is the validated :attr:`options_model` instance (defaults for
        what the user did not set). A component without an ``options_model`` gets
        the untyped options plugins add with the ``add_options`` hook instead: a
        read-only mapping of argparse destinations to values.

        Called once per :class:`~tair_ocr.Pipeline`, before first use and before
        :meth:`availability` is checked, only on the components selected for the
        run. Raise :class:`tair_ocr.errors.UsageError` for values that are invalid
        here (a model's validators have checked the values themselves).
        """


# --------------------------------------------------------------------------- engines


class OcrEngine(Component):
    """An OCR engine: reads an image and returns words with boxes and confidences."""

    #: True when concurrent ``recognize`` calls from several threads are safe and
    #: useful (e.g. the engine runs a subprocess). Otherwise pages are read one
    #: at a time.
    parallel_safe: ClassVar[bool] = False
    #: Word height (pixels) below which the engine starts losing letters: words
    #: smaller than this that it does not read near-certainly are restored (at a
    #: larger working scale) and read again. 0: the engine copes with small text.
    min_text_height: ClassVar[float] = 0.0
    #: x-height (pixels) that the engine reads small text at best, when only
    #: resampling brings it there: where a page's text is at most half as high, no
    #: restorer's output reads better for the engine (its calibration) and the
    #: engine's reading of the page as loaded collapsed (below
    #: :attr:`enlarge_below_quality`), the pipeline enlarges the unsure regions to
    #: it by plain (bicubic) resampling and lets the engine read them again; fusion
    #: keeps a re-read word only where it is more likely right than the first
    #: reading's. 0: never (the engine scales small text itself, or reads it no
    #: better enlarged).
    enlarge_to_x_height: ClassVar[float] = 0.0
    #: The page quality (:func:`tair_ocr.calibration.page_quality`: the median raw
    #: score of the engine's reading of the whole page) below which that reading
    #: has collapsed, for :attr:`enlarge_to_x_height`. 1: any reading.
    enlarge_below_quality: ClassVar[float] = 1.0

    @abstractmethod
    def recognize(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: float,
        timeout: float | None = None,
    ) -> list[Word]:
        """Read ``image`` (RGB or L) and return its words in reading order.

        Boxes are in pixels of ``image``; confidences in 0–1; ``source`` is the
        engine name. Words may carry ``line_id``/``block_id`` to give the layout
        the engine saw; otherwise the framework groups them geometrically.
        Raise :class:`tair_ocr.errors.MissingDependencyError` when the engine
        (or the language data) is missing, ``TimeoutError`` past ``timeout``.
        """

    def recognize_region(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: float,
        timeout: float | None = None,
    ) -> list[Word]:
        """Read ``image``, a region cut from a page (the pipeline re-reads the
        regions whose first reading was unsure), like :meth:`recognize`.

        Override it when the engine reads a cut-out better another way (tesseract
        reads it as one block of text: its page layout analysis loses
        right-aligned columns on small crops). The default is :meth:`recognize`.
        """
        return self.recognize(image, languages=languages, dpi=dpi, timeout=timeout)

    def check_languages(self, languages: list[str]) -> None:
        """Raise :class:`tair_ocr.errors.MissingDependencyError` when data for one of
        ``languages`` is not installed, naming it and how to install it.

        The pipeline calls it once, before any page is read, so a missing language
        stops the run before outputs are written rather than failing every page.
        Called after :meth:`availability` said yes. The default accepts every
        language (an engine that reads them all, or warns itself).
        """


# --------------------------------------------------------------------------- restorers


@dataclass
class SpottedWord:
    """Text a restorer's spotter read in one tile, in that tile's output pixels."""

    text: str
    score: float
    polygon: list[Point]


@dataclass
class RestoredTiles:
    """What :meth:`Restorer.restore` returns for a batch of N tiles."""

    #: ``numpy.float32`` array N×C×(H·scale)×(W·scale) (batch, channels, rows,
    #: columns), values in [0, 1]; C is 1 (gray) or 3 (R, G, B).
    images: np.ndarray
    #: One list per tile (empty lists when the restorer has no spotter).
    words: list[list[SpottedWord]] = field(default_factory=list)


class Restorer(Component):
    """A tile restorer. The framework cuts the page into tiles, skips blank ones,
    batches the rest, calls :meth:`restore` and stitches the results.

    Tiles travel as numpy arrays, so a restorer needs no particular array library:
    one that runs a torch model (on a GPU) converts to and from torch itself and
    chooses its device and dtype there.
    """

    #: Integer upscale factor: a tile of H×W comes back (H·scale)×(W·scale).
    scale: ClassVar[int] = 1
    #: Channels the restorer reads: 1 (gray: BT.601 luma of RGB pages) or 3 (R, G,
    #: B; gray pages are replicated). Gray pages stay gray for a 1-channel restorer:
    #: its tiles are N×1×H×W and never pass through three channels.
    channels: ClassVar[int] = 3
    #: Tile edge in input pixels the restorer wants.
    tile_size: ClassVar[int] = 512
    #: Preferred batch size; halved automatically on out-of-memory.
    batch_size: int = 8
    #: True when the restorer changes nothing (the tile stage is skipped).
    is_identity: ClassVar[bool] = False
    #: True when the restorer gives spotted words (a text spotter).
    spots_text: ClassVar[bool] = False
    #: What blank tiles (skipped, never sent to :meth:`restore`) become: ``None``
    #: keeps them as they are; a gray value in [0, 1] fills them with it. Restorers
    #: that turn paper white set 1.0, so skipped paper matches restored paper (a
    #: patchwork of grey textured and white tiles makes OCR engines drop text).
    blank_paper: ClassVar[float | None] = None

    def wants_gpu(self) -> bool:
        """Whether the restorer, as configured, runs on a CUDA GPU. A backend that
        places work on a cluster (the Ray backend) gives each of its restorer
        workers a GPU, or a share of one, when true. The default: False (a CPU
        restorer). Called after :meth:`configure`; must not load the model."""
        return False

    def page_hint(self, page: PageAnalysis) -> None:
        """Optional: look at the whole page before its tiles arrive, e.g. to detect
        binary fax pages or estimate global illumination.

        ``page`` is the :class:`~tair_ocr.page_analysis.PageAnalysis` of the page
        the tiles are cut from (at the working scale): its luminance ``page.gray``
        (H×W uint8), ``page.is_binary``, ``page.text_size``, ``page.background`` and
        ``page.ink_levels`` are measured once per page and shared with the
        framework's own steps (the working-scale choice, the blank tiles), so
        reading them costs nothing more; ``page.pixels()`` gives the pixels (H×W×1
        gray or H×W×3 RGB uint8). Called once per page, before the first
        :meth:`restore` of its tiles.

        The default passes the page's pixels (H×W×3 uint8; a gray page as a
        read-only broadcast view) to :meth:`restore_page_hint` where a subclass
        overrides that: restorers written for it keep working.
        """
        if type(self).restore_page_hint is not Restorer.restore_page_hint:
            self.restore_page_hint(page.rgb())

    def restore_page_hint(self, page: np.ndarray) -> None:
        """The page hint of earlier versions: the whole page as H×W×3 uint8 pixels.
        Still called (by the default :meth:`page_hint`) when overridden; new
        restorers override :meth:`page_hint`, which gets the page's measurements
        too."""

    @abstractmethod
    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        """Restore a batch of tiles: a C-contiguous ``numpy.float32`` array
        N×C×H×W (batch, channels, rows, columns) with values in [0, 1], where C is
        :attr:`channels` (1: gray, 3: R, G, B). Must return the N tiles in input
        order as :class:`RestoredTiles`, at ``scale`` × the input size, with 1 or 3
        channels (a 1-channel result on an RGB page is gray on all three). The
        input array belongs to the framework: do not keep it past the call."""


# --------------------------------------------------------------------------- writers


class Writer(Component):
    """Writes one output format for a document."""

    #: File-name suffix, with the dot(s): ``".txt"``, ``".alto.xml"``.
    suffix: ClassVar[str]
    #: The kinds of document (:attr:`LoadedDocument.kind`) whose page images the
    #: output shows (the pdf writer: ``{"image"}``; of a PDF it copies the pages
    #: themselves). For those, the pipeline keeps the page images it loaded for
    #: :meth:`write` (``result.loaded``), so the source is not decoded again.
    shows_pages: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write ``result`` to ``destination`` (a temporary path; the framework
        renames it into place atomically). The source document is at
        ``result.source`` and may be read but never modified; for a writer that
        :attr:`shows_pages`, ``result.loaded`` holds the page images as loaded
        (when the pipeline kept them)."""


# --------------------------------------------------------------------------- loaders


class LoadedDocument(ABC):
    """An opened input: page count and lazy page iteration. A context manager."""

    #: The loader name (goes into ``DocumentResult.kind``).
    kind: str
    page_count: int
    #: For an image file: whether it is a JPEG that shows its one page exactly as
    #: loaded (one frame, grey or RGB, upright, not resampled), so a PDF can embed
    #: its bytes unchanged. The pdf writer then needs no look at the file; None
    #: (unknown) makes it look.
    embeddable_jpeg: bool | None = None

    @abstractmethod
    def pages(self, indices: list[int]) -> Iterator[Page]:
        """Yield the pages at ``indices`` (0-based, in that order), one at a time."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""

    def __enter__(self) -> LoadedDocument:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Loader(Component):
    """Opens input files of the formats it accepts."""

    @abstractmethod
    def accepts(self, path: Path, head: bytes) -> bool:
        """True when this loader reads ``path``; ``head`` is its first 64 bytes.
        Decide by content (magic bytes), not only by the file extension."""

    @abstractmethod
    def open(self, path: Path, *, dpi: float) -> LoadedDocument:
        """Open ``path``. Raise :class:`tair_ocr.errors.InputError` subclasses for
        corrupt, encrypted or empty inputs. ``dpi`` is the rasterisation DPI for
        vector inputs (PDF) and ignored by raster loaders."""


# --------------------------------------------------------------------------- filters


class PageFilter(Component):
    """A step before restoration (deskew, orientation, background removal).

    Filters form an ordered chain: every enabled filter runs, lowest ``order``
    first. A filter that changes geometry must return a page made with
    :meth:`Page.transformed` so word boxes still map back.

    The one exception is the built-in ``perspective`` filter (order 5, first): no
    affine describes a photo's perspective, so it returns the corrected page as a new
    page as loaded (its own ``original_size``, identity ``to_original``) and records
    the homography back to the photo in ``page.geometry.perspective`` (status
    ``proposed``); the pipeline then guards the correction and maps words back
    (:mod:`tair_ocr.filters.perspective`).
    """

    order: ClassVar[int] = 100
    #: Whether the filter runs when the user did not name it.
    enabled_by_default: ClassVar[bool] = False

    @abstractmethod
    def apply(self, page: Page) -> Page:
        """Return the filtered page (or ``page`` itself when nothing changes)."""
