"""The pipeline: load → filter → prepare → restore → OCR → fuse → write.

:class:`Pipeline` loads plugins and resolves components once; call
:meth:`Pipeline.run` for each input. Models stay loaded between runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tair_ocr._version import __version__
from tair_ocr.calibration import (
    calibrate_words,
    load_calibration,
    page_quality,
    raw_score,
    restored_condition,
)
from tair_ocr.components import (
    LoadedDocument,
    Loader,
    OcrEngine,
    Restorer,
    Writer,
    checked_availability,
)
from tair_ocr.decision import Decision, DecisionParams, decide, line_height
from tair_ocr.errors import (
    InputError,
    MissingDependencyError,
    TairOcrError,
    UnsupportedInputError,
    UsageError,
)
from tair_ocr.existing_text import EXISTING_SOURCES, PageAction, outside_text, page_action
from tair_ocr.filters.perspective import PerspectiveFilter, judge
from tair_ocr.fusion import assign_layout, fusion_counters
from tair_ocr.geometry import Affine, map_word
from tair_ocr.layout import build_blocks
from tair_ocr.motion_blur import deblur_image
from tair_ocr.outputs import atomic_destination, plan_outputs, refuse_existing
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.perspective import map_blocks as map_blocks_to_photo
from tair_ocr.perspective import map_box as map_box_to_photo
from tair_ocr.plugins import DEFAULT_PLUGINS, PluginManager
from tair_ocr.progress import NoProgress, ProgressReporter
from tair_ocr.readings import Reading
from tair_ocr.restorers.identity import IdentityRestorer
from tair_ocr.results import (
    BBox,
    Block,
    DocumentResult,
    ExistingTextRecord,
    Line,
    LoadedSource,
    MotionBlurCorrection,
    PageError,
    PageGeometry,
    PageResult,
    RestorationDecision,
    Word,
)
from tair_ocr.settings import Settings, parse_page_ranges
from tair_ocr.working_scale import MAX_AUTO_SCALE, resample

if TYPE_CHECKING:
    from tair_ocr.restoration import RestoredPage

log = logging.getLogger(__name__)

#: Most bytes of loaded page images kept for the writers that show them (the pdf
#: writer, ``Writer.shows_pages``) until the outputs are written; pages past it are
#: read from the source again when written.
KEPT_IMAGE_BYTES = 256 * 1024 * 1024

#: The restorer of a page only brought to a fixed working scale (``--scale`` without
#: restoration): resampled, never restored.
_RESAMPLE_ONLY = IdentityRestorer()

#: The source suffix of a re-read of regions enlarged by resampling
#: (``"rapidocr:enlarged"``; see :meth:`Pipeline._read_enlarged`).
ENLARGED_SOURCE = "enlarged"
#: ... and the least enlargement worth a re-read. Less gained nothing measurable
#: (rapidocr on synthetic small print of x-height 5.6-7 px and on FUNSD forms of
#: 6-8 px read alike, or worse, enlarged to 10 px) and costs a detector run per
#: region; text of 5 px and less reads much better enlarged.
MIN_ENLARGEMENT = 2.0
#: ... and the most pixels a page enlarged for a re-read may have: the synthetic
#: benchmark's three enlarged pages took 2.4-4 s more than RapidOCR alone per
#: enlarged megapixel (two cores, shared with another run), and a 12-Mpx phone photo
#: of tiny print enlarged 2.5× would hold 75 Mpx. A page that cannot reach
#: :data:`MIN_ENLARGEMENT` within it is not re-read enlarged.
MAX_ENLARGED_PIXELS = 16_000_000

#: The timing label suffix of the primary engine's reading of a motion-blurred page
#: deconvolved (``"ocr:rapidocr:deblurred"``; see :meth:`Pipeline._deblurred`).
DEBLURRED_SOURCE = "deblurred"

#: The document warning of a run whose every page failed: it writes no outputs
#: (an existing output is kept).
NOTHING_WRITTEN = "every page failed; no outputs written"

#: Called with a document's result and its outputs written to their temporary
#: files (by writer name), before any is renamed into place (see :meth:`Pipeline.write`).
OnWritten = Callable[[DocumentResult, dict[str, Path]], None]

#: Set (true) on log records whose message the result records too (page warnings
#: and failures): the command line prints those from the result and drops the
#: records, so nothing shows twice.
RECORDED_IN_RESULT = "tair_ocr_recorded"


@dataclass
class PendingRestoration:
    """A page read first whose unsure regions wait for the restorer (and then for
    the engines' re-reading): what :meth:`Pipeline.read_page` found, for
    :meth:`Pipeline.restore_page` and :meth:`Pipeline.finish_page`."""

    #: The page as read (its reading frame; at the working scale when ``--scale``
    #: was given without restoration).
    page: Page
    #: The analysis of ``page.image``, shared with the restoration stage (None once
    #: it has run: its measurements need not travel on).
    analysis: PageAnalysis | None
    #: The readings so far: the primary engine's, then the second opinions.
    readings: list[Reading]
    #: The regions the decide step chose, in ``page`` pixels and in original pixels.
    regions: list[BBox]
    original_regions: list[BBox]
    #: Context around a region when it is cut out to be read (a text line).
    margin: float
    #: The decision (``PageResult.decision``): the restoration stage adds its counts.
    record: RestorationDecision
    #: The working scale of the restoration.
    factor: float = 1.0
    #: Restore every tile (``--restore always``), not only those meeting ``regions``.
    whole: bool = False
    #: The engines that re-read the restored regions (names; none: nothing to restore).
    rereaders: list[str] = field(default_factory=list)
    #: The restored page, once the restoration stage has run.
    restored: RestoredPage | None = None


@dataclass
class PageWork:
    """One page on its way through the data path, between the stages
    :meth:`Pipeline.prepare_page` (page filters) → :meth:`Pipeline.read_page` (read
    first, decide, second opinions) → :meth:`Pipeline.restore_page` (the restorer)
    → :meth:`Pipeline.finish_page` (re-read, fuse, layout).

    Plain data, picklable: the local backend runs the stages one after the other in
    one process, the Ray backend (:mod:`tair_ocr.batch.ray_backend`) ships it from
    one worker to the next. A page that failed in a stage carries its error in
    ``result`` and passes through the later stages untouched.
    """

    #: The page as the page filters left it.
    page: Page
    result: PageResult
    #: The kind of the document (its loader's): the perspective guard shows a PDF's
    #: pages as they are.
    kind: str = "image"
    #: What to do with the page given the text it already has.
    action: PageAction = "ocr"
    #: The primary engine's reading of an image already read (the perspective
    #: guard's), reused as the first reading when the page read is that image.
    first_reading: tuple[Image.Image, list[Word]] | None = None
    #: ``<output dir>/<stem>`` when the restored page images are saved, else None.
    restored_prefix: Path | None = None
    #: The page's words (original pixels of the reading frame) once it is read
    #: and nothing waits for restoration.
    words: list[Word] | None = None
    #: What waits for the restorer, when the first reading was unsure somewhere.
    pending: PendingRestoration | None = None

    @property
    def failed(self) -> bool:
        return self.result.error is not None

    @property
    def needs_restoration(self) -> bool:
        """Whether :meth:`Pipeline.restore_page` has work to do on this page."""
        pending = self.pending
        return (
            not self.failed
            and pending is not None
            and pending.restored is None
            and bool(pending.rereaders)
        )


class Pipeline:
    """Restore and OCR documents. Create once, run many times.

    >>> pipeline = Pipeline(engine="tesseract", output_types=["txt", "json"])
    >>> result = pipeline.run("scan.pdf", output_dir="out")   # doctest: +SKIP

    Keyword arguments are those of :class:`tair_ocr.settings.Settings`, plus
    ``plugins`` (extra plugin modules/files/objects), ``autoload`` (entry-point
    discovery) and ``progress`` (a :class:`~tair_ocr.progress.ProgressReporter`).
    ``require_restorer=False`` configures the restorer without requiring it to be
    available here: for a process that never restores (the Ray backend's driver
    and OCR workers, when the restorer runs on GPU workers).
    Plugin options go in ``options``, nested by namespace or flat (they are
    validated into the plugins' option models; see :mod:`tair_ocr.options`):

    >>> Pipeline(engine="tesseract", options={"tesseract": {"psm": 6}})  # doctest: +SKIP
    >>> Pipeline(engine="tesseract", options={"tesseract_psm": 6})       # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        plugins: Sequence[str | object] = (),
        autoload: bool | None = None,
        progress: ProgressReporter | None = None,
        plugin_manager: PluginManager | None = None,
        require_restorer: bool = True,
        **settings: Any,
    ) -> None:
        self.plugins = plugin_manager or PluginManager(plugins=plugins, autoload=autoload)
        # Plugin options are validated into the installed plugins' models here, at
        # the boundary; components receive their own validated model instance.
        context = {"option_models": self.plugins.option_models}
        settings.setdefault("options", {})  # validated too: every namespace, with defaults
        try:
            self.settings = Settings.model_validate(settings, context=context)
        except ValueError as exc:
            raise UsageError(f"invalid settings: {exc}") from exc
        self.progress = progress or NoProgress()
        s = self.settings
        self.plugins.check_options(s.options, s)

        #: The engines whose readings are fused; the first is the primary engine.
        self.engines: list[OcrEngine] = self._select_engines(s.engines)
        self.engine: OcrEngine = self.engines[0]
        self.restorer: Restorer = self._select_restorer(s.restorer)
        self.writers: list[Writer] = [self.plugins.writers.get(t) for t in s.output_types]
        self.filters = self._select_filters(s.filters)
        # Engines that are not thread-safe read one page at a time, while the
        # other engines may read other pages meanwhile.
        self._engine_locks = {e.name: threading.Lock() for e in self.engines if not e.parallel_safe}
        for component in (*self.engines, self.restorer, *self.writers, *self.filters):
            # Options first: availability may depend on them (a weights folder, a device).
            component.configure(s.options.for_component(component))
            if require_restorer or component is not self.restorer:
                _require_available(component)
        for engine in self.engines:
            # Missing language data stops the run here, before any output is written.
            engine.check_languages(list(s.languages))
        # One page at a time through the restorer (one model, batched tiles).
        self._restore_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ selection

    def _select_engines(self, names: list[str]) -> list[OcrEngine]:
        registry = self.plugins.engines
        fusion_off = self.settings.fusion == "off"
        if names != ["auto"]:
            if len(names) > 1 and fusion_off:
                raise UsageError(
                    "--fusion off reads with one engine; name one with --engine or turn fusion on"
                )
            return [registry.get(name) for name in names]
        usable, unusable = [], []
        for engine in registry:
            availability = checked_availability(engine)
            (usable if availability.ok else unusable).append((engine, availability))
        if not usable:
            reasons = "; ".join(f"{e.name}: {a.reason}" for e, a in unusable)
            hints = "; ".join(a.hint for _, a in unusable if a.hint)
            raise MissingDependencyError(
                f"no OCR engine is available ({reasons or 'none installed'})", hint=hints or None
            )
        # The primary engine (the one that reads every page whole, and the one
        # "--fusion off" keeps) is the one most often right on the calibration
        # pages; uncalibrated engines follow, built-ins first.
        usable.sort(
            key=lambda item: (
                -_calibrated_accuracy(item[0].name),
                registry.plugin_of(item[0].name) not in DEFAULT_PLUGINS,
            )
        )
        engines = [engine for engine, _ in usable][: 1 if fusion_off else None]
        log.info("engine 'auto': %s", ", ".join(e.name for e in engines))
        return engines

    @property
    def engine_label(self) -> str:
        """The engine names joined by commas (what results record as ``engine``)."""
        return ",".join(e.name for e in self.engines)

    def _select_restorer(self, name: str) -> Restorer:
        if name != "auto":
            return self.plugins.restorers.get(name)
        from tair_ocr.restorers.selection import choose_restorer

        restorer, why = choose_restorer(self.plugins.restorers)
        log.info("restorer 'auto' picked %r: %s", restorer.name, why)
        return restorer

    def _select_filters(self, names: list[str]) -> list[Any]:
        registry = self.plugins.page_filters
        chosen = [f for f in registry if f.enabled_by_default]
        for name in names:
            f = registry.get(name)
            if f not in chosen:
                chosen.append(f)
        return sorted(chosen, key=lambda f: f.order)

    # ------------------------------------------------------------------ public API

    def run(
        self,
        source: str | Path | Image.Image,
        *,
        output_dir: str | Path | None = None,
        write: bool | None = None,
        outputs: Mapping[str, Path] | None = None,
        overwrite: bool | None = None,
        on_written: OnWritten | None = None,
    ) -> DocumentResult:
        """Process one input and return its :class:`DocumentResult`.

        ``source`` is a path to a PDF or image, or a PIL image. Outputs are
        written (to ``output_dir``, default the settings' ``output_dir``) when
        ``write`` is true; by default they are written for paths and not for
        in-memory images. ``outputs`` are the output paths by writer name when
        already planned (:func:`~tair_ocr.outputs.plan_outputs`, as the command
        line plans all its inputs at once); existing ones are still refused
        unless ``overwrite`` (default: the settings' ``force``; a batch job that
        resumes passes True for outputs its ledger shows it wrote). Failed pages
        are recorded in the result, not raised; when every page failed, no outputs
        are written (``result.warnings`` says so). ``on_written`` is called when the
        outputs are written, before they are renamed into place (:meth:`write`).
        An unreadable input raises :class:`~tair_ocr.errors.InputError`.
        """
        if self._closed:
            raise RuntimeError("this Pipeline is closed")
        if isinstance(source, Image.Image):
            return self._run_document(_InMemoryDocument(source), "<image>", plan=None)
        path = Path(source)
        if write is None:
            write = True
        if overwrite is None:
            overwrite = self.settings.force
        plan = None
        prefix = None
        if write:
            out = Path(output_dir) if output_dir is not None else self.settings.output_dir
            if outputs is None:
                plan = plan_outputs([path], out, self.writers, force=overwrite)[path]
            else:
                plan = dict(outputs)
                if not overwrite:
                    refuse_existing(plan)
            prefix = self.restored_prefix(path, out)
        with self.open(path) as document:
            return self._run_document(
                document, str(path), plan=plan, restored_prefix=prefix, on_written=on_written
            )

    def restored_prefix(self, source: Path, output_dir: Path) -> Path | None:
        """Where ``--save-restored`` writes the restored pages of ``source``
        (``<output_dir>/<stem>``, then ``.p0001.restored.png``...); None without it."""
        return output_dir / source.stem if self.settings.save_restored else None

    def page_indices(self, document: LoadedDocument) -> list[int]:
        """The 0-based indices of the pages of ``document`` to process, in order
        (``--pages``). Raises :class:`~tair_ocr.errors.EmptyInputError` when the
        selection matches none."""
        pages = self.settings.pages
        return (
            parse_page_ranges(pages, document.page_count)
            if pages
            else list(range(document.page_count))
        )

    def new_result(self, source: str, kind: str) -> DocumentResult:
        """An empty :class:`DocumentResult` for ``source``, with this run's settings."""
        return DocumentResult(
            source=source,
            kind=kind,
            engine=self.engine_label,
            restorer=self.restorer.name,
            languages=list(self.settings.languages),
            tair_ocr_version=__version__,
        )

    def failed_load(self, index: int, exc: BaseException) -> PageResult:
        """The result of a page that could not be loaded (recorded, as every failure)."""
        return _failed_load(index, exc)

    def open(self, path: Path) -> LoadedDocument:
        """Open ``path`` with the first loader that accepts it."""
        loader = self.find_loader(path)
        return loader.open(path, dpi=self.settings.dpi)

    def find_loader(self, path: Path) -> Loader:
        try:
            with path.open("rb") as fh:
                head = fh.read(64)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if not head:
            raise UnsupportedInputError(f"{path}: empty file")
        for loader in self.plugins.loaders:
            if loader.accepts(path, head):
                return loader
        raise UnsupportedInputError(
            f"{path}: not a PDF or a supported image "
            f"(loaders: {', '.join(self.plugins.loaders.names())})"
        )

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the work

    def _run_document(
        self,
        document: LoadedDocument,
        source: str,
        plan: dict[str, Path] | None,
        restored_prefix: Path | None = None,
        on_written: OnWritten | None = None,
    ) -> DocumentResult:
        started = time.perf_counter()
        indices = self.page_indices(document)
        result = self.new_result(source, document.kind)
        # The page images as loaded, for the writers that show them (not decoded again).
        kept = (
            LoadedSource(embeddable_jpeg=document.embeddable_jpeg)
            if plan is not None and any(document.kind in w.shows_pages for w in self.writers)
            else None
        )
        self.progress.start_document(Path(source).name, len(indices))
        try:
            result.pages = list(self._process_pages(document, indices, kept, restored_prefix))
        finally:
            self.progress.end_document()
        result.timings["total"] = time.perf_counter() - started
        self.finish_document(result, plan, kept, on_written=on_written)
        return result

    def finish_document(
        self,
        result: DocumentResult,
        plan: Mapping[str, Path] | None,
        kept: LoadedSource | None = None,
        *,
        on_written: OnWritten | None = None,
    ) -> bool:
        """Write the outputs of ``result`` (its pages all done) to ``plan``; with
        ``kept``, the writers that show the pages find the page images there. A
        document whose every page failed gets no outputs (an output without a page
        would only block a rerun), and a warning saying so. Returns whether outputs
        were written (``on_written``: see :meth:`write`)."""
        if plan is not None and result.pages and not any(p.ok for p in result.pages):
            result.warnings.append(NOTHING_WRITTEN)
            plan = None
        if plan is None:
            return False
        result.keep_loaded(kept)
        try:
            self.write(result, dict(plan), on_written=on_written)
        finally:
            result.keep_loaded(None)
        return True

    def _process_pages(
        self,
        document: LoadedDocument,
        indices: list[int],
        kept: LoadedSource | None = None,
        restored_prefix: Path | None = None,
    ) -> Iterator[PageResult]:
        """Prepare and restore pages in this thread (one model, batched tiles),
        and OCR up to ``jobs`` of them at once in worker threads. With ``kept``,
        the page images as loaded are kept there (within :data:`KEPT_IMAGE_BYTES`)."""
        workers = self.settings.jobs if any(e.parallel_safe for e in self.engines) else 1
        pending: deque[Future[PageResult] | PageResult] = deque()
        kept_bytes = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
            for page in _guarded_pages(document, indices):
                if isinstance(page, PageResult):  # the page failed to load
                    pending.append(page)
                else:
                    if kept is not None:
                        image = page.image
                        size = image.width * image.height * len(image.getbands())
                        if kept_bytes + size <= KEPT_IMAGE_BYTES:
                            kept.images[page.index] = image
                            kept_bytes += size
                    work = self.prepare_page(
                        page, kind=document.kind, restored_prefix=restored_prefix
                    )
                    if work.failed:
                        pending.append(work.result)
                    else:
                        pending.append(pool.submit(self.process_page, work))
                # Bound the pages held in memory: wait for the oldest when full.
                while len(pending) > workers:
                    yield self._finish(pending.popleft())
            while pending:
                yield self._finish(pending.popleft())

    def _finish(self, item: Future[PageResult] | PageResult) -> PageResult:
        result = item if isinstance(item, PageResult) else item.result()
        self.progress.page_done()
        return result

    # ------------------------------------------------------------------ the page stages
    #
    # One page goes prepare_page -> read_page -> restore_page -> finish_page
    # (process_page runs them in turn). The Ray backend runs them on different
    # workers, PageWork travelling between them: one implementation of the data path.

    def process_page(self, work: PageWork) -> PageResult:
        """Read, restore and finish a prepared page, in this thread (the restorer
        serves one page at a time)."""
        return self.finish_page(self.restore_page(self.read_page(work)))

    def prepare_page(
        self, page: Page, *, kind: str = "image", restored_prefix: Path | None = None
    ) -> PageWork:
        """The page filters (orientation, deskew, perspective with its guard) on a
        page as loaded; ``kind`` is its document's, ``restored_prefix`` where
        ``--save-restored`` writes. A failure is recorded in the work's result."""
        result = PageResult(
            index=page.index,
            width=page.original_size[0],
            height=page.original_size[1],
            dpi=page.dpi,
            engine=self.engine_label,
            restorer=self.restorer.name,
            warnings=list(page.warnings),
        )
        action = page_action(page.existing_text, self.settings.existing_text)
        work = PageWork(
            page=page, result=result, kind=kind, action=action, restored_prefix=restored_prefix
        )
        if page.existing_text is not None:
            result.existing_text = ExistingTextRecord(
                found=page.existing_text.kind,
                action=action,
                words=len(page.existing_text.words),
            )
        if action == "skip":
            return work  # passes through: nothing to straighten or read
        try:
            with _timed(result, "filters"):
                for page_filter in self.filters:
                    with _timed(result, f"filter:{page_filter.name}"):
                        work.page = page_filter.apply(work.page)
                self._check_perspective(work, page)
        except Exception as exc:
            _record_failure(result, exc, stage="filters")
        _record_geometry(result, work.page, page)
        return work

    def _check_perspective(self, work: PageWork, loaded: Page) -> None:
        """The guard of a perspective correction the ``perspective`` filter proposed
        (:mod:`tair_ocr.filters.perspective`): the primary engine reads the corrected
        page (as the later filters left it) and the photo as loaded; the correction is
        kept only when it reads at least as well
        (:func:`~tair_ocr.filters.perspective.judge`).
        Rejected, the photo goes through the other filters and is read as loaded.
        The decision is recorded in ``PageGeometry.perspective``."""
        geometry = work.page.geometry
        record = geometry.perspective if geometry is not None else None
        if record is None or record.status != "proposed":
            return
        chosen = next((f for f in self.filters if isinstance(f, PerspectiveFilter)), None)
        guard = chosen is None or chosen.options.guard
        if work.kind != "image":
            record.shown = "original"  # a PDF's pages are shown as they are
        result = work.result
        keep, why, scores = True, "kept unguarded (guard off)", {}
        if guard:
            primary = self.engines[0]
            frame = _reading_frame(work.page)[0]
            with _timed(result, "perspective_guard"):
                corrected = self._recognize_image(
                    primary, frame.image, frame.working_dpi, result, primary.name
                )
                photo = self._recognize_image(
                    primary, loaded.image, loaded.working_dpi, result, f"{primary.name}:photo"
                )
            keep, why, scores = judge(corrected, photo)
        record.status = "kept" if keep else "rejected"
        record.reason = f"{record.reason}; {why}"
        record.scores = scores
        if keep:
            if guard:
                work.first_reading = (frame.image, corrected)
            if record.shown == "corrected":
                result.width, result.height = work.page.original_size
            return
        page = loaded.transformed(loaded.image, Affine())  # a copy: loaded stays as it is
        for page_filter in self.filters:
            if page_filter is not chosen:
                with _timed(result, f"filter:{page_filter.name}"):
                    page = page_filter.apply(page)
        page.geometry = (page.geometry or PageGeometry()).model_copy(update={"perspective": record})
        work.page = page
        work.first_reading = (loaded.image, photo)

    def read_page(self, work: PageWork) -> PageWork:
        """Read first, decide, second opinions (ARCHITECTURE.md, steps 4-5).

        The primary engine reads the page as loaded (where the filters left it:
        upright, level; :meth:`finish_page` maps the words back). A page read
        confidently is done here (``work.words``). Otherwise the decide step finds
        the regions whose reading is unsure, the other engines read only those
        regions (a second opinion), and ``work.pending`` says what the restorer is
        to restore and which engines re-read it (:meth:`restore_page`,
        :meth:`finish_page`). A failure is recorded in the work's result.

        The page read first is analysed once (:class:`PageAnalysis`): the decide
        step, the working-scale choice and the restoration stage (the restorer's
        page hint, the blank tiles) share its luminance and measurements.
        """
        if work.failed or work.action == "skip":
            return work  # a skipped page's words are the ones it has (finish_page)
        stage = ["ocr"]
        try:
            self._read_first(work, stage)
        except Exception as exc:
            _record_failure(work.result, exc, stage=stage[0])
        work.first_reading = None  # used: it need not travel on
        return work

    def _read_first(self, work: PageWork, stage: list[str]) -> None:
        s, result = self.settings, work.result
        page = _reading_frame(work.page)[0]
        restoring = not self.restorer.is_identity and s.restore != "never"
        if not restoring and s.scale is not None:
            # No restoration, but a fixed working scale: the engines read the page
            # resampled (what --scale did before read-first).
            stage[0] = "restore"
            page = self._restore(work, page, regions=None, scale_only=True).page
            stage[0] = "ocr"
        analysis = PageAnalysis(page.image)  # measured on first use, once
        primary, others = self.engines[0], self.engines[1:]
        reused = work.first_reading
        if reused is not None and reused[0] is page.image:
            first = reused[1]  # the perspective guard read this image already
        else:
            first = self._recognize_image(
                primary, page.image, page.working_dpi, result, primary.name
            )
        deblurring = None
        if restoring and s.deblur:
            deblurring, deblurred = self._deblurred(page, analysis, first, result)
            if deblurred is not None:
                page, first = deblurred
                analysis = PageAnalysis(page.image)
                self._save_restored(work, page)  # restoring it later writes it again
        readings = [Reading(primary.name, [_to_original(w, page) for w in first], restored=False)]
        if s.fusion == "off":
            others = []
        if not restoring and not others:
            work.words = readings[0].words
            return

        # Decide.
        with _timed(result, "decide"):
            if restoring and s.restore == "always":
                full = BBox(x0=0, y0=0, x1=page.width, y1=page.height)
                height = line_height(first, analysis)
                decision = Decision(regions=[full], line_height=height)
                decision.reasons["always"] = 1
            else:
                params = DecisionParams(small_text_height=primary.min_text_height)
                decision = decide(analysis, first, params)
        regions = decision.regions
        original_regions = [page.to_original.box(r) for r in regions]
        record = RestorationDecision(
            mode=s.restore if restoring else "never",
            reasons=dict(decision.reasons),
            regions=original_regions,
            deblurred=deblurring,
        )
        if restoring:
            result.decision = record
        if not regions:
            work.words = readings[0].words
            return
        margin = decision.line_height

        # Second opinions on the unsure regions of the page as loaded, from engines
        # for which its text is big enough (tesseract guesses at tiny print with
        # scores that its calibration, pooled over page kinds, takes for sure).
        for engine in others:
            if engine.min_text_height > margin:
                result.counters["second_opinions_skipped"] = (
                    result.counters.get("second_opinions_skipped", 0) + 1
                )
                continue
            try:
                words = self._read_regions(
                    engine, page, regions, margin, result, condition="original"
                )
            except Exception as exc:
                self._engine_warning(result, engine, exc, "on the page as loaded")
                continue
            readings.append(Reading(engine.name, words, restored=False, regions=original_regions))
        pending = PendingRestoration(
            page=page,
            analysis=analysis,
            readings=readings,
            regions=regions,
            original_regions=original_regions,
            margin=margin,
            record=record,
        )
        work.pending = pending
        if restoring:
            # Which tiles to restore, and which engines re-read them.
            from tair_ocr.restoration import working_scale

            stage[0] = "restore"
            pending.factor = working_scale(analysis, s.scale)
            pending.whole = s.restore == "always"
            pending.rereaders = [e.name for e in self._rereaders(pending.whole, pending.factor)]
            stage[0] = "ocr"
            if not pending.rereaders:
                # No engine reads this restorer's output of such a page better than
                # the page as loaded (calibration): restoring would only cost time.
                record.reasons["no_engine_gains"] = 1
            self._read_enlarged(pending, result)

    def restore_page(self, work: PageWork) -> PageWork:
        """Restore the tiles of the unsure regions (ARCHITECTURE.md, step 6), when
        :meth:`read_page` left some (``work.needs_restoration``): the restorer gets
        the chosen tiles in batches. A failure is recorded in the work's result."""
        if not work.needs_restoration:
            return work
        pending = work.pending
        assert pending is not None
        try:
            restored = self._restore(
                work,
                pending.page,
                regions=None if pending.whole else pending.regions,
                scale=pending.factor,
                analysis=pending.analysis,
            )
        except Exception as exc:
            _record_failure(work.result, exc, stage="restore")
            return work
        record = pending.record
        record.tiles_considered = restored.counters.get("tiles_total", 0) - (
            restored.counters.get("tiles_skipped", 0)
        )
        record.tiles_restored = restored.counters.get("tiles_restored", 0)
        pending.restored = restored
        pending.analysis = None
        return work

    def finish_page(self, work: PageWork) -> PageResult:
        """Re-read the restored regions, fuse the readings (steps 7-8), keep or add
        the page's own text, and lay the words out in blocks and lines, in pixels
        of the page as loaded: the page's :class:`PageResult`. A failure is
        recorded in it."""
        result = work.result
        if work.failed:
            return result
        existing, record = work.page.existing_text, result.existing_text
        try:
            if work.action == "skip" and existing is not None:
                words = list(existing.words)
            else:
                back = _reading_frame(work.page)[1]
                words = _to_loaded(self._fused_words(work), back, result)
            if work.action == "redo" and existing is not None and existing.visible:
                # Born-digital text is exact: OCR only adds what it does not say.
                kept = outside_text(words, existing.visible)
                if record is not None:
                    record.duplicates_dropped = len(words) - len(kept)
                words = kept + existing.visible
            if record is not None:
                record.kept = sum(w.source in EXISTING_SOURCES for w in words)
            result.counters.update(fusion_counters(words))
            result.blocks = _layout(words, _reading_frame(work.page)[1])
            _show_photo(result)
        except Exception as exc:
            _record_failure(result, exc, stage="ocr")
        return result

    def _fused_words(self, work: PageWork) -> list[Word]:
        """The page's words in original pixels of its reading frame: the first
        reading when nothing was unsure, else the fusion of every reading (the
        restored regions re-read first)."""
        if work.words is not None:
            return work.words
        pending = work.pending
        if pending is None:
            raise RuntimeError("finish_page before read_page")
        s, result = self.settings, work.result
        readings = pending.readings
        original_regions, margin = pending.original_regions, pending.margin
        restored = pending.restored
        if restored is not None:
            to_restored = restored.page.to_original.inverse()
            restored_regions = [to_restored.box(r) for r in original_regions]
            by_name = {e.name: e for e in self.engines}
            for engine in (by_name[name] for name in pending.rereaders):
                try:
                    words = self._read_regions(
                        engine,
                        restored.page,
                        restored_regions,
                        margin * restored.scale,
                        result,
                        condition=restored_condition(restored.scale),
                    )
                except Exception as exc:
                    self._engine_warning(result, engine, exc, "on the restored page")
                    continue
                label = f"{engine.name}:restored"
                readings.append(
                    Reading(
                        label,
                        words,
                        restored=True,
                        engine=engine.name,
                        regions=original_regions,
                    )
                )
            spotted = [
                w
                for w in (_to_original(w, restored.page) for w in restored.spotted)
                if w.bbox.centre_in(original_regions)
            ]
            if spotted:
                source = f"spotter:{self.restorer.name}"
                readings.append(
                    Reading(
                        source, spotted, restored=True, kind="spotter", regions=original_regions
                    )
                )
        if len(readings) == 1:
            return readings[0].words
        if s.fusion == "off":
            # Unguarded: the restored reading replaces the first one in the regions.
            kept = [w for w in readings[0].words if not w.bbox.centre_in(original_regions)]
            reread = [w for r in readings[1:] if r.kind == "engine" for w in r.words]
            # The re-read words join the first reading's lines (their ids are the crop's).
            return assign_layout(kept + reread, readings[0].words)
        with _timed(result, "fusion"):
            words = self.plugins.fuse_readings(readings, s.fusion)
        result.counters["fusion_readings"] = len(readings)
        return words

    def _read_enlarged(self, pending: PendingRestoration, result: PageResult) -> None:
        """Small text, re-read enlarged: an engine that re-reads no restored output
        of this page (not among ``pending.rereaders``) but reads small text better
        enlarged (:attr:`OcrEngine.enlarge_to_x_height`), and whose reading of the
        page as loaded collapsed (:attr:`OcrEngine.enlarge_below_quality`), re-reads
        the unsure regions of the page as loaded resampled to that x-height. The
        reading is guarded like a restored one: a word of it wins only where it is
        more likely right than the first reading's (resampling adds no detail, so
        the engine's scores keep their meaning: the page-as-loaded calibration)."""
        text = pending.analysis.text_size if pending.analysis is not None else None
        if text is None or not text.found or text.x_height <= 0:
            return
        page = pending.page
        limit = (MAX_ENLARGED_PIXELS / max(1, page.width * page.height)) ** 0.5
        for engine in self.engines:
            if engine.name in pending.rereaders or engine.enlarge_to_x_height <= 0:
                continue
            factor = min(engine.enlarge_to_x_height / text.x_height, MAX_AUTO_SCALE, limit)
            if factor < MIN_ENLARGEMENT:
                continue
            first = next(
                (r for r in pending.readings if r.whole_page and r.engine_name == engine.name),
                None,
            )
            if first is None:
                continue  # never read whole: no evidence that its reading collapsed
            quality = page_quality([raw_score(w) for w in first.words])
            if quality is None or quality >= engine.enlarge_below_quality:
                continue  # read well enough as loaded
            try:
                words = self._read_regions(
                    engine,
                    page,
                    pending.regions,
                    pending.margin,
                    result,
                    condition="original",
                    scale=factor,
                )
            except Exception as exc:
                self._engine_warning(result, engine, exc, "on the enlarged page")
                continue
            pending.readings.append(
                Reading(
                    f"{engine.name}:{ENLARGED_SOURCE}",
                    words,
                    restored=True,
                    engine=engine.name,
                    regions=pending.original_regions,
                )
            )
            pending.record.enlarged[engine.name] = round(factor, 3)

    def _deblurred(
        self, page: Page, analysis: PageAnalysis, first: list[Word], result: PageResult
    ) -> tuple[MotionBlurCorrection | None, tuple[Page, list[Word]] | None]:
        """Camera shake, undone: where the page's analysis finds a linear motion blur
        (:attr:`PageAnalysis.motion_blur`), the page deconvolved with the blur
        measured on it (:func:`tair_ocr.motion_blur.deblur_image`) and the primary
        engine's reading of it, when that reads better than the page as loaded
        (the perspective guard's test, strict:
        :func:`~tair_ocr.filters.perspective.judge`). The page is then read,
        decided on and restored deconvolved, as a deskewed page is read level.
        Returns what was found (None: no blur) and the page and reading to go on
        with (None: the page as loaded). Extra work on a page already read: a
        failure (out of memory, an engine crash) is a warning, and the page is read
        as loaded."""
        primary = self.engines[0]
        correction = None
        try:
            with _timed(result, "deblur"):
                blur = analysis.motion_blur
                if blur is None:
                    return None, None
                correction = MotionBlurCorrection(
                    length=round(blur.length, 2),
                    angle=round(blur.angle, 1),
                    strength=round(blur.strength, 1),
                    status="rejected",
                )
                image = deblur_image(page.image, blur, analysis.gray)
            words = self._recognize_image(
                primary, image, page.working_dpi, result, f"{primary.name}:{DEBLURRED_SOURCE}"
            )
        except Exception as exc:
            message = f"undoing the camera shake failed: {_describe(exc)}; read as loaded"
            _warn(result, message)
            if correction is not None:
                correction.status, correction.reason = "failed", _describe(exc)
            return correction, None
        keep, correction.reason, correction.scores = judge(words, first, strict=True)
        if not keep:
            return correction, None
        correction.status = "kept"
        return correction, (page.transformed(image, Affine.identity()), words)

    def _rereaders(self, always: bool, scale: float) -> list[OcrEngine]:
        """The engines that re-read restored regions: all of them with ``--restore
        always``; otherwise those that read this restorer's output (at this working
        ``scale``: sharpened, or enlarged) at least as well as the primary engine
        reads the same calibration pages as loaded: a re-read that is worse than the
        reading already made rarely wins a word and costs a restoration. Engines
        without calibration data re-read."""
        if always:
            return list(self.engines)
        condition = restored_condition(scale)
        name = self.restorer.name
        primary = load_calibration(self.engines[0].name, condition, name)
        baseline = primary.stats.get("original_accuracy") if primary is not None else None
        chosen = []
        for engine in self.engines:
            after = load_calibration(engine.name, condition, name)
            unknown = after is None or after.condition == "original" or baseline is None
            if unknown or after.accuracy >= baseline:
                chosen.append(engine)
        return chosen

    def _engine_warning(
        self, result: PageResult, engine: OcrEngine, exc: Exception, where: str
    ) -> None:
        _warn(result, f"engine {engine.name} failed {where}: {_describe(exc)}")

    def _restore(
        self,
        work: PageWork,
        page: Page,
        *,
        regions: list[BBox] | None,
        scale: float | None = None,
        scale_only: bool = False,
        analysis: PageAnalysis | None = None,
    ) -> RestoredPage:
        from tair_ocr.restoration import restore_page

        if scale is None:
            scale = self.settings.scale
        if scale_only:
            # Resampled only (no restoration: --restore never, or restorer none).
            restored = restore_page(page, _RESAMPLE_ONLY, scale=scale, analysis=analysis)
        else:
            with self._restore_lock:
                restored = restore_page(
                    page, self.restorer, scale=scale, regions=regions, analysis=analysis
                )
        result = work.result
        result.scale = restored.scale
        result.counters.update(restored.counters)
        for key, seconds in restored.timings.items():
            result.timings[key] = result.timings.get(key, 0.0) + seconds
        if not scale_only:
            self._save_restored(work, restored.page)
        return restored

    def _save_restored(self, work: PageWork, page: Page) -> None:
        """Write ``page`` (restored, or deconvolved) as the page's restored image, when
        the run saves them (``--save-restored``); a later one replaces it."""
        if work.restored_prefix is None:
            return
        target = Path(f"{work.restored_prefix}.p{page.index + 1:04d}.restored.png")
        with atomic_destination(target) as tmp:
            page.image.save(tmp, format="PNG", dpi=(page.working_dpi,) * 2)
        work.result.restored_image = str(target)

    def _read_regions(
        self,
        engine: OcrEngine,
        page: Page,
        regions: Sequence[BBox],
        margin: float,
        result: PageResult,
        *,
        condition: str,
        scale: float = 1.0,
    ) -> list[Word]:
        """``engine`` on crops of ``page`` around ``regions`` (its pixels), with
        ``margin`` pixels of context, each resampled by ``scale``; the words whose
        centre lies in a region, in original page pixels."""
        words: list[Word] = []
        for region in regions:
            x0 = max(0, int(region.x0 - margin))
            y0 = max(0, int(region.y0 - margin))
            x1 = min(page.width, int(np.ceil(region.x1 + margin)))
            y1 = min(page.height, int(np.ceil(region.y1 + margin)))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            whole = (x0, y0, x1, y1) == (0, 0, page.width, page.height)
            # The crop as a page of its own: its transform maps words to the original.
            crop = (
                page
                if whole
                else page.transformed(page.image.crop((x0, y0, x1, y1)), Affine.translation(x0, y0))
            )
            inside = [region if whole else Affine.translation(-x0, -y0).box(region)]
            label = engine.name if condition == "original" else f"{engine.name}:{condition}"
            if scale != 1.0:
                image, back = resample(crop.image, scale)
                crop = crop.transformed(image, back)
                inside = [back.inverse().box(inside[0])]
                label = f"{label}:{ENLARGED_SOURCE}"
            found = self._recognize_image(
                engine,
                crop.image,
                crop.working_dpi,
                result,
                label,
                condition=condition,
                region=not whole,
            )
            kept = [_to_original(w, crop) for w in found if w.bbox.centre_in(inside)]
            words += _after_ids(kept, words)
        # The crops make one reading: calibrated as a whole (its page quality).
        return calibrate_words(words, engine.name, condition, self.restorer.name)

    def _recognize_image(
        self,
        engine: OcrEngine,
        image: Image.Image,
        dpi: float,
        result: PageResult,
        label: str,
        *,
        condition: str = "original",
        region: bool = False,
    ) -> list[Word]:
        """One engine on one image (a page, or a ``region`` cut from one); words in
        its pixels with calibrated confidences. Its seconds are recorded as ``ocr``
        and ``ocr:<label>``."""
        s = self.settings
        lock: AbstractContextManager[Any] = self._engine_locks.get(engine.name) or nullcontext()
        read = engine.recognize_region if region else engine.recognize
        with lock, _timed(result, "ocr"):
            started = time.perf_counter()
            words = read(image, languages=s.languages, dpi=dpi, timeout=s.timeout)
            key = f"ocr:{label}"
            result.timings[key] = result.timings.get(key, 0.0) + time.perf_counter() - started
        return calibrate_words(words, engine.name, condition, self.restorer.name)

    # ------------------------------------------------------------------ outputs

    def write(
        self,
        result: DocumentResult,
        plan: dict[str, Path],
        *,
        on_written: OnWritten | None = None,
    ) -> None:
        """Write every selected output for ``result`` atomically, as a set: each
        goes to a temporary file beside its destination, and only when all are
        written are they renamed into place (a writer that fails leaves none).

        ``on_written`` gets ``result`` and the temporary files (by writer name)
        between the two: a batch job's ledger records the document there, so that
        no crash leaves outputs in place that it has not recorded (renaming keeps
        a file's size and modification time)."""
        with ExitStack() as stack:
            staged: dict[str, Path] = {}
            for writer in self.writers:
                tmp = stack.enter_context(atomic_destination(plan[writer.name]))
                writer.write(result, tmp)
                staged[writer.name] = tmp
            if on_written is not None:
                on_written(result, staged)
        for writer in self.writers:
            log.info("wrote %s", plan[writer.name])


# ---------------------------------------------------------------------- helpers


def _warn(result: PageResult, message: str) -> None:
    """A page warning: recorded in the result (the command line prints it from
    there) and logged."""
    result.warnings.append(message)
    log.warning("page %d: %s", result.index + 1, message, extra={RECORDED_IN_RESULT: True})


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, TairOcrError) else f"{type(exc).__name__}: {exc}"


