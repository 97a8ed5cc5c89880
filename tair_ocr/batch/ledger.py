"""The job ledger: which documents of a batch job are done, so a rerun resumes.

With ``--resume`` (``resume=True`` in :func:`tair_ocr.batch.run_batch`) a batch job
keeps a ledger in its output folder, ``.tair-ocr-ledger.jsonl``: one JSON object per
line, each appended in one write and flushed to disk (``fsync``) as a document's
outputs are written, so a crash or a kill loses at most the line being written (a
torn line is ignored when the ledger is read, and the next record starts a line of
its own)::

    {"v": 1, "event": "done", "key": ..., "source": "/abs/in/a.pdf",
     "source_size": 81234, "source_mtime_ns": ..., "outputs": {"txt": {"path":
     "/abs/out/a.txt", "size": 1234, "mtime_ns": ...}}, "pages": 12,
     "failed_pages": 0, "at": "2026-12-06T12:00:00+0000"}

The record is written when the document's outputs are written to their temporary
files and before they are renamed into place (:meth:`tair_ocr.Pipeline.write`;
renaming keeps a file's size and modification time), so no crash leaves an output
in place that the ledger lacks; a crash between the two leaves a record whose
outputs are missing, which is not done.

A document's **key** is a hash of its source's absolute path and of everything that
changes its outputs (:func:`fingerprint`: the engines and restorer that run,
fusion, restore and existing-text modes, output types, languages, DPI, page
selection, scale, filters, plugin options and the tair-ocr version; not
``--jobs``, ``--timeout``, ``--force`` nor the backend, which give the same
outputs). A document is **done** when the ledger's last record for its key was
made from the source as it is now (same size and modification time), with no
failed page, and every output it lists is still there unchanged (same size and
modification time): a rerun skips it. Any change (the source edited or replaced,
an option, an output deleted or edited) makes it not done, and it is processed
again.

Outputs the ledger records under the document's key are the job's own: a rerun
replaces them without ``--force`` (those of a document whose source changed or
whose pages failed). Any other existing output, another job's included (other
options), is refused without ``--force``, as always.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tair_ocr._version import __version__
from tair_ocr.errors import OutputError
from tair_ocr.settings import Settings

__all__ = [
    "LEDGER_NAME",
    "Ledger",
    "LedgerEntry",
    "append_record",
    "document_key",
    "fingerprint",
    "remove_stale_temporaries",
    "stamp",
]

#: The ledger's file name in the job's output folder.
LEDGER_NAME = ".tair-ocr-ledger.jsonl"
#: Version of the ledger's records.
LEDGER_VERSION = 1

#: Settings that do not change what is written (how fast, where, whether to overwrite).
_NOT_IN_FINGERPRINT = frozenset({"jobs", "timeout", "force", "output_dir"})


def fingerprint(settings: Settings, *, engine: str, restorer: str) -> str:
    """A hash of what changes a document's outputs: ``settings`` (plugin options
    included) with the engines and the restorer that actually run (``auto``
    resolved), and the tair-ocr version."""
    values = settings.model_dump(mode="json", exclude=set(_NOT_IN_FINGERPRINT))
    values.update(engine=engine, restorer=restorer, version=__version__)
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def document_key(source: Path, options: str) -> str:
    """The ledger key of ``source`` under the options fingerprint ``options``: its
    absolute path (links resolved) and the options, hashed."""
    text = json.dumps([str(source.resolve()), options])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stamp(source: Path) -> tuple[int, int] | None:
    """The size and modification time of ``source`` (None when it cannot be read):
    what tells a source's versions apart."""
    try:
        stat = source.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class _Done:
    """A ``done`` record, kept compact (a job may hold millions)."""

    source: tuple[int, int] | None
    failed_pages: int
    pages: int
    #: (writer name, absolute path, size, modification time) per output.
    outputs: tuple[tuple[str, str, int, int], ...]


