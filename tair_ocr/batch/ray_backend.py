"""The Ray backend: a batch job as a streaming Ray Data pipeline over pages.

``tair-ocr INPUT... --backend ray [--ray-address ADDR]`` (``backend="ray"`` in
:func:`tair_ocr.batch.run_batch`). The driver (this process) streams the documents
through the stages of :mod:`tair_ocr.batch.stages`, page by page::

    documents ─► open, list pages (tasks) ─► load a page (tasks) ─► read first (OCR
    actors) ─► restore (restorer actors, GPU when it wants CUDA) ─► re-read and
    fuse (OCR actors) ─► driver: assemble each document ─► write it (a task per
    document, atomic)

The driver opens no document (a document that cannot be read is reported as
locally, from the task that tried).

Ray Data streams with backpressure: pages are loaded as the later stages take
them, so memory stays bounded whatever the document's length. A page's result
(its words, no images) waits in Ray's object store, which spills to disk when
full, until its document is complete; the driver keeps only references. Pages
with nothing to restore leave after the first OCR stage. Each actor works on one
page at a time, so that one that dies takes no other page with it.

Resources (from the cluster's totals, ``C`` CPUs and ``G`` GPUs): ``C`` OCR
actors for the first reading, ``C/2`` for re-reading, ``C/4`` opening, loading
and writing tasks at a time; the restorer's actors are ``--gpus`` GPUs (default
``G``) times ``--restorers-per-gpu`` when it wants CUDA (each with that share of a
GPU), else ``C/4`` CPU actors. Every worker reserves the same share of a CPU,
together under half of the cluster's (:data:`_CPU_SHARE`): Ray's CPU count is a
scheduling quantity here (the pools' sizes set how many pages are worked on at
once; tesseract runs in subprocesses), and Ray Data spreads the workers over the
nodes.

Faults: a page that raises is recorded as failed and the job goes on, as locally.
A worker process that dies (killed, out of memory) is restarted and its pages
retried, up to :data:`TASK_RETRIES` times; a page whose worker dies every time is
recorded as failed ("lost"), and the job goes on. Ctrl-C stops the job; with
``--resume`` the ledger records every document written, and the same command
run again finishes the rest.

Ray is imported here only, when this backend runs: ``pip install
"tair-ocr[ray]"``. A local cluster started here (no ``--ray-address``) has Ray's
usage statistics off unless ``RAY_USAGE_STATS_ENABLED`` says otherwise, no
dashboard, and keeps its workers' logs out of the terminal (page warnings come
with the results).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tair_ocr.batch.stages import (
    DocumentPages,
    FinishPages,
    PipelineSpec,
    ReadPages,
    RestorePages,
    document_rows,
    load_pages,
    open_documents,
    write_document,
)
from tair_ocr.errors import MissingDependencyError, TairOcrError, UsageError
from tair_ocr.progress import JobProgressReporter
from tair_ocr.results import PageError, PageResult

if TYPE_CHECKING:
    from tair_ocr.batch.job import Job, Task

__all__ = ["RAY_HINT", "TASK_RETRIES", "RayOptions", "import_ray", "run_ray"]

log = logging.getLogger(__name__)

#: How to install the backend's dependencies.
RAY_HINT = 'pip install "tair-ocr[ray]"'
#: Retries of a page whose worker process died (the actor is restarted each time).
TASK_RETRIES = 3
#: Share of the cluster's CPUs the job's workers reserve together: under half, as
#: Ray Data keeps half of a cluster's resources for its operators' reservations (an
#: actor pool that takes more can leave a task stage no budget, and the job waits
#: forever). The reservations only place the workers; the pools' sizes set how many
#: pages are worked on at once.
_CPU_SHARE = 0.45
#: Object store bytes for pages in flight, per worker of the job: a letter page
#: at 300 dpi in colour (25 MB) and more; at 100 dpi (3 MB) ten.
PAGE_BUDGET_PER_WORKER = 32 * 2**20
#: ... and at least this much.
MIN_PAGE_BUDGET = 256 * 2**20


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray backend runs."""

    #: The cluster to join (``ray://host:10001``, ``host:6379``, ``auto``); None
    #: starts a local cluster on this machine (or joins the one ``RAY_ADDRESS`` names).
    address: str | None = None
    #: GPUs for the restorer's actors when it wants CUDA (None: all of the cluster's).
    #: For a local cluster, also the GPUs it is given.
    gpus: int | None = None
    #: Restorer actors sharing one GPU (each gets that fraction of it).
    restorers_per_gpu: int = 1
    #: CPUs of a local cluster (None: all of this machine's).
    num_cpus: int | None = None
    #: Bytes of a local cluster's object store (None: Ray's default, 30 % of memory).
    object_store_memory: int | None = None
    #: Bytes of the object store the pages in flight (loaded, read, restored, not
    #: yet done) may take at once (None: :data:`PAGE_BUDGET_PER_WORKER` per worker,
    #: at least :data:`MIN_PAGE_BUDGET`). Loading then stays a few pages ahead of
    #: reading, whatever the documents' length.
    page_budget: int | None = None

    def __post_init__(self) -> None:
        if self.gpus is not None and self.gpus < 0:
            raise UsageError(f"--gpus must be 0 or more, not {self.gpus}")
        if self.restorers_per_gpu < 1:
            raise UsageError(f"--restorers-per-gpu must be 1 or more, not {self.restorers_per_gpu}")
        if self.page_budget is not None and self.page_budget <= 0:
            raise UsageError(
                f"page_budget must be a positive number of bytes, not {self.page_budget}"
            )