def _calibrated_accuracy(engine: str) -> float:
    """Share of words ``engine`` read right on its calibration pages (-1 if unknown)."""
    calibration = load_calibration(engine, "original")
    return calibration.accuracy if calibration is not None else -1.0


def _require_available(component: Any) -> None:
    availability = checked_availability(component)
    if not availability.ok:
        raise MissingDependencyError(
            f"{component.name} is not available: {availability.reason}",
            hint=availability.hint or None,
        )


def _guarded_pages(document: LoadedDocument, indices: list[int]) -> Iterator[Page | PageResult]:
    """Yield pages; a page that fails to load becomes a failed PageResult."""
    pages = iter(document.pages(indices))
    for position, index in enumerate(indices):
        try:
            page = next(pages)
        except StopIteration:
            return
        except Exception as exc:
            yield _failed_load(index, exc)
            # A generator that raised is finished; resume after the bad page.
            pages = iter(document.pages(indices[position + 1 :]))
            continue
        yield page


class _timed:
    """Add the elapsed seconds of a ``with`` block to ``result.timings[name]``."""

    def __init__(self, result: PageResult, name: str) -> None:
        self.result, self.name = result, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        self.result.timings[self.name] = self.result.timings.get(self.name, 0.0) + elapsed


def _failed_load(index: int, exc: BaseException) -> PageResult:
    failed = PageResult(index=index, width=0, height=0, dpi=0)
    _record_failure(failed, exc, stage="load")
    return failed


