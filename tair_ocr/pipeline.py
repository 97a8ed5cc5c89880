"""The pipeline: load → filter → prepare → restore → OCR → fuse → write.

:class:`Pipeline` loads plugins and resolves components once; call
:meth:`Pipeline.run` for each input. Models stay loaded between runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
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
from tair_ocr.fusion import assign_layout, fusion_counters
from tair_ocr.geometry import Affine
from tair_ocr.layout import build_blocks
from tair_ocr.outputs import atomic_destination, plan_outputs, refuse_existing
from tair_ocr.page import Page
from tair_ocr.page_analysis import PageAnalysis
from tair_ocr.plugins import DEFAULT_PLUGINS, PluginManager
from tair_ocr.progress import NoProgress, ProgressReporter
from tair_ocr.readings import Reading
from tair_ocr.results import (
    BBox,
    DocumentResult,
    LoadedSource,
    PageError,
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


@dataclass
class _PreparedPage:
    """A page after the page filters, ready to be read."""

    page: Page
    result: PageResult


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
        # One page at a time through the restorer (one model, batched tiles).
        self._restore_lock = threading.Lock()
        self._closed = False
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
        an unreadable input raises :class:`~tair_ocr.errors.InputError`.
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
        prepared = _PreparedPage(page=page, result=result)
        try:
            with _timed(result, "filters"):
                for page_filter in self.filters:
                    prepared.page = page_filter.apply(prepared.page)
        except Exception as exc:
            _record_failure(result, exc, stage="filters")
        return prepared

    def _recognize(self, prepared: _PreparedPage) -> PageResult:
        result = prepared.result
        stage = ["ocr"]
        try:
            words = self._read_page(prepared, stage)
            result.counters.update(fusion_counters(words))
            result.blocks = build_blocks(words)
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
        page = prepared.page
        restoring = not self.restorer.is_identity and s.restore != "never"
        if not restoring and s.scale is not None:
            # No restoration, but a fixed working scale: the engines read the page
            # resampled (what --scale did before read-first).
            stage[0] = "restore"
            page = self._restore(prepared, page, regions=None, scale_only=True).page
            stage[0] = "ocr"
        analysis = PageAnalysis(page.image)  # measured on first use, once
        primary, others = self.engines[0], self.engines[1:]
        first = self._recognize_image(primary, page.image, page.working_dpi, result, primary.name)
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
        log.warning("page %d: %s", result.index + 1, message)

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
                restored.page.image.save(tmp, format="PNG")
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
    log.warning("page %d failed in %s: %s", result.index + 1, stage, message)
    log.debug("page %d traceback", result.index + 1, exc_info=exc)


def _to_original(word: Word, page: Page) -> Word:
    """Map a word found on the working image to original page pixels."""
    t = page.to_original
    if t.is_identity:
        return word
    update: dict[str, Any] = {"bbox": t.box(word.bbox)}
    if word.polygon:
        update["polygon"] = t.points(word.polygon)
    return word.model_copy(update=update)


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
