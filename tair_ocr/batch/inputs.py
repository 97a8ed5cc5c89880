"""What a batch job reads: files, folders (recursively) and glob patterns.

:func:`expand_inputs` turns the inputs a user gives into the documents of the job,
in a stable order:

* a **file** is one document, whatever its name (the loaders decide by content, as
  for a single input);
* a **folder** is every file under it, recursively, whose suffix is one of
  :data:`INPUT_SUFFIXES` (case-insensitive), sorted by path; hidden files and
  folders (names starting with ``.``) are left out, and so are the job's output
  folder when it lies inside and files named like outputs (``*.ocr.pdf``; a rerun
  must not read its own outputs);
* a **glob pattern** (``scans/*.pdf``, ``archive/**/*.tif``; ``**`` crosses folders)
  is every path it matches, sorted, files named like outputs left out; a matched
  folder is expanded as above. A path that exists is never taken as a pattern, even
  with ``*`` or ``[`` in its name.

A document reached twice (two patterns matching it) is read once, at its first
place. A pattern that matches nothing, or a folder without a supported file, is
an :class:`~tair_ocr.errors.InputError` of its own: reported like a missing file,
while the other inputs still run.

Each document keeps the folder it was found in relative to the folder or pattern
that found it (:attr:`Expansion.folders`), so ``tair-ocr scans/ -o out`` writes
``scans/2024/a.pdf``'s outputs to ``out/2024/`` and two files of the same name in
different subfolders do not collide.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tair_ocr.errors import InputError

__all__ = ["INPUT_SUFFIXES", "Expansion", "expand_inputs", "is_pattern"]

#: File suffixes taken from folders: what the built-in loaders read.
INPUT_SUFFIXES = frozenset(
    {
        ".pdf",
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".tif",
        ".tiff",
        ".gif",
        ".bmp",
        ".webp",
        ".jp2",
        ".j2k",
        ".jpx",
        ".pbm",
        ".pgm",
        ".ppm",
        ".pnm",
    }
)

_MAGIC = frozenset("*?[")


@dataclass
class Expansion:
    """The documents of a job, and the inputs that gave none."""

    #: The documents, in job order.
    sources: list[Path] = field(default_factory=list)
    #: For documents found in a folder or by a pattern: the subfolder of the output
    #: folder their outputs go to (relative; ``Path(".")`` for the top).
    folders: dict[Path, Path] = field(default_factory=dict)
    #: Inputs that gave no document: (the input as given, why).
    errors: list[tuple[str, InputError]] = field(default_factory=list)


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a glob pattern (has ``*``, ``?`` or ``[``) and not an
    existing path."""
    return any(c in _MAGIC for c in text) and not os.path.lexists(text)


def expand_inputs(
    inputs: Sequence[str | Path],
    *,
    exclude: Iterable[Path] = (),
    output_suffixes: Iterable[str] = (),
) -> Expansion:
    """The documents of ``inputs`` (files, folders, glob patterns; see the module
    docstring); folders in ``exclude`` (the output folder) are never entered, and
    files found in folders or by patterns whose names end with one of
    ``output_suffixes`` (``".ocr.pdf"``: the outputs' names) are not inputs."""
    excluded = {_resolved(Path(p)) for p in exclude}
    outputs = tuple(s.lower() for s in output_suffixes)

    def wanted(path: Path) -> bool:
        return not path.name.lower().endswith(outputs) if outputs else True

    expansion = Expansion()
    seen: set[Path] = set()

    def add(path: Path, folder: Path | None) -> None:
        key = _resolved(path)
        if key in seen:
            return
        seen.add(key)
        expansion.sources.append(path)
        if folder is not None:
            expansion.folders[path] = folder

    for given in inputs:
        text = str(given)
        path = Path(given)
        if is_pattern(text):
            matches = sorted(glob.glob(text, recursive=True))
            found = 0
            root = _pattern_root(text)
            for match in matches:
                matched = Path(match)
                if matched.is_dir():
                    files = [f for f in _folder_files(matched, excluded) if wanted(f)]
                    for file in files:
                        add(file, _relative_folder(file, root))
                    found += len(files)
                elif matched.is_file() and wanted(matched):
                    add(matched, _relative_folder(matched, root))
                    found += 1
            if not found:
                expansion.errors.append((text, InputError(f"{text}: no file matches this pattern")))
        elif path.is_dir():
            files = [f for f in _folder_files(path, excluded) if wanted(f)]
            if not files:
                suffixes = ", ".join(sorted(s.lstrip(".") for s in INPUT_SUFFIXES))
                expansion.errors.append(
                    (text, InputError(f"{text}: no PDF or image file in this folder ({suffixes})"))
                )
            for file in files:
                add(file, _relative_folder(file, path))
        else:
            add(path, None)  # a file, or a missing one: its loader reports it
    return expansion


def _folder_files(folder: Path, excluded: set[Path]) -> list[Path]:
    """The supported files under ``folder``, recursively, sorted; hidden entries
    and ``excluded`` folders left out. Links to folders are not followed (no loops)."""
    found: list[Path] = []
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and _resolved(here / d) not in excluded
        )
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in INPUT_SUFFIXES:
                continue
            path = here / name
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.parts)


def _pattern_root(pattern: str) -> Path:
    """The folder a pattern starts in: its leading components without ``*?[``."""
    parts: list[str] = []
    for part in Path(pattern).parts[:-1]:
        if any(c in _MAGIC for c in part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _relative_folder(file: Path, root: Path) -> Path:
    """The folder of ``file`` relative to ``root`` (``Path(".")`` when directly in it
    or, which a pattern's matches never are, outside it)."""
    try:
        return file.parent.relative_to(root)
    except ValueError:
        return Path(".")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
