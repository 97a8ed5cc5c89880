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
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tair_ocr._version import __version__
from tair_ocr.calibration import calibrate_words, load_calibration, restored_condition
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
from tair_ocr.outputs import atomic_destination, plan_outputs, refuse_existing
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.perspective import map_blocks as map_blocks_to_photo
from tair_ocr.perspective import map_box as map_box_to_photo
from tair_ocr.plugins import DEFAULT_PLUGINS, PluginManager
from tair_ocr.progress import NoProgress, ProgressReporter
from tair_ocr.readings import Reading
from tair_ocr.results import (
    BBox,
    Block,
    DocumentResult,
    ExistingTextRecord,
    Line,
    LoadedSource,
    PageError,
    PageGeometry,
    PageResult,
    RestorationDecision,
    Word,
)
from tair_ocr.settings import Settings, parse_page_ranges

if TYPE_CHECKING:
    from tair_ocr.restoration import RestoredPage

log = logging.getLogger(__name__)

#: Most bytes of loaded page images kept for the writers that show them (the pdf
#: writer, ``Writer.shows_pages``) until the outputs are written; pages past it are
#: read from the source again when written.
KEPT_IMAGE_BYTES = 256 * 1024 * 1024

#: The document warning of a run whose every page failed: it writes no outputs
#: (an existing output is kept).
NOTHING_WRITTEN = "every page failed; no outputs written"

#: Set (true) on log records whose message the result records too (page warnings
#: and failures): the command line prints those from the result and drops the
#: records, so nothing shows twice.
RECORDED_IN_RESULT = "tair_ocr_recorded"


@dataclass
class _PreparedPage:
    """A page after the page filters, ready to be read."""

    page: Page
    result: PageResult
    #: What to do with the page given the text it already has.
    action: PageAction = "ocr"
    #: The primary engine's reading of an image already read (the perspective
    #: guard's), reused as the first reading when the page read is that image.
    first_reading: tuple[Image.Image, list[Word]] | None = None


