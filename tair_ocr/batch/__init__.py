"""Batch jobs: many documents, on this machine or a Ray cluster, resumable.

    tair-ocr scans/ 'more/*.tif' -o out --resume                  # local (threads)
    tair-ocr scans/ -o out --backend ray --ray-address auto        # a Ray cluster

In Python::

    from tair_ocr.batch import run_batch
    job = run_batch(["scans/"], output_dir="out", backend="ray", resume=True,
                    engine="tesseract")
    print(job.summary(), job.exit_code)

The inputs are files, folders (recursively) and glob patterns
(:mod:`.inputs`); the documents go through one :class:`~tair_ocr.Pipeline`, on the
``local`` backend (:mod:`.local`, the default: documents one after the other,
pages on ``jobs`` threads) or the ``ray`` backend (:mod:`.ray_backend`: a streaming
Ray Data pipeline over pages, the restorer as a GPU actor pool). Both give the same
outputs. With ``resume`` a ledger in the output folder (:mod:`.ledger`) records
each document written, and the same job run again skips those and finishes the
rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tair_ocr.batch.inputs import INPUT_SUFFIXES, Expansion, expand_inputs
from tair_ocr.batch.job import (
    BACKENDS,
    BatchResult,
    DocumentCallback,
    DocumentOutcome,
    Job,
    worst,
)
from tair_ocr.batch.ledger import LEDGER_NAME, Ledger
from tair_ocr.batch.ray_backend import RAY_HINT, RayOptions
from tair_ocr.errors import UsageError
from tair_ocr.outputs import plan_outputs
from tair_ocr.pipeline import Pipeline
from tair_ocr.progress import ProgressReporter

__all__ = [
    "BACKENDS",
    "INPUT_SUFFIXES",
    "LEDGER_NAME",
    "RAY_HINT",
    "BatchResult",
    "DocumentCallback",
    "DocumentOutcome",
    "Expansion",
    "Ledger",
    "RayOptions",
    "expand_inputs",
    "output_suffixes",
    "run_batch",
    "run_job",
    "worst",
]


def run_batch(
    inputs: Sequence[str | Path],
    *,
    output_dir: str | Path | None = None,
    backend: str = "local",
    resume: bool = False,
    ray: RayOptions | None = None,
    pipeline: Pipeline | None = None,
    on_document: DocumentCallback | None = None,
    **settings: Any,
) -> BatchResult:
    """Run a batch job: every document of ``inputs`` (files, folders, glob
    patterns) through one pipeline, outputs to ``output_dir`` (default: the
    settings' ``output_dir``; documents found in subfolders keep their subfolder).

    ``pipeline`` is the pipeline to use; without one it is made from ``settings``
    (the keywords of :class:`~tair_ocr.Pipeline`: ``engine``, ``restorer``,
    ``output_types``, ``plugins``...). ``backend`` is ``"local"`` or ``"ray"``
    (``ray``: :class:`RayOptions`; plugins given as objects must then be
    picklable, and a given ``pipeline`` on a machine without the restorer's GPU
    needs ``require_restorer=False``). ``resume`` keeps the job's ledger and skips
    the documents it shows done. ``on_document`` is called as each document ends,
    with its outcome and its result (on Ray, without the pages' words).

    Every document is attempted: one that cannot be read, or whose outputs exist
    (without ``force``), is reported in the result, and the job goes on. Raises
    :class:`~tair_ocr.errors.UsageError` for bad arguments or inputs that would
    write the same outputs, :class:`~tair_ocr.errors.MissingDependencyError` when
    the backend's dependencies are missing; Ctrl-C (``KeyboardInterrupt``)
    propagates, the documents written so far recorded in the ledger.
    """
    _check_backend(backend)
    if pipeline is None:
        if output_dir is not None:
            settings["output_dir"] = Path(output_dir)
        pipeline = Pipeline(require_restorer=backend == "local", **settings)
    elif settings:
        raise UsageError(f"settings ({', '.join(settings)}) go to the pipeline, not beside it")
    out = Path(output_dir) if output_dir is not None else pipeline.settings.output_dir
    expansion = expand_inputs(inputs, exclude=[out], output_suffixes=output_suffixes(pipeline))
    plan = plan_outputs(
        expansion.sources, out, pipeline.writers, force=True, folders=expansion.folders
    )
    return run_job(
        pipeline,
        plan,
        backend=backend,
        resume=resume,
        ledger_dir=out,
        ray=ray,
        on_document=on_document,
        input_errors=expansion.errors,
    )


def run_job(
    pipeline: Pipeline,
    plan: Mapping[Path, Mapping[str, Path]],
    *,
    backend: str = "local",
    resume: bool = False,
    ledger_dir: Path | None = None,
    ray: RayOptions | None = None,
    on_document: DocumentCallback | None = None,
    progress: ProgressReporter | None = None,
    input_errors: Sequence[tuple[str, BaseException]] = (),
) -> BatchResult:
    """Run the documents of ``plan`` (source → outputs by writer name, as
    :func:`~tair_ocr.outputs.plan_outputs` makes it) on ``backend``: what
    :func:`run_batch` does once the inputs are expanded and the outputs planned
    (the command line plans them itself). ``input_errors`` are inputs that gave no
    document, reported first."""
    _check_backend(backend)
    job = Job(
        pipeline,
        plan,
        resume=resume,
        ledger_dir=ledger_dir,
        on_document=on_document,
        progress=progress,
        backend=backend,
    )
    for given, error in input_errors:
        job.input_error(given, error)
    try:
        tasks = job.tasks()
        if backend == "ray":
            from tair_ocr.batch.ray_backend import run_ray

            run_ray(job, tasks, ray or RayOptions())
        else:
            from tair_ocr.batch.local import run_local

            run_local(job, tasks)
    except KeyboardInterrupt:
        job.close(interrupted=True)
        raise
    return job.close()


def output_suffixes(pipeline: Pipeline) -> list[str]:
    """The endings of output file names (every writer's, and restored pages'), so
    a folder holding earlier outputs is not read as inputs."""
    return [w.suffix for w in pipeline.plugins.writers] + [".restored.png"]


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
