"""The local backend: the documents one after the other in this process, each
through :meth:`Pipeline.run <tair_ocr.Pipeline.run>` (its pages read by ``--jobs``
threads). The default; it needs nothing but the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tair_ocr.errors import TairOcrError

if TYPE_CHECKING:
    from pathlib import Path

    from tair_ocr.batch.job import Job, Task
    from tair_ocr.pipeline import Pipeline

__all__ = ["count_pages", "run_local"]


def run_local(job: Job, tasks: list[Task]) -> None:
    """Process ``tasks`` in order; each document's outcome goes to ``job``. A
    document that cannot be processed (an input error, a bug) is reported and the
    job goes on; Ctrl-C stops it (``KeyboardInterrupt`` propagates)."""
    pipeline = job.pipeline
    total = None
    if job.wants_page_total:
        counts = [count_pages(pipeline, task.source) for task in tasks]
        total = sum(c or 0 for c in counts)
    job.start_progress(tasks, total)
    for task in tasks:
        try:
            result = pipeline.run(
                task.source,
                output_dir=task.folder,
                outputs=task.outputs,
                overwrite=task.overwrite,
                on_written=job.on_written(task),
            )
        except Exception as exc:  # this document, not the job (a bug is reported as one)
            job.failed(task, exc)
            continue
        job.finished(task, result, written=any(p.ok for p in result.pages))


def count_pages(pipeline: Pipeline, source: Path) -> int | None:
    """The pages of ``source`` the pipeline would process (``--pages``), or None
    when it cannot be opened (it is reported when it is run)."""
    try:
        with pipeline.open(source) as document:
            return len(pipeline.page_indices(document))
    except (TairOcrError, OSError):
        return None
