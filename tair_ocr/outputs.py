"""Where outputs go, and writing them atomically.

An output is written to a temporary file in the destination folder and renamed
into place only when complete, so a crash or Ctrl-C never leaves a half-written
file, and an existing output survives a failed run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tair_ocr.components import Writer
from tair_ocr.errors import OutputError, OutputExistsError, UsageError


def output_path(source: Path, output_dir: Path, writer: Writer) -> Path:
    """``<output_dir>/<source stem><writer suffix>``."""
    return output_dir / f"{source.stem}{writer.suffix}"


def plan_outputs(
    sources: Sequence[Path],
    output_dir: Path,
    writers: Sequence[Writer],
    *,
    force: bool,
    folders: Mapping[Path, Path] | None = None,
) -> dict[Path, dict[str, Path]]:
    """Map each source to its output paths, refusing clashes before any work starts.

    ``folders`` gives sources a subfolder of ``output_dir`` (relative) for their
    outputs: a batch job's documents found in subfolders of an input folder.
    Raises :class:`OutputExistsError` when an output exists and ``force`` is
    false (:func:`refuse_existing`), :class:`UsageError` when two inputs would
    write the same output or an output would overwrite an input.
    """
    plan: dict[Path, dict[str, Path]] = {}
    claimed: dict[Path, Path] = {}
    inputs = {s.resolve() for s in sources}
    for source in sources:
        paths = {}
        folder = output_dir / folders[source] if folders and source in folders else output_dir
        for writer in writers:
            path = output_path(source, folder, writer)
            resolved = path.resolve()
            if resolved in inputs:
                raise UsageError(f"output {path} would overwrite an input; choose another -o DIR")
            if resolved in claimed and claimed[resolved] != source:
                raise UsageError(
                    f"inputs {claimed[resolved]} and {source} would both write {path}; "
                    "run them separately or rename one"
                )
            claimed[resolved] = source
            paths[writer.name] = path
        if not force:
            refuse_existing(paths)
        plan[source] = paths
    return plan


def named_outputs(source: Path, pdf: Path, writers: Sequence[Writer]) -> dict[str, Path]:
    """The outputs of ``tair-ocr INPUT OUTPUT.pdf`` (OCRmyPDF's form), by writer
    name: the searchable PDF goes to ``pdf`` itself (the ``pdf`` writer's, else
    that of the first writer of a PDF: ``pdfa``), the others beside it, named after
    its stem (``out.pdf``: ``out.txt``, ``out.json``, ``out.pdfa.pdf``).

    Raises :class:`UsageError` when no writer writes a PDF (the path names one), or
    an output would overwrite ``source`` or another output.
    """
    pdf_writers = [w for w in writers if w.suffix.lower().endswith(".pdf")]
    if not pdf_writers:
        raise UsageError(
            f"{pdf} names the searchable PDF, but the output types "
            f"({', '.join(w.name for w in writers)}) have no PDF; add pdf (or pdfa) to "
            "--output-type, or give the outputs' folder with -o DIR"
        )
    chosen = next((w for w in pdf_writers if w.name == "pdf"), pdf_writers[0])
    paths: dict[str, Path] = {}
    claimed = {source.resolve()}
    for writer in writers:
        path = pdf if writer is chosen else pdf.with_name(f"{pdf.stem}{writer.suffix}")
        if path.resolve() in claimed:
            raise UsageError(f"output {path} would overwrite the input or another output")
        claimed.add(path.resolve())
        paths[writer.name] = path
    return paths


def refuse_existing(outputs: Mapping[str, Path]) -> None:
    """Raise :class:`OutputExistsError` when one of ``outputs`` (a source's planned
    output paths) exists: what :func:`plan_outputs` checks without ``force``, for a
    plan made with ``force`` to find clashes early (the command line plans every
    input once, and checks each input's outputs when its turn comes)."""
    for path in outputs.values():
        if path.exists():
            raise OutputExistsError(f"output exists: {path}", hint="use --force to overwrite")


@contextlib.contextmanager
def atomic_destination(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give outputs the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