def import_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or a :class:`MissingDependencyError` that
    says how to install it."""
    try:
        import ray
        import ray.data  # Ray Data: a part of the package that needs its "data" extra
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ray backend needs Ray Data, which is not installed ({exc})", hint=RAY_HINT
        ) from None
    return ray


@dataclass
class _Document:
    """A document in flight: its pages' results as they arrive."""

    task: Task
    #: Its kind and the pages to process, once a worker has opened it.
    kind: str = ""
    indices: list[int] | None = None
    #: The pages' results, pickled as they came, each put in Ray's object store
    #: (the driver keeps references; the write task unpickles them).
    results: dict[int, Any] = field(default_factory=dict)
    first_start: float = math.inf
    #: Handed to a write task, or failed (its results then are gone).
    ended: bool = False

    @property
    def complete(self) -> bool:
        return self.indices is not None and all(i in self.results for i in self.indices)


@dataclass(frozen=True)
class _Plan:
    """How many workers each stage gets, and what each reserves."""

    load: int
    read: int
    restore: int
    finish: int
    cpus: float
    restorer_gpus: float
    writes: int
    #: Object store bytes the pages in flight may take (:attr:`RayOptions.page_budget`).
    page_budget: int


def run_ray(job: Job, tasks: list[Task], options: RayOptions) -> None:
    """Process ``tasks`` on a Ray cluster; each document's outcome goes to ``job``
    (see the module docstring)."""
    ray = import_ray()
    pipeline = job.pipeline
    restorer = pipeline.restorer
    if not restorer.wants_gpu():
        # A CPU restorer runs as it would here: check it here, before any work.
        from tair_ocr.components import checked_availability

        availability = checked_availability(restorer)
        if not availability.ok:
            raise MissingDependencyError(
                f"{restorer.name} is not available: {availability.reason}",
                hint=availability.hint or None,
            )

    documents = [_Document(task) for task in tasks]
    rows: list[dict[str, Any]] = []
    for number, task in enumerate(tasks):
        prefix = pipeline.restored_prefix(task.source, task.folder)
        rows += document_rows(number, task.source, prefix)
    job.start_progress(tasks, None)  # the pages are counted as the documents are opened
    if not rows:
        return

    started_here = _connect(ray, options)
    try:
        plan = _plan(ray, job, options)
        log.info("ray backend: %s", plan)
        spec = PipelineSpec.of(pipeline)
        _Assembly(ray, job, spec, documents, plan).run(_dataset(ray, rows, spec, plan))
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray: ModuleType, options: RayOptions) -> bool:
    """Join the cluster (or start a local one); True when this call started Ray."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = logging.WARNING if log.isEnabledFor(logging.INFO) else logging.ERROR
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": quiet,
    }
    if options.address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs.update(num_cpus=options.num_cpus, num_gpus=options.gpus)
        if options.object_store_memory is not None:
            kwargs["object_store_memory"] = options.object_store_memory
    try:
        ray.init(address=options.address, **kwargs)
    except ConnectionError as exc:
        raise MissingDependencyError(
            f"cannot connect to the Ray cluster at {options.address}: {exc}",
            hint="start it with `ray start --head` or check --ray-address",
        ) from exc
    return True


def _plan(ray: ModuleType, job: Job, options: RayOptions) -> _Plan:
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    cluster_gpus = int(resources.get("GPU", 0))
    pipeline = job.pipeline
    restoring = not pipeline.restorer.is_identity and pipeline.settings.restore != "never"
    restore = finish = 0
    restorer_gpus = 0.0
    if restoring:
        finish = max(1, cpus // 2)
        if pipeline.restorer.wants_gpu():
            gpus = cluster_gpus if options.gpus is None else min(options.gpus, cluster_gpus)
            if gpus < 1:
                raise MissingDependencyError(
                    f"restorer {pipeline.restorer.name} runs on a CUDA GPU, and the Ray "
                    f"cluster has {'none' if cluster_gpus == 0 else 'none to spare'}",
                    hint="add GPU workers to the cluster, or choose a CPU restorer "
                    "(--restorer cleaner)",
                )
            restore = gpus * options.restorers_per_gpu
            restorer_gpus = 1.0 / options.restorers_per_gpu
        else:
            restore = max(1, cpus // 4)
    load = max(1, cpus // 4)
    read = cpus
    writes = max(1, cpus // 4)
    slots = 2 * load + read + finish + writes + restore  # opening and loading tasks: 2 * load
    share = min(1.0, _CPU_SHARE * cpus / slots)
    share = math.floor(share * 1000) / 1000  # never above the budget
    budget = options.page_budget
    if budget is None:
        budget = max(MIN_PAGE_BUDGET, PAGE_BUDGET_PER_WORKER * slots)
    return _Plan(load, read, restore, finish, share, restorer_gpus, writes, budget)


def _dataset(ray: ModuleType, rows: list[dict[str, Any]], spec: PipelineSpec, plan: _Plan) -> Any:
    """The streaming dataset of final page rows."""
    data = ray.data
    context = data.DataContext.get_current()
    context.max_errored_blocks = -1  # a page lost for good is recorded, not fatal
    context.enable_progress_bars = False  # the job's own progress shows
    context.print_on_execution_start = False
    context.execution_options.preserve_order = False
    # Ray Data's own limit is a share of the whole object store (GBs): loading
    # would run hundreds of pages ahead of the readers.
    limits = context.execution_options.resource_limits
    context.execution_options.resource_limits = limits.copy(object_store_memory=plan.page_budget)
    if not log.isEnabledFor(logging.INFO):
        # Ray Data logs a page lost for good with a traceback; the job reports it.
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)

    common: dict[str, Any] = {"batch_size": 1, "batch_format": "pyarrow", "zero_copy_batch": True}

    def tasks() -> dict[str, Any]:
        """A task stage's arguments (opening and loading: ``plan.load`` at a time)."""
        return {
            **common,
            "fn_kwargs": {"spec": spec},
            "num_cpus": plan.cpus,
            "compute": data.TaskPoolStrategy(size=plan.load),
            "max_retries": TASK_RETRIES,
        }

    def actors(size: int, gpus: float = 0.0) -> dict[str, Any]:
        """An actor pool's arguments: one page at a time per actor (an actor that
        dies takes only its own page with it; queued pages would die, and be
        retried, with it)."""
        return {
            **common,
            "num_cpus": plan.cpus,
            **({"num_gpus": gpus} if gpus else {}),
            "fn_constructor_kwargs": {"spec": spec},
            "compute": data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
            # Ray's defaults retry a dead actor's task forever; a page that kills
            # its worker every time must end. (No named parameter in Ray 2.60.)
            "max_restarts": -1,
            "max_task_retries": TASK_RETRIES,
        }

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map_batches(open_documents, **tasks())
        # A document's pages, one block each: loaded (and read) in parallel.
        ds = ds.repartition(target_num_rows_per_block=1)
        ds = ds.map_batches(load_pages, **tasks())
        ds = ds.map_batches(ReadPages, **actors(plan.read))
        if plan.restore:
            ds = ds.map_batches(RestorePages, **actors(plan.restore, plan.restorer_gpus))
            ds = ds.map_batches(FinishPages, **actors(plan.finish))
    return ds