class Pipeline:
    """Restore and OCR documents. Create once, run many times.

    >>> pipeline = Pipeline(engine="tesseract", output_types=["txt", "json"])
    >>> result = pipeline.run("scan.pdf", output_dir="out")   # doctest: +SKIP

    Keyword arguments are those of :class:`tair_ocr.settings.Settings`, plus
    ``plugins`` (extra plugin modules/files/objects), ``autoload`` (entry-point
    discovery) and ``progress`` (a :class:`~tair_ocr.progress.ProgressReporter`).
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
            _require_available(component)
        for engine in self.engines:
            # Missing language data stops the run here, before any output is written.
            engine.check_languages(list(s.languages))
        # One page at a time through the restorer (one model, batched tiles).
        self._restore_lock = threading.Lock()
        self._closed = False
        #: The kind of the document being run (its loader's), for the perspective guard.
        self._document_kind = "image"
        #: ``<output dir>/<stem>`` while a run saves restored images, else None.
        self._restored_prefix: Path | None = None

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
    ) -> DocumentResult:
        """Process one input and return its :class:`DocumentResult`.

        ``source`` is a path to a PDF or image, or a PIL image. Outputs are
        written (to ``output_dir``, default the settings' ``output_dir``) when
        ``write`` is true; by default they are written for paths and not for
        in-memory images. ``outputs`` are the output paths by writer name when
        already planned (:func:`~tair_ocr.outputs.plan_outputs`, as the command
        line plans all its inputs at once); existing ones are still refused
        unless ``force``. Failed pages are recorded in the result, not raised;
        when every page failed, no outputs are written (``result.warnings`` says
        so). An unreadable input raises :class:`~tair_ocr.errors.InputError`.
        """
        if self._closed:
            raise RuntimeError("this Pipeline is closed")
        self._restored_prefix = None
        if isinstance(source, Image.Image):
            return self._run_document(_InMemoryDocument(source), "<image>", plan=None)
        path = Path(source)
        if write is None:
            write = True
        plan = None
        if write:
            out = Path(output_dir) if output_dir is not None else self.settings.output_dir
            if outputs is None:
                plan = plan_outputs([path], out, self.writers, force=self.settings.force)[path]
            else:
                plan = dict(outputs)
                if not self.settings.force:
                    refuse_existing(plan)
            if self.settings.save_restored:
                self._restored_prefix = out / path.stem
        with self.open(path) as document:
            return self._run_document(document, str(path), plan=plan)

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
        self, document: LoadedDocument, source: str, plan: dict[str, Path] | None
    ) -> DocumentResult:
        s = self.settings
        started = time.perf_counter()
        self._document_kind = document.kind
        indices = (
            parse_page_ranges(s.pages, document.page_count)
            if s.pages
            else list(range(document.page_count))
        )
        result = DocumentResult(
            source=source,
            kind=document.kind,
            engine=self.engine_label,
            restorer=self.restorer.name,
            languages=list(s.languages),
            tair_ocr_version=__version__,
        )
        # The page images as loaded, for the writers that show them (not decoded again).
        kept = (
            LoadedSource(embeddable_jpeg=document.embeddable_jpeg)
            if plan is not None and any(document.kind in w.shows_pages for w in self.writers)
            else None
        )
        self.progress.start_document(Path(source).name, len(indices))
        try:
            result.pages = list(self._process_pages(document, indices, kept))
        finally:
            self.progress.end_document()
        result.timings["total"] = time.perf_counter() - started
        if plan is not None and result.pages and not any(p.ok for p in result.pages):
            # Outputs without a page would only block a rerun (they need --force).
            result.warnings.append(NOTHING_WRITTEN)
            plan = None
        if plan is not None:
            result.keep_loaded(kept)
            try:
                self.write(result, plan)
            finally:
                result.keep_loaded(None)
        return result

    def _process_pages(
        self, document: LoadedDocument, indices: list[int], kept: LoadedSource | None = None
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
                    prepared = self._prepare(page)
                    if prepared.result.error is not None:
                        pending.append(prepared.result)
                    else:
                        pending.append(pool.submit(self._recognize, prepared))
                # Bound the pages held in memory: wait for the oldest when full.
                while len(pending) > workers:
                    yield self._finish(pending.popleft())
            while pending:
                yield self._finish(pending.popleft())

    def _finish(self, item: Future[PageResult] | PageResult) -> PageResult:
        result = item if isinstance(item, PageResult) else item.result()
        self.progress.page_done()
        return result

    def _prepare(self, page: Page) -> _PreparedPage:
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
        prepared = _PreparedPage(page=page, result=result, action=action)
        if page.existing_text is not None:
            result.existing_text = ExistingTextRecord(
                found=page.existing_text.kind,
                action=action,
                words=len(page.existing_text.words),
            )
        if action == "skip":
            return prepared  # passes through: nothing to straighten or read
        try:
            with _timed(result, "filters"):
                for page_filter in self.filters:
                    with _timed(result, f"filter:{page_filter.name}"):
                        prepared.page = page_filter.apply(prepared.page)
                self._check_perspective(prepared, page)
        except Exception as exc:
            _record_failure(result, exc, stage="filters")
        _record_geometry(result, prepared.page, page)
        return prepared

    def _check_perspective(self, prepared: _PreparedPage, loaded: Page) -> None:
        """The guard of a perspective correction the ``perspective`` filter proposed
        (:mod:`tair_ocr.filters.perspective`): the primary engine reads the corrected
        page (as the later filters left it) and the photo as loaded; the correction is
        kept only when it reads at least as well
        (:func:`~tair_ocr.filters.perspective.judge`).
        Rejected, the photo goes through the other filters and is read as loaded.
        The decision is recorded in ``PageGeometry.perspective``."""
        geometry = prepared.page.geometry
        record = geometry.perspective if geometry is not None else None
        if record is None or record.status != "proposed":
            return
        chosen = next((f for f in self.filters if isinstance(f, PerspectiveFilter)), None)
        guard = chosen is None or chosen.options.guard
        if self._document_kind != "image":
            record.shown = "original"  # a PDF's pages are shown as they are
        result = prepared.result
        keep, why, scores = True, "kept unguarded (guard off)", {}
        if guard:
            primary = self.engines[0]
            frame = _reading_frame(prepared.page)[0]
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
                prepared.first_reading = (frame.image, corrected)
            if record.shown == "corrected":
                result.width, result.height = prepared.page.original_size
            return
        page = loaded.transformed(loaded.image, Affine())  # a copy: loaded stays as it is
        for page_filter in self.filters:
            if page_filter is not chosen:
                with _timed(result, f"filter:{page_filter.name}"):
                    page = page_filter.apply(page)
        page.geometry = (page.geometry or PageGeometry()).model_copy(
            update={"perspective": record}
        )
        prepared.page = page
        prepared.first_reading = (loaded.image, photo)

    def _recognize(self, prepared: _PreparedPage) -> PageResult:
        result = prepared.result
        stage = ["ocr"]
        existing, record = prepared.page.existing_text, result.existing_text
        try:
            if prepared.action == "skip" and existing is not None:
                words = list(existing.words)
            else:
                back = _reading_frame(prepared.page)[1]
                words = _to_loaded(self._read_page(prepared, stage), back, result)
            if prepared.action == "redo" and existing is not None and existing.visible:
                # Born-digital text is exact: OCR only adds what it does not say.
                kept = outside_text(words, existing.visible)
                if record is not None:
                    record.duplicates_dropped = len(words) - len(kept)
                words = kept + existing.visible
            if record is not None:
                record.kept = sum(w.source in EXISTING_SOURCES for w in words)
            result.counters.update(fusion_counters(words))
            result.blocks = _layout(words, _reading_frame(prepared.page)[1])
            _show_photo(result)
        except Exception as exc:
            _record_failure(result, exc, stage=stage[0])
        return result

    def _read_page(self, prepared: _PreparedPage, stage: list[str]) -> list[Word]:
        """Read first, decide, restore where unsure, re-read, fuse (ARCHITECTURE.md).

        The primary engine reads the page as loaded. The decide step finds the
        regions whose reading is unsure; the other engines read only those
        regions (a second opinion), the restorer restores only the tiles that meet
        them and the engines that gain from restoration re-read them. Fusion
        then keeps, per word, the most likely reading. ``stage`` names the step
        running, for the failure record.

        The page read first is analysed once (:class:`PageAnalysis`): the decide
        step, the working-scale choice and the restoration stage (the restorer's
        page hint, the blank tiles) share its luminance and measurements.
        """
        s, result = self.settings, prepared.result
        # Read where the filters left the page (upright, level: fusion and layout
        # take lines to run across); _recognize maps the words back.
        page = _reading_frame(prepared.page)[0]
        restoring = not self.restorer.is_identity and s.restore != "never"
        if not restoring and s.scale is not None:
            # No restoration, but a fixed working scale: the engines read the page
            # resampled (what --scale did before read-first).
            stage[0] = "restore"
            page = self._restore(prepared, page, regions=None, scale_only=True).page
            stage[0] = "ocr"
        analysis = PageAnalysis(page.image)  # measured on first use, once
        primary, others = self.engines[0], self.engines[1:]
        reused = prepared.first_reading
        if reused is not None and reused[0] is page.image:
            first = reused[1]  # the perspective guard read this image already
        else:
            first = self._recognize_image(
                primary, page.image, page.working_dpi, result, primary.name
            )
        readings = [Reading(primary.name, [_to_original(w, page) for w in first], restored=False)]
        if s.fusion == "off":
            others = []
        if not restoring and not others:
            return readings[0].words

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
        )
        if restoring:
            result.decision = record
        if not regions:
            return readings[0].words
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

        # Restore the tiles that meet the regions, re-read the regions.
        if restoring:
            from tair_ocr.restoration import working_scale

            stage[0] = "restore"
            factor = working_scale(analysis, s.scale)
            rereaders = self._rereaders(s.restore == "always", factor)
            if not rereaders:
                # No engine reads this restorer's output of such a page better than
                # the page as loaded (calibration): restoring would only cost time.
                record.reasons["no_engine_gains"] = 1
                stage[0] = "ocr"
            else:
                whole = s.restore == "always"
                restored = self._restore(
                    prepared,
                    page,
                    regions=None if whole else regions,
                    scale=factor,
                    analysis=analysis,
                )
                stage[0] = "ocr"
                record.tiles_considered = restored.counters.get("tiles_total", 0) - (
                    restored.counters.get("tiles_skipped", 0)
                )
                record.tiles_restored = restored.counters.get("tiles_restored", 0)
                to_restored = restored.page.to_original.inverse()
                restored_regions = [to_restored.box(r) for r in original_regions]
                for engine in rereaders:
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
        message = f"engine {engine.name} failed {where}: {_describe(exc)}"
        result.warnings.append(message)
        log.warning("page %d: %s", result.index + 1, message, extra={RECORDED_IN_RESULT: True})

    def _restore(
        self,
        prepared: _PreparedPage,
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
        with self._restore_lock:
            restored = restore_page(
                page, self.restorer, scale=scale, regions=regions, analysis=analysis
            )
        result = prepared.result
        result.scale = restored.scale
        result.counters.update(restored.counters)
        for key, seconds in restored.timings.items():
            result.timings[key] = result.timings.get(key, 0.0) + seconds
        if self._restored_prefix is not None and not scale_only:
            target = Path(f"{self._restored_prefix}.p{page.index + 1:04d}.restored.png")
            with atomic_destination(target) as tmp:
                restored.page.image.save(tmp, format="PNG", dpi=(restored.page.working_dpi,) * 2)
            result.restored_image = str(target)
        return restored

    def _read_regions(
        self,
        engine: OcrEngine,
        page: Page,
        regions: Sequence[BBox],
        margin: float,
        result: PageResult,
        *,
        condition: str,
    ) -> list[Word]:
        """``engine`` on crops of ``page`` around ``regions`` (its pixels), with
        ``margin`` pixels of context; the words whose centre lies in a region, in
        original page pixels."""
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
            found = self._recognize_image(
                engine,
                crop.image,
                page.working_dpi,
                result,
                label,
                condition=condition,
                region=not whole,
            )
            words += [_to_original(w, crop) for w in found if w.bbox.centre_in(inside)]
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

    def write(self, result: DocumentResult, plan: dict[str, Path]) -> None:
        """Write every selected output for ``result`` atomically."""
        for writer in self.writers:
            destination = plan[writer.name]
            with atomic_destination(destination) as tmp:
                writer.write(result, tmp)
            log.info("wrote %s", destination)


# ---------------------------------------------------------------------- helpers


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
            failed = PageResult(index=index, width=0, height=0, dpi=0)
            _record_failure(failed, exc, stage="load")
            yield failed
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