def _record_failure(result: PageResult, exc: BaseException, *, stage: str) -> None:
    kind = type(exc).__name__
    message = str(exc) if isinstance(exc, TairOcrError) else f"{kind}: {exc}"
    if isinstance(exc, MemoryError):
        message = "out of memory"
    result.error = PageError(kind=kind, message=f"{stage}: {message}")
    result.blocks = []
    log.warning(
        "page %d failed in %s: %s",
        result.index + 1,
        stage,
        message,
        extra={RECORDED_IN_RESULT: True},
    )
    log.debug("page %d traceback", result.index + 1, exc_info=exc)


def _record_geometry(result: PageResult, filtered: Page, loaded: Page) -> None:
    """What the page filters found and did (``PageResult.geometry`` and its
    counters), and the warnings they added to the page."""
    result.warnings += filtered.warnings[len(loaded.warnings) :]
    if filtered.geometry is not None:
        result.geometry = filtered.geometry
        result.counters.update(filtered.geometry.counters())


def _show_photo(result: PageResult) -> None:
    """With a kept perspective correction shown as the photo (``--output-page
    original``), the words (read on the corrected page) and the decision's regions
    mapped onto the photo through the recorded homography."""
    record = result.geometry.perspective if result.geometry is not None else None
    if record is None or record.status != "kept" or record.shown != "original":
        return
    if record.homography is None:
        return
    result.blocks = map_blocks_to_photo(result.blocks, record.homography)
    if result.decision is not None:
        result.decision.regions = [
            map_box_to_photo(record.homography, r) for r in result.decision.regions
        ]


