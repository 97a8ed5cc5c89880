"""The page stages of the Ray backend, as Ray Data callables.

Each stage calls the pipeline's own stage method (one implementation of the data
path, :class:`~tair_ocr.pipeline.PageWork` carried from one to the next):

=============== ======================================= ===================================
stage           what it runs                            where (:mod:`.ray_backend`)
=============== ======================================= ===================================
open_documents  a document opened: its pages listed     Ray tasks (CPU)
load_pages      the loader: one page rasterised         Ray tasks (CPU)
ReadPages       page filters, read first, decide,       an actor pool (CPU): engines loaded
                second opinions; a page with nothing
                to restore is finished here
RestorePages    the restorer on the unsure regions'     an actor pool holding the model:
                tiles, in batches                       GPU actors when it wants CUDA
FinishPages     re-read, fuse, layout                   an actor pool (CPU)
write_document  the writers, atomically                 Ray tasks, one per document
=============== ======================================= ===================================

The job starts with one row per document (the driver opens none: a million
documents are opened on the cluster). :func:`open_documents` turns it into a
``document`` row (the pages to process and the document's kind, for the driver),
or an ``error`` row (the document cannot be read: an input error, as locally), and
one ``page`` row per page. Columns: ``row`` (that kind), ``doc`` (the document's
number in the job), ``index`` (the page's, or -1), ``source``, ``kind`` and
``prefix`` (``--save-restored``'s, or None) of the document, ``t0`` (when the
page's loading started, seconds since the epoch), ``final`` and ``state``: the
pickled page, :class:`~tair_ocr.pipeline.PageWork` or, once ``final``, its
:class:`~tair_ocr.results.PageResult` (a ``document`` row: its kind and page
indices; an ``error`` row: the exception). A page that fails in a stage becomes a
final failed result at once, as locally; later stages pass final rows through.

Each worker process builds its pipeline once from a :class:`PipelineSpec` (the
driver's plugins and settings, ``auto`` engines and restorer resolved) and keeps
it. Nothing here imports Ray; batches are ``pyarrow`` tables (Ray Data's
dependency).
"""

from __future__ import annotations

import os
import pickle
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tair_ocr.pipeline import PageWork, Pipeline
from tair_ocr.plugins import PluginManager
from tair_ocr.results import DocumentResult

if TYPE_CHECKING:
    import pyarrow as pa

    from tair_ocr.batch.ledger import LedgerEntry
    from tair_ocr.components import LoadedDocument

__all__ = [
    "DocumentPages",
    "FinishPages",
    "PipelineSpec",
    "ReadPages",
    "RestorePages",
    "WrittenDocument",
    "document_rows",
    "load_pages",
    "open_documents",
    "write_document",
]


@dataclass(frozen=True)
class PipelineSpec:
    """How a worker builds the driver's pipeline: the same plugins (file paths
    absolute, plugin objects pickled) and settings, with the engines and restorer
    the driver resolved (``auto`` is decided once, not per machine). Relative paths
    in options are relative to the driver's folder (``cwd``): workers work there
    when it exists on their machine (shared storage)."""

    plugins: tuple[str | object, ...]
    autoload: bool
    blocked: tuple[str, ...]
    settings: dict[str, Any]
    cwd: str
    #: Tells one job's pipelines from another's in a worker process.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineSpec:
        settings = pipeline.settings.model_dump()
        settings.update(engine=pipeline.engine_label, restorer=pipeline.restorer.name)
        return cls(
            plugins=tuple(pipeline.plugins.requested),
            autoload=pipeline.plugins.autoload,
            blocked=tuple(sorted(pipeline.plugins.blocked)),
            settings=settings,
            cwd=os.getcwd(),
        )

    def build(self, *, require_restorer: bool) -> Pipeline:
        """This process's pipeline of the spec (built on first use, then kept)."""
        key = (self.token, require_restorer)
        pipeline = _PIPELINES.get(key)
        if pipeline is None:
            if any(k[0] != self.token for k in _PIPELINES):
                _PIPELINES.clear()  # another job's: this process serves a new one now
            if self.cwd != os.getcwd() and os.path.isdir(self.cwd):
                os.chdir(self.cwd)
            manager = PluginManager(
                plugins=self.plugins, autoload=self.autoload, blocked=self.blocked
            )
            pipeline = Pipeline(
                plugin_manager=manager, require_restorer=require_restorer, **self.settings
            )
            _PIPELINES[key] = pipeline
        return pipeline


#: This worker process's pipelines, by (job token, restorer required).
_PIPELINES: dict[tuple[str, bool], Pipeline] = {}
#: The document this worker process opened last: pages of one document come in a row.
_OPEN: list[tuple[Path, LoadedDocument]] = []


def document_rows(doc: int, source: Path, prefix: Path | None) -> list[dict[str, Any]]:
    """The row a document starts the job as."""
    return [_row("document", doc, -1, str(source), "", str(prefix) if prefix else None)]


def _row(
    kind_of_row: str, doc: int, index: int, source: str, kind: str, prefix: str | None
) -> dict[str, Any]:
    return {
        "row": kind_of_row,
        "doc": doc,
        "index": index,
        "source": source,
        "kind": kind,
        "prefix": prefix,
        "t0": 0.0,
        "final": kind_of_row != "page",
        "state": b"",
    }


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("row", pa.string()),
            ("doc", pa.int64()),
            ("index", pa.int64()),
            ("source", pa.string()),
            ("kind", pa.string()),
            ("prefix", pa.string()),
            ("t0", pa.float64()),
            ("final", pa.bool_()),
            ("state", pa.large_binary()),
        ]
    )


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_schema())


