"""One tesseract process: a page image in, words out.

The page goes to tesseract as a lossless PNG on stdin and the TSV comes back on
stdout, so no temporary files are written and concurrent calls share nothing:
the engine is ``parallel_safe`` and the pipeline reads ``--jobs`` pages at once.

The engine calls the CLI itself rather than through pytesseract because
pytesseract keeps the binary in a module global and passes ``os.environ``,
which two engines with different binaries (or threads) would share.
"""

from __future__ import annotations

import io
import signal
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tair_ocr.engines.tesseract.binary import (
    INSTALL_HINT,
    TesseractBinary,
    last_error,
    subprocess_env,
)
from tair_ocr.engines.tesseract.tsv import parse_tsv
from tair_ocr.errors import MissingDependencyError, PageFailedError
from tair_ocr.results import Word

if TYPE_CHECKING:
    from PIL import Image

#: Tesseract refuses images with a side longer than this (leptonica/tesseract limit).
MAX_SIDE = 32767
#: Below this many pixels on a side there is nothing tesseract can read.
MIN_SIDE = 3


def run_tesseract(
    binary: TesseractBinary,
    command: Sequence[str],
    image: Image.Image,
    *,
    timeout: float | None,
    source: str,
) -> list[Word]:
    """Run ``command`` (a command line of ``binary`` that reads a PNG on stdin and
    writes TSV to stdout) on ``image``; the words carry ``source``.

    :raises TimeoutError: tesseract ran longer than ``timeout`` seconds.
    :raises MissingDependencyError: the binary does not start.
    :raises PageFailedError: tesseract failed or crashed.
    """
    width, height = image.size
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless, fast to write
    try:
        proc = subprocess.run(
            list(command),
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
    return parse_tsv(proc.stdout.decode("utf-8", errors="replace"), source=source)


def ocr_ready(image: Image.Image) -> Image.Image:
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


def is_uniform(image: Image.Image) -> bool:
    """True when every pixel has the same value (blank page: nothing to read)."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)  # type: ignore[misc]


def _failure_message(returncode: int, stderr: bytes) -> str:
    """One line: how tesseract ended and the most telling stderr line(s)."""
    text = stderr.decode("utf-8", errors="replace")
    last = last_error(text)
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