def _reading_frame(page: Page) -> tuple[Page, Affine]:
    """``page`` as :meth:`Pipeline._read_page` reads it, and the affine from that
    frame back to the page as loaded.

    Words, regions and lines are gathered where the page filters left the page
    (turned upright, levelled: its lines run across, as fusion and layout expect),
    at the resolution of the page as loaded: ``to_original`` keeps only its scale.
    """
    t = page.to_original
    scale = math.hypot(t.a, t.d)
    if t.is_identity or not scale:
        return page, Affine()
    return replace(page, to_original=Affine.scaling(scale)), t @ Affine.scaling(1 / scale)


def _to_loaded(words: list[Word], back: Affine, result: PageResult) -> list[Word]:
    """Words (and the decision's regions) of the reading frame mapped back to the
    page as loaded. A word turned by other than a quarter turn (a levelled page)
    keeps its exact corners as its ``polygon``; its box encloses them."""
    if back.is_identity:
        return words
    if result.decision is not None:
        result.decision.regions = [back.box(r) for r in result.decision.regions]
    square = (back.b == 0 and back.d == 0) or (back.a == 0 and back.e == 0)
    loaded = []
    for word in words:
        if word.polygon is None and not square:
            b = word.bbox
            corners = [(b.x0, b.y0), (b.x1, b.y0), (b.x1, b.y1), (b.x0, b.y1)]
            word = word.model_copy(update={"polygon": corners})
        loaded.append(map_word(word, back))
    return loaded