class Ledger:
    """The ledger of the job writing to ``folder`` (see the module docstring).

    Opening reads what earlier runs recorded; the :meth:`entry` of a document
    records it when its outputs are written (:meth:`LedgerEntry.written`, in any
    process that can reach the folder).
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LEDGER_NAME
        self._done: dict[str, _Done] = {}
        #: Every output path recorded under a key, in any of its records.
        self._owned: dict[str, set[str]] = {}
        for record in self._read():
            if record.get("event") != "done":
                continue
            try:
                key = str(record["key"])
                outputs = tuple(
                    (str(name), str(o["path"]), int(o["size"]), int(o["mtime_ns"]))
                    for name, o in record["outputs"].items()
                )
                size, mtime = record.get("source_size"), record.get("source_mtime_ns")
                done = _Done(
                    source=(int(size), int(mtime))
                    if size is not None and mtime is not None
                    else None,
                    failed_pages=int(record.get("failed_pages", 1)),
                    pages=int(record.get("pages", 0)),
                    outputs=outputs,
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # not a record this version wrote
            self._done[key] = done
            self._owned.setdefault(key, set()).update(o[1] for o in outputs)

    def _read(self) -> Iterator[dict[str, Any]]:
        try:
            handle = self.path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"cannot read the job ledger {self.path}: {exc.strerror}") from exc
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash: that event did not complete
                if isinstance(record, dict) and record.get("v") == LEDGER_VERSION:
                    yield record

    # ------------------------------------------------------------------ questions

    def is_done(self, key: str, source: Path, outputs: Mapping[str, Path]) -> bool:
        """Whether the document of ``key`` is done: last recorded written from
        ``source`` as it is now, with every page read, to exactly ``outputs``, each
        still there unchanged."""
        done = self._done.get(key)
        if done is None or done.failed_pages != 0 or done.source is None:
            return False
        if stamp(source) != done.source:
            return False
        recorded = {name: (path, size, mtime) for name, path, size, mtime in done.outputs}
        if set(recorded) != set(outputs):
            return False
        for name, path in outputs.items():
            named, size, mtime = recorded[name]
            if named != _name(path) or stamp(path) != (size, mtime):
                return False
        return True

    def owns(self, key: str, path: Path) -> bool:
        """Whether the ledger records ``path`` as an output written under ``key`` (the
        job may replace it without ``--force``)."""
        return _name(path) in self._owned.get(key, ())

    def done_pages(self, key: str) -> int:
        """The pages the last record of ``key`` counts (0 without one)."""
        done = self._done.get(key)
        return done.pages if done is not None else 0

    def entry(self, key: str, source: Path, stamp: tuple[int, int] | None) -> LedgerEntry:
        """What records ``source``'s outputs as they are written (a worker process
        may do it: it needs only the ledger's path)."""
        return LedgerEntry(self.path, key, source, stamp)


@dataclass(frozen=True)
class LedgerEntry:
    """How to record one document done: the ledger's path, the document's key, its
    source and the source's size and modification time when the job read it.
    Picklable: a Ray worker that writes the outputs records them itself."""

    path: Path
    key: str
    source: Path
    stamp: tuple[int, int] | None

    def written(self, outputs: Mapping[str, Path], staged: Mapping[str, Path], result: Any) -> None:
        """Record the document done: ``outputs`` (final paths, by writer name)
        written to the temporary files ``staged``, not yet renamed into place
        (:meth:`tair_ocr.Pipeline.write`'s ``on_written``); ``result`` is its
        :class:`~tair_ocr.results.DocumentResult`."""
        files: dict[str, dict[str, Any]] = {}
        for name, path in outputs.items():
            stat = Path(staged[name]).stat()
            files[name] = {"path": _name(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        record = {
            "event": "done",
            "key": self.key,
            "source": _name(self.source),
            "source_size": self.stamp[0] if self.stamp else None,
            "source_mtime_ns": self.stamp[1] if self.stamp else None,
            "outputs": files,
            "pages": len(result.pages),
            "failed_pages": len(result.failed_pages),
        }
        append_record(self.path, record)


_APPEND_LOCK = threading.Lock()


def append_record(ledger: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` to the ledger file ``ledger`` as one line, in one write,
    flushed to disk; a line a crash tore before it stays a line of its own."""
    record = {"v": LEDGER_VERSION, **record, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    with _APPEND_LOCK:
        try:
            ledger.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(ledger, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
                os.write(fd, line)  # one write: lines of two writers never interleave
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(
                f"cannot write the job ledger {ledger}: {exc.strerror or exc}"
            ) from exc


def _name(path: Path) -> str:
    """How the ledger names a file: its absolute path (a rerun from another folder
    names it the same)."""
    return str(Path(path).absolute())


def remove_stale_temporaries(outputs: Mapping[str, Path]) -> int:
    """Remove the temporary files an interrupted run left beside ``outputs``
    (``.<name>.XXXXXXXX.tmp``, what :func:`tair_ocr.outputs.atomic_destination`
    writes before it renames: a kill between the two leaves one). Returns how many."""
    removed = 0
    for path in outputs.values():
        with contextlib.suppress(OSError):
            for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
                    removed += 1
    return removed
