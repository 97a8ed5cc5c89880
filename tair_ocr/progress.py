"""Progress reporting: a rich progress bar on a terminal, silence elsewhere."""

from __future__ import annotations

import sys
from typing import Protocol


class ProgressReporter(Protocol):
    """What the pipeline tells about its progress."""

    def start_document(self, name: str, pages: int) -> None: ...

    def page_done(self) -> None: ...

    def end_document(self) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    """Reports nothing (quiet mode, pipes, the Python API's default)."""

    def start_document(self, name: str, pages: int) -> None:
        pass

    def page_done(self) -> None:
        pass

    def end_document(self) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """One bar per document, counting pages, on stderr."""

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
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task: int | None = None

    def start_document(self, name: str, pages: int) -> None:
        self._task = self._progress.add_task(name, total=pages)

    def page_done(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)

    def end_document(self) -> None:
        self._task = None

    def close(self) -> None:
        self._progress.stop()


def default_progress(quiet: bool) -> ProgressReporter:
    """A progress bar when stderr is a terminal and not ``quiet``."""
    if quiet or not sys.stderr.isatty():
        return NoProgress()
    return RichProgress()
