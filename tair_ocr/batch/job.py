"""A batch job: many documents through one pipeline, on a backend, resumable.

:class:`Job` is what the backends share: the documents to process and their
planned outputs, the ledger (with ``resume``), the refusal of existing outputs,
and the outcome of each document as it ends. A backend (:mod:`.local`,
:mod:`.ray_backend`) only turns the documents it is given into
:class:`~tair_ocr.results.DocumentResult`\\ s with their outputs written, and tells
the job (:meth:`Job.finished`, :meth:`Job.failed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tair_ocr.batch.ledger import (
    Ledger,
    LedgerEntry,
    document_key,
    fingerprint,
    remove_stale_temporaries,
    stamp,
)
from tair_ocr.errors import ExitCode, OutputExistsError, TairOcrError
from tair_ocr.progress import JobProgressReporter, ProgressReporter
from tair_ocr.results import DocumentResult

if TYPE_CHECKING:
    from tair_ocr.pipeline import OnWritten, Pipeline

__all__ = [
    "BACKENDS",
    "SEVERITY",
    "BatchResult",
    "DocumentOutcome",
    "Job",
    "Task",
    "worst",
]

log = logging.getLogger(__name__)

#: The batch backends: ``local`` (threads in this process, the default) and ``ray``
#: (a Ray cluster, :mod:`tair_ocr.batch.ray_backend`).
BACKENDS: tuple[str, ...] = ("local", "ray")
Backend = Literal["local", "ray"]

#: When documents end differently, the job's exit code is the first of these that
#: occurred (the command line's rule).
SEVERITY = (
    ExitCode.INTERRUPTED,
    ExitCode.BAD_ARGS,
    ExitCode.INTERNAL_ERROR,
    ExitCode.PLUGIN_ERROR,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.OUTPUT_ERROR,
    ExitCode.INPUT_ERROR,
    ExitCode.PAGES_FAILED,
    ExitCode.OK,
)


def worst(codes: Iterable[int]) -> ExitCode:
    """The most severe of ``codes`` (:data:`SEVERITY`); OK for none."""
    seen = set(codes)
    return next(code for code in SEVERITY if code in seen or code == ExitCode.OK)


@dataclass
class DocumentOutcome:
    """How one document of a batch job ended."""

    source: Path
    #: Its planned outputs, by writer name.
    outputs: dict[str, Path]
    #: Pages processed (read or failed); for a skipped document, those it had.
    pages: int = 0
    failed_pages: int = 0
    words: int = 0
    #: Wall seconds from its first page's start to its outputs written.
    seconds: float = 0.0
    #: Done in an earlier run (the ledger says so): not processed again.
    skipped: bool = False
    #: Whether its outputs were written (not when every page failed).
    written: bool = False
    #: Why it could not be processed (an input or output error, a bug), else None.
    error: BaseException | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            if isinstance(self.error, TairOcrError):
                return self.error.exit_code
            return ExitCode.INTERNAL_ERROR
        return ExitCode.PAGES_FAILED if self.failed_pages else ExitCode.OK


@dataclass
class BatchResult:
    """The outcome of a batch job, document by document (in job order)."""

    documents: list[DocumentOutcome] = field(default_factory=list)
    #: Wall seconds of the job.
    seconds: float = 0.0
    backend: str = "local"
    #: Whether the job was interrupted (Ctrl-C) before every document ended.
    interrupted: bool = False

    @property
    def pages(self) -> int:
        """Pages processed by this run (skipped documents' not counted)."""
        return sum(d.pages for d in self.documents if not d.skipped)

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def skipped(self) -> list[DocumentOutcome]:
        return [d for d in self.documents if d.skipped]

    @property
    def failed_pages(self) -> int:
        return sum(d.failed_pages for d in self.documents)

    @property
    def errors(self) -> list[DocumentOutcome]:
        return [d for d in self.documents if d.error is not None]

    @property
    def exit_code(self) -> ExitCode:
        codes = [d.exit_code for d in self.documents]
        if self.interrupted:
            codes.append(ExitCode.INTERRUPTED)
        return worst(codes)

    def summary(self) -> str:
        """One line: ``"3 documents, 12 pages in 8.1 s (1.48 pages/s); 1 skipped
        (done earlier), 2 failed pages"``."""
        done = [d for d in self.documents if not d.skipped and d.error is None]
        parts = [
            f"{len(done)} document{'s' if len(done) != 1 else ''}, {self.pages} page"
            f"{'s' if self.pages != 1 else ''} in {self.seconds:.1f} s "
            f"({self.pages_per_second:.2f} pages/s, backend {self.backend})"
        ]
        extra = []
        if self.skipped:
            extra.append(f"{len(self.skipped)} skipped (done earlier)")
        if self.failed_pages:
            extra.append(f"{self.failed_pages} failed page{'s' if self.failed_pages > 1 else ''}")
        if self.errors:
            extra.append(f"{len(self.errors)} not processed (errors)")
        if self.interrupted:
            extra.append("interrupted")
        return parts[0] + (f"; {', '.join(extra)}" if extra else "")


@dataclass
class Task:
    """One document for a backend to process."""

    source: Path
    #: Where its outputs go, by writer name.
    outputs: dict[str, Path]
    #: Its ledger key (None without a ledger).
    key: str | None = None
    #: The source's size and modification time when the job started on it.
    stamp: tuple[int, int] | None = None
    #: Replace existing outputs (``--force``, or outputs the ledger shows are the job's).
    overwrite: bool = False
    #: The folder of its outputs (``--save-restored`` writes the restored pages there).
    folder: Path = Path(".")


#: What the job tells its caller as each document ends: its outcome, and its result
#: when it was processed (for its warnings and failed pages; not kept by the job).
DocumentCallback = Callable[[DocumentOutcome, "DocumentResult | None"], None]


class Job:
    """The documents of a batch job and what becomes of them (see the module
    docstring). ``plan`` maps each source to its output paths
    (:func:`~tair_ocr.outputs.plan_outputs`); ``ledger_dir`` is the folder the
    ledger lives in (with ``resume``: the job's output folder)."""

    def __init__(
        self,
        pipeline: Pipeline,
        plan: Mapping[Path, Mapping[str, Path]],
        *,
        resume: bool = False,
        ledger_dir: Path | None = None,
        on_document: DocumentCallback | None = None,
        progress: ProgressReporter | None = None,
        backend: str = "local",
    ) -> None:
        self.pipeline = pipeline
        self.plan = {Path(s): dict(o) for s, o in plan.items()}
        self._output_dir = ledger_dir or pipeline.settings.output_dir
        self.ledger = Ledger(self._output_dir) if resume else None
        self.on_document = on_document
        self.progress: ProgressReporter = progress or pipeline.progress
        self.result = BatchResult(backend=backend)
        self._fingerprint = fingerprint(
            pipeline.settings, engine=pipeline.engine_label, restorer=pipeline.restorer.name
        )
        self._started = time.perf_counter()
        self._outcomes: dict[Path, DocumentOutcome] = {}
        self._inputs_failed: list[DocumentOutcome] = []

    # ------------------------------------------------------------------ what to do

    def tasks(self) -> list[Task]:
        """The documents to process, in job order: those the ledger shows done are
        skipped (and reported), those whose outputs exist and are not the job's
        own are refused without ``--force`` (and reported). The others get their
        stale temporary files of an interrupted run beside their outputs removed
        (with a ledger)."""
        tasks: list[Task] = []
        force = self.pipeline.settings.force
        for source, outputs in self.plan.items():
            key = self._key(source)
            version = stamp(source)
            if (
                self.ledger is not None
                and key is not None
                and self.ledger.is_done(key, source, outputs)
            ):
                outcome = DocumentOutcome(
                    source, outputs, pages=self.ledger.done_pages(key), skipped=True
                )
                self._end(outcome, None)
                continue
            owned = [p for p in outputs.values() if self._owns(key, p)]
            existing = [p for p in outputs.values() if p.exists() and p not in owned]
            if existing and not force:
                error = OutputExistsError(
                    f"output exists: {existing[0]}", hint="use --force to overwrite"
                )
                self._end(DocumentOutcome(source, outputs, error=error), None)
                continue
            if self.ledger is not None:
                remove_stale_temporaries(outputs)
            folder = next(iter(outputs.values())).parent if outputs else self._output_dir
            tasks.append(
                Task(
                    source,
                    outputs,
                    key=key,
                    stamp=version,
                    overwrite=force or bool(owned),
                    folder=folder,
                )
            )
        return tasks

    def _owns(self, key: str | None, path: Path) -> bool:
        return self.ledger is not None and key is not None and self.ledger.owns(key, path)

    def _key(self, source: Path) -> str | None:
        if self.ledger is None:
            return None
        return document_key(source, self._fingerprint)

    def start_progress(self, tasks: list[Task], pages: int | None) -> None:
        """Tell the progress reporter the job's size (when it reports jobs)."""
        if isinstance(self.progress, JobProgressReporter):
            self.progress.start_job(len(tasks), pages)

    @property
    def wants_page_total(self) -> bool:
        return isinstance(self.progress, JobProgressReporter) and self.progress.wants_page_total

    # ------------------------------------------------------------------ outcomes

    def ledger_entry(self, task: Task) -> LedgerEntry | None:
        """What records ``task``'s document in the ledger as its outputs are written
        (None without a ledger): a backend passes it to where the writing happens."""
        if self.ledger is None or task.key is None:
            return None
        return self.ledger.entry(task.key, task.source, task.stamp)

    def on_written(self, task: Task) -> OnWritten | None:
        """The ``on_written`` of :meth:`Pipeline.run <tair_ocr.Pipeline.run>` that
        records ``task``'s document in the ledger (None without a ledger)."""
        entry = self.ledger_entry(task)
        if entry is None:
            return None
        return lambda result, staged: entry.written(task.outputs, staged, result)

    def finished(
        self,
        task: Task,
        result: DocumentResult,
        *,
        written: bool,
        words: int | None = None,
    ) -> DocumentOutcome:
        """``task``'s document is done: ``result`` holds its pages, and its outputs
        are written (and recorded in the ledger, by :meth:`on_written`) when
        ``written``. ``words`` counts its words when ``result``'s pages come without
        them. Reports it."""
        failed = len(result.failed_pages)
        if words is None:
            words = sum(1 for p in result.pages for _ in p.words())
        outcome = DocumentOutcome(
            task.source,
            task.outputs,
            pages=len(result.pages),
            failed_pages=failed,
            words=words,
            seconds=result.timings.get("total", 0.0),
            written=written,
        )
        self._end(outcome, result)
        return outcome

    def input_error(self, given: str, error: BaseException) -> DocumentOutcome:
        """An input that gave no document (a pattern matching nothing, a folder
        without a supported file): reported like a missing file."""
        outcome = DocumentOutcome(Path(given), {}, error=error)
        self._end(outcome, None)
        self._inputs_failed.append(outcome)
        return outcome

    def failed(self, task: Task, error: BaseException) -> DocumentOutcome:
        """``task``'s document could not be processed (an input error, a bug)."""
        outcome = DocumentOutcome(task.source, task.outputs, error=error)
        self._end(outcome, None)
        return outcome

    def _end(self, outcome: DocumentOutcome, result: DocumentResult | None) -> None:
        if outcome.source in self.plan:
            self._outcomes[outcome.source] = outcome
        if self.on_document is not None:
            self.on_document(outcome, result)

    def close(self, *, interrupted: bool = False) -> BatchResult:
        """The job's result: every document's outcome in job order (those that did
        not end, after an interruption, left out)."""
        ended = [self._outcomes[s] for s in self.plan if s in self._outcomes]
        self.result.documents = self._inputs_failed + ended
        self.result.seconds = time.perf_counter() - self._started
        self.result.interrupted = interrupted
        return self.result
