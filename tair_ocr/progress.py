"""Progress reporting: a rich progress bar on a terminal, silence elsewhere.

A :class:`~tair_ocr.Pipeline` reports each document's pages
(:class:`ProgressReporter`); a batch job (:mod:`tair_ocr.batch`) reports the whole
job too (:class:`JobProgressReporter`): pages done of the job's total, and pages
per second.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("tair_ocr.progress")

#: Seconds between the progress lines of :class:`LogProgress`.
LOG_INTERVAL = 30.0


class ProgressReporter(Protocol):
    """What the pipeline tells about its progress."""

    def start_document(self, name: str, pages: int) -> None: ...

    def page_done(self) -> None: ...

    def end_document(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class JobProgressReporter(Protocol):
    """What a batch job tells about the whole job, beside the documents' pages
    (:meth:`ProgressReporter.page_done` counts toward the job too)."""

    #: Whether the job should count its pages up front for :meth:`start_job` (a
    #: bar shows a total; counting opens every document once more).
    wants_page_total: bool

    def start_job(self, documents: int, pages: int | None) -> None:
        """The job starts: ``documents`` to process, ``pages`` in them (None: not
        counted yet: :meth:`pages_found` adds them as the documents are opened)."""
        ...

    def pages_found(self, pages: int) -> None:
        """A document of ``pages`` pages was opened: the job's total grows."""
        ...

    def page_done(self) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    """Reports nothing (quiet mode, pipes, the Python API's default)."""

    wants_page_total = False

    def start_job(self, documents: int, pages: int | None) -> None:
        pass

    def pages_found(self, pages: int) -> None:
        pass

    def start_document(self, name: str, pages: int) -> None:
        pass

    def page_done(self) -> None:
        pass

    def end_document(self) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """One bar per document, counting pages, on stderr; for a batch job one more,
    the job's, with its pages per second."""

    wants_page_total = True

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pages"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task: Any = None
        self._job: Any = None
        self._job_started = 0.0
        self._job_done = 0

    def start_job(self, documents: int, pages: int | None) -> None:
        self._job = self._progress.add_task(f"job ({documents} documents)", total=pages, rate="")
        self._job_started = time.perf_counter()
        self._job_done = 0

    def pages_found(self, pages: int) -> None:
        if self._job is not None:
            total = self._progress.tasks[self._job].total or 0
            self._progress.update(self._job, total=total + pages)

    def start_document(self, name: str, pages: int) -> None:
        self._task = self._progress.add_task(name, total=pages, rate="")

    def page_done(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)
        if self._job is not None:
            self._job_done += 1
            seconds = time.perf_counter() - self._job_started
            rate = f"{self._job_done / seconds:.2f} pages/s" if seconds > 0 else ""
            self._progress.update(self._job, advance=1, rate=rate)

    def end_document(self) -> None:
        self._task = None

    def close(self) -> None:
        self._progress.stop()


class LogProgress:
    """The job's progress as a log line (``INFO``) every :data:`LOG_INTERVAL`
    seconds: for batch jobs whose stderr is a log file (``-v``)."""

    wants_page_total = True

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._total: int | None = None
        self._done = 0
        self._started = self._last = time.perf_counter()

    def start_job(self, documents: int, pages: int | None) -> None:
        self._total, self._done = pages, 0
        self._started = self._last = time.perf_counter()

    def pages_found(self, pages: int) -> None:
        self._total = (self._total or 0) + pages

    def start_document(self, name: str, pages: int) -> None:
        pass

    def page_done(self) -> None:
        self._done += 1
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            log.info("%s", self.line())

    def line(self) -> str:
        """``"120/500 pages, 3.41 pages/s"``."""
        seconds = time.perf_counter() - self._started
        total = f"/{self._total}" if self._total is not None else ""
        rate = self._done / seconds if seconds > 0 else 0.0
        return f"{self._done}{total} pages, {rate:.2f} pages/s"

    def end_document(self) -> None:
        pass

    def close(self) -> None:
        pass


def default_progress(quiet: bool, verbose: int = 0) -> ProgressReporter:
    """A progress bar when stderr is a terminal and not ``quiet``; progress lines
    in the log with ``verbose`` when it is not; else nothing."""
    if quiet:
        return NoProgress()
    if not sys.stderr.isatty():
        return LogProgress() if verbose else NoProgress()
    return RichProgress()