class _Assembly:
    """The driver's side: pages in, documents assembled and written."""

    def __init__(
        self,
        ray: ModuleType,
        job: Job,
        spec: PipelineSpec,
        documents: list[_Document],
        plan: _Plan,
    ) -> None:
        self.ray = ray
        self.job = job
        self.spec = spec
        self.documents = documents
        self.limit = plan.writes * 2
        self.write = ray.remote(write_document).options(
            num_cpus=plan.cpus, max_retries=TASK_RETRIES
        )
        self.writing: dict[Any, _Document] = {}

    def run(self, dataset: Any) -> None:
        try:
            for row in _rows(dataset):
                self._receive(row)
                self._collect(block=len(self.writing) >= self.limit)
            for document in self.documents:
                if not document.ended:
                    self._lost(document)
            while self.writing:
                self._collect(block=True)
        except Exception as exc:
            cause = _cause(exc)
            if isinstance(cause, TairOcrError):
                raise cause from exc
            raise

    def _receive(self, row: dict[str, Any]) -> None:
        document = self.documents[row["doc"]]
        if document.ended:
            return  # a row a retried task sent again
        if row["row"] == "error":  # the document cannot be read
            document.ended = True
            self.job.failed(document.task, pickle.loads(row["state"]))
            return
        if row["row"] == "document":
            document.kind, document.indices = row["kind"], pickle.loads(row["state"])
            if isinstance(self.job.progress, JobProgressReporter):
                self.job.progress.pages_found(len(document.indices))
        else:
            document.kind = document.kind or row["kind"]
            if row["index"] in document.results:
                return
            # Into the object store (which spills to disk when full): the driver's
            # memory does not grow with a document's length.
            document.results[row["index"]] = self.ray.put(row["state"])
            document.first_start = min(document.first_start, row["t0"] or math.inf)
            self.job.progress.page_done()
        if document.complete:
            self._submit(document)

    def _lost(self, document: _Document) -> None:
        """A document whose pages did not all come back: their workers died on
        every try (or, without even its list of pages, the task opening it did)."""
        if document.indices is None and not document.results:
            document.ended = True
            self.job.failed(
                document.task,
                RuntimeError(f"lost: the worker opening it died {TASK_RETRIES + 1} times"),
            )
            return
        if document.indices is None:  # its list of pages was lost: the pages read
            document.indices = sorted(document.results)
        for index in document.indices:
            if index not in document.results:
                document.results[index] = pickle.dumps(_lost(index))
                self.job.progress.page_done()
        self._submit(document)

    def _submit(self, document: _Document) -> None:
        """Hand a complete document to a write task: it assembles the pages (the
        driver never unpickles them) and writes the outputs."""
        task = document.task
        started = document.first_start if math.isfinite(document.first_start) else time.time()
        brief = DocumentPages(str(task.source), document.kind, max(0.0, time.time() - started))
        pages = [document.results[i] for i in document.indices or ()]
        document.results = {}  # the driver keeps nothing of a submitted document
        document.ended = True
        ledger = self.job.ledger_entry(task)
        ref = self.write.remote(self.spec, brief, task.outputs, ledger, *pages)
        self.writing[ref] = document

    def _collect(self, *, block: bool) -> None:
        if not self.writing:
            return
        ready, _ = self.ray.wait(list(self.writing), num_returns=1, timeout=None if block else 0)
        for ref in ready:
            document = self.writing.pop(ref)
            try:
                written, summary = self.ray.get(ref)
            except Exception as exc:
                self.job.failed(document.task, _cause(exc))
                continue
            self.job.finished(document.task, summary.result, written=written, words=summary.words)


def _rows(dataset: Any) -> Iterator[dict[str, Any]]:
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield from batch.to_pylist()


def _lost(index: int) -> PageResult:
    result = PageResult(index=index, width=0, height=0, dpi=0)
    result.error = PageError(
        kind="WorkerLost",
        message=f"lost: the worker processing it died {TASK_RETRIES + 1} times",
    )
    return result


def _cause(exc: BaseException) -> BaseException:
    """The error a Ray error wraps (a task's own exception), else ``exc``."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            exc = cause
            continue
        break
    return exc