def _work(row: Mapping[str, Any]) -> Any:
    return pickle.loads(row["state"])


def _pending(row: Mapping[str, Any]) -> bool:
    return row["row"] == "page" and not row["final"]


def open_documents(batch: pa.Table, *, spec: PipelineSpec) -> pa.Table:
    """Open the documents of ``batch``: for each, its ``document`` row (kind and
    page indices, ``--pages`` applied) and a ``page`` row per page, or an ``error``
    row when it cannot be read."""
    pipeline = spec.build(require_restorer=False)
    rows: list[dict[str, Any]] = []
    for row in batch.to_pylist():
        if row["row"] != "document":
            rows.append(row)
            continue
        source = Path(row["source"])
        try:
            with pipeline.open(source) as document:
                kind, indices = document.kind, pipeline.page_indices(document)
        except Exception as exc:
            error = _row("error", row["doc"], -1, row["source"], "", row["prefix"])
            error["state"] = pickle.dumps(exc)
            rows.append(error)
            continue
        info = _row("document", row["doc"], -1, row["source"], kind, row["prefix"])
        info["state"] = pickle.dumps(indices)
        rows.append(info)
        rows += [
            _row("page", row["doc"], index, row["source"], kind, row["prefix"]) for index in indices
        ]
    return _table(rows)


def load_pages(batch: pa.Table, *, spec: PipelineSpec) -> pa.Table:
    """Load (rasterise) the pages of ``batch``; a page that fails to load becomes
    its failed result."""
    pipeline = spec.build(require_restorer=False)
    rows = batch.to_pylist()
    for row in rows:
        if not _pending(row):
            continue
        row["t0"] = time.time()
        try:
            page = _load(pipeline, Path(row["source"]), row["index"])
            row["state"] = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            row["state"] = pickle.dumps(pipeline.failed_load(row["index"], exc))
            row["final"] = True
    return _table(rows)


def _load(pipeline: Pipeline, source: Path, index: int) -> Any:
    if not _OPEN or _OPEN[0][0] != source:
        while _OPEN:
            _OPEN.pop()[1].close()
        _OPEN.append((source, pipeline.open(source)))
    document = _OPEN[0][1]
    return next(iter(document.pages([index])))


class _Stage:
    """An actor stage: the pipeline built once, when the actor starts."""

    require_restorer = False

    def __init__(self, spec: PipelineSpec) -> None:
        self.pipeline = spec.build(require_restorer=self.require_restorer)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        for row in rows:
            if _pending(row):
                self.process(row)
        return _table(rows)

    def process(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def _final(self, row: dict[str, Any], work: PageWork) -> None:
        row["state"] = pickle.dumps(self.pipeline.finish_page(work))
        row["final"] = True


class ReadPages(_Stage):
    """The page filters, the first reading, the decision and second opinions
    (:meth:`Pipeline.prepare_page`, :meth:`Pipeline.read_page`); a page with
    nothing to restore is finished here (:meth:`Pipeline.finish_page`)."""

    def process(self, row: dict[str, Any]) -> None:
        prefix = Path(row["prefix"]) if row["prefix"] else None
        work = self.pipeline.prepare_page(_work(row), kind=row["kind"], restored_prefix=prefix)
        work = self.pipeline.read_page(work)
        if work.needs_restoration:
            row["state"] = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            self._final(row, work)


class RestorePages(_Stage):
    """The restorer on a page's chosen tiles (:meth:`Pipeline.restore_page`): the
    model is loaded once per actor and gets the tiles in batches."""

    require_restorer = True

    def process(self, row: dict[str, Any]) -> None:
        work = self.pipeline.restore_page(_work(row))
        if work.failed:
            self._final(row, work)
        else:
            row["state"] = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)


class FinishPages(_Stage):
    """Re-read the restored regions, fuse, lay out (:meth:`Pipeline.finish_page`)."""

    def process(self, row: dict[str, Any]) -> None:
        self._final(row, _work(row))


@dataclass
class DocumentPages:
    """A document as the driver hands it to its write task (its pages, each a
    pickled :class:`~tair_ocr.results.PageResult`, come beside it, in order)."""

    source: str
    kind: str
    #: Wall seconds from its first page's start to its last page's end.
    seconds: float


@dataclass
class WrittenDocument:
    """What a write task tells the driver: the document's result without its words
    (its pages' blocks dropped: the driver reports, it keeps no text), and how many
    words it had."""

    result: DocumentResult
    words: int


def write_document(
    spec: PipelineSpec,
    document: DocumentPages,
    outputs: Mapping[str, Path],
    ledger: LedgerEntry | None,
    *pages: bytes,
) -> tuple[bool, WrittenDocument]:
    """Assemble a document from its ``pages`` (each a pickled page result, in
    order) and write its outputs (:meth:`Pipeline.finish_document`, atomically),
    recorded in the job's ``ledger`` before they are renamed into place (a driver
    killed meanwhile loses nothing). Returns whether they were written, and the
    document in brief. (The pages are separate arguments so that Ray hands the
    task each from its object store.)"""
    pipeline = spec.build(require_restorer=False)
    result = pipeline.new_result(document.source, document.kind)
    result.pages = [pickle.loads(page) for page in pages]
    result.timings["total"] = document.seconds
    on_written = None
    if ledger is not None:

        def on_written(written: DocumentResult, staged: dict[str, Path]) -> None:
            ledger.written(outputs, staged, written)

    done = pipeline.finish_document(result, outputs, on_written=on_written)
    words = sum(1 for page in result.pages for _ in page.words())
    brief = result.model_copy(
        update={"pages": [page.model_copy(update={"blocks": []}) for page in result.pages]}
    )
    return done, WrittenDocument(brief, words)