def _after_ids(words: list[Word], before: Sequence[Word]) -> list[Word]:
    """``words`` of one crop with block and line ids after those of the crops read
    ``before`` (each crop numbers its blocks and lines from 0: the same ids in two
    crops are different lines)."""
    blocks = [w.block_id for w in before if w.block_id is not None]
    lines = [w.line_id for w in before if w.line_id is not None]
    if not blocks and not lines:
        return words
    block_base = max(blocks, default=-1) + 1
    line_base = max(lines, default=-1) + 1
    return [
        w.model_copy(
            update={
                "block_id": None if w.block_id is None else w.block_id + block_base,
                "line_id": None if w.line_id is None else w.line_id + line_base,
            }
        )
        for w in words
    ]


def _layout(words: list[Word], back: Affine) -> list[Block]:
    """``words`` (pixels of the page as loaded) in blocks of lines, arranged in the
    reading frame (where the lines run across) and kept in the page's pixels."""
    if back.is_identity:
        return build_blocks(words)
    forward = back.inverse()
    framed = [
        w.model_copy(
            update={
                "bbox": BBox.from_points(forward.points(w.polygon))
                if w.polygon
                else forward.box(w.bbox)
            }
        )
        for w in words
    ]
    loaded = {id(f): w for f, w in zip(framed, words, strict=True)}
    blocks = []
    for block in build_blocks(framed):
        lines = []
        for line in block.lines:
            kept = [loaded.get(id(w)) or map_word(w, back) for w in line.words]
            lines.append(Line(bbox=BBox.enclosing([w.bbox for w in kept]), words=kept))
        blocks.append(Block(bbox=BBox.enclosing([ln.bbox for ln in lines]), lines=lines))
    return blocks


def _to_original(word: Word, page: Page) -> Word:
    """Map a word found on the working image to original page pixels."""
    return map_word(word, page.to_original)


class _InMemoryDocument(LoadedDocument):
    """A PIL image given to :meth:`Pipeline.run` directly."""

    kind = "image"
    page_count = 1

    def __init__(self, image: Image.Image) -> None:
        from tair_ocr.loaders.image import normalize_image

        self._image, self._dpi, self._trusted, self._warnings = normalize_image(image)

    def pages(self, indices: list[int]) -> Iterator[Page]:
        for index in indices:
            yield Page(
                source=Path("<image>"),
                index=index,
                image=self._image,
                dpi=self._dpi,
                dpi_trusted=self._trusted,
                warnings=list(self._warnings),
            )
