"""The ``cleaner`` restorer: a small CNN trained on synthetic degradations, on the CPU.

The network (:mod:`tair_ocr.cleaner.model`) ships with the package
(``tair_ocr/cleaner/weights/cleaner.safetensors``, a few MB; how it was trained is in
``MODEL_CARD.md`` beside it). It removes blur (optical, defocus, motion), noise, JPEG
artefacts, shading and fading, and sharpens text the working scale has enlarged; it
returns dark text on white paper.

It works at scale 1: small text is enlarged by the framework's working scale before
tiling (the network was trained on pages enlarged by exactly that step). The model is
loaded once, on the first tile, and kept; tiles are turned to gray (BT.601 luma),
restored in ``torch.inference_mode`` and replicated to three channels.

Options: ``--cleaner-weights FILE`` loads other weights (a ``.json`` config must sit
beside them); ``--cleaner-threads N`` sets the torch CPU threads (default: all cores;
the ``TAIR_OCR_CLEANER_THREADS`` environment variable does the same).
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tair_ocr.components import Availability, RestoredTiles, Restorer
from tair_ocr.errors import UsageError
from tair_ocr.plugins import hookimpl

if TYPE_CHECKING:
    import numpy as np
    import torch

    from tair_ocr.cleaner.model import CleanerNet
    from tair_ocr.restorers.classical import ClassicalRestorer

__all__ = ["DEFAULT_WEIGHTS", "THREADS_ENV", "CleanerRestorer"]

#: The shipped weights.
DEFAULT_WEIGHTS = (
    Path(__file__).resolve().parent.parent / "cleaner" / "weights" / "cleaner.safetensors"
)
#: Environment variable that sets the torch CPU threads the cleaner uses.
THREADS_ENV = "TAIR_OCR_CLEANER_THREADS"


def _plugin_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    nested = options.get("options")
    if isinstance(nested, Mapping):
        return {**options, **nested}
    return options


class CleanerRestorer(Restorer):
    """Compact U-Net text restorer (gray in, gray out, scale 1) for CPUs.

    :param model: use this network instead of loading weights (training, tests).
    :param weights: path of a ``.safetensors`` file with its ``.json`` beside it;
        default :data:`DEFAULT_WEIGHTS`.
    :param threads: torch CPU threads (default: ``$TAIR_OCR_CLEANER_THREADS`` or
        all cores).
    :param precision: ``"auto"`` (bfloat16 where the CPU computes it natively,
        else float32), ``"fp32"`` or ``"bf16"``.
    """

    name = "cleaner"
    description = (
        "small CNN trained on synthetic degradations (deblur, denoise, de-JPEG, shading); "
        "fast on CPU"
    )
    scale = 1
    tile_size = 512
    batch_size = 4
    #: It turns paper white, so skipped (blank) tiles are written white too.
    blank_paper = 1.0

    def __init__(
        self,
        *,
        model: CleanerNet | None = None,
        weights: Path | None = None,
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        self._model = model
        self._weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        self._threads = threads
        self._precision = _check_precision(precision, "precision")
        self._bf16: bool | None = None
        self._lock = threading.Lock()
        self.metadata: dict[str, Any] = {}
        #: Set by :meth:`restore_page_hint` on binary (fax-like) pages, whose
        #: tiles go to the classical restorer's despeckling instead of the network.
        self._binary_page: ClassicalRestorer | None = None

    @property
    def weights(self) -> Path:
        """The weights file this restorer loads."""
        return self._weights

    def availability(self) -> Availability:
        if self._model is not None:
            return Availability.yes("model given")
        try:
            import safetensors  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            return Availability.no(
                f"{exc.name} is not installed", hint="pip install torch safetensors"
            )
        if not self._weights.is_file():
            return Availability.no(
                f"cleaner weights not found at {self._weights}",
                hint="reinstall tair-ocr, or pass --cleaner-weights FILE",
            )
        if not self._weights.with_suffix(".json").is_file():
            return Availability.no(
                f"cleaner config {self._weights.with_suffix('.json')} is missing"
            )
        return Availability.yes(f"weights {self._weights.name}")

    def configure(self, options: Mapping[str, Any]) -> None:
        opts = _plugin_options(options)
        weights = opts.get("cleaner_weights")
        if weights:
            path = Path(weights)
            if not path.is_file():
                raise UsageError(f"--cleaner-weights: file not found: {path}")
            if not path.with_suffix(".json").is_file():
                raise UsageError(
                    f"--cleaner-weights: {path.with_suffix('.json')} (the model config) is missing"
                )
            if path != self._weights:
                self._weights, self._model = path, None
        threads = opts.get("cleaner_threads")
        if threads is not None:
            self._threads = _positive_int(threads, "--cleaner-threads")
        precision = opts.get("cleaner_precision")
        if precision:
            self._precision = _check_precision(precision, "--cleaner-precision")
            self._bf16 = None

    # ------------------------------------------------------------------ model

    def _thread_count(self) -> int:
        if self._threads is not None:
            return self._threads
        env = os.environ.get(THREADS_ENV)
        if env:
            return _positive_int(env, THREADS_ENV)
        return os.cpu_count() or 1

    def model(self) -> CleanerNet:
        """The network, loaded on first use and kept."""
        with self._lock:
            if self._model is None:
                from tair_ocr.cleaner.model import load_model

                if not self._weights.is_file():
                    raise UsageError(f"cleaner weights not found at {self._weights}")
                self._model, self.metadata = load_model(self._weights)
            if self._bf16 is None:
                from tair_ocr.cleaner.model import bf16_is_fast

                self._bf16 = self._precision == "bf16" or (
                    self._precision == "auto" and bf16_is_fast()
                )
                # NHWC is what oneDNN's convolutions run fastest on.
                self._model.to(memory_format=torch_channels_last())
            return self._model

    @property
    def uses_bf16(self) -> bool:
        """Whether tiles are restored in bfloat16 (known once the model is loaded)."""
        self.model()
        return bool(self._bf16)

    # ------------------------------------------------------------------ tiles

    def restore_page_hint(self, page: np.ndarray) -> None:
        """Route binary (fax, 1-bit) pages away from the network: any filter can
        only thin or blur their hard-edged strokes, so their tiles are despeckled
        by the classical restorer, as it does for them (on a benchmark fax page the
        network raised tesseract's CER from 6.3 % to 7.4 %, despeckling cut it to
        1.6 %)."""
        from tair_ocr.restorers.classical import ClassicalRestorer
        from tair_ocr.working_scale import is_binary, luminance

        self._binary_page = None
        if is_binary(luminance(page)):
            fallback = ClassicalRestorer()
            fallback.restore_page_hint(page)
            self._binary_page = fallback

    def restore(self, tiles: torch.Tensor) -> RestoredTiles:
        """Restore N×3×H×W (or N×1×H×W) float tiles in [0, 1]; returns N×3×H×W."""
        import torch

        if tiles.ndim != 4 or tiles.shape[1] not in (1, 3):
            raise ValueError(f"expected N×3×H×W tiles, got shape {tuple(tiles.shape)}")
        if self._binary_page is not None:
            return self._binary_page.restore(tiles)
        model = self.model()
        threads = self._thread_count()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        x = tiles.detach().to("cpu", torch.float32)
        if x.shape[1] == 3:
            # BT.601 luma, as Pillow's convert("L") and the training data use.
            weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x * weights).sum(dim=1, keepdim=True)
        x = x.contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(self._bf16)),
        ):
            gray = model(x).float().clamp_(0.0, 1.0)
        images = gray.expand(-1, 3, -1, -1).to(device=tiles.device, dtype=tiles.dtype)
        return RestoredTiles(images=images, words=[[] for _ in range(tiles.shape[0])])


def torch_channels_last() -> Any:
    import torch

    return torch.channels_last


_PRECISIONS = ("auto", "fp32", "bf16")


def _check_precision(value: Any, flag: str) -> str:
    if value not in _PRECISIONS:
        raise UsageError(f"{flag} must be one of {', '.join(_PRECISIONS)}, not {value!r}")
    return str(value)


def _positive_int(value: Any, flag: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number, not {value!r}") from None
    if number < 1:
        raise UsageError(f"{flag} must be at least 1, not {number}")
    return number


@hookimpl
def register_restorers() -> list[Restorer]:
    return [CleanerRestorer()]


@hookimpl
def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cleaner", "Options of the cleaner restorer")
    group.add_argument(
        "--cleaner-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="cleaner weights (.safetensors with its .json beside it; default: the shipped ones)",
    )
    group.add_argument(
        "--cleaner-threads",
        type=int,
        default=None,
        metavar="N",
        help=f"torch CPU threads for the cleaner (default: all cores, or ${THREADS_ENV})",
    )
    group.add_argument(
        "--cleaner-precision",
        choices=_PRECISIONS,
        default=None,
        help="arithmetic: bf16 where the CPU computes it natively (auto, the default), "
        "or force fp32/bf16",
    )


@hookimpl
def check_options(options: dict[str, Any]) -> None:
    opts = _plugin_options(options)
    if opts.get("cleaner_precision"):
        _check_precision(opts["cleaner_precision"], "--cleaner-precision")
    if opts.get("cleaner_threads") is not None:
        _positive_int(opts["cleaner_threads"], "--cleaner-threads")
    weights = opts.get("cleaner_weights")
    if weights and not Path(weights).is_file():
        raise UsageError(f"--cleaner-weights: file not found: {weights}")
