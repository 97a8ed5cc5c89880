"""The ``cleaner`` restorer: a small CNN trained on synthetic degradations, on the CPU.

The network (:mod:`tair_ocr.cleaner.model`) ships with the package as ONNX
(``tair_ocr/cleaner/weights/cleaner.onnx``, exported from ``cleaner.safetensors`` and
quantized to int8 by ``python -m tair_workbench.cleaner.export --quantize int8``; how it
was trained is in ``MODEL_CARD.md`` beside it) and runs on onnxruntime: the runtime
needs no torch. Its int8 convolutions restore a page about 2.5 times as fast as
float32 on a CPU with AVX512-VNNI, and faster than torch in bfloat16
(``benchmarks/cleaner_speed.py``). It removes blur
(optical, defocus, motion), noise, JPEG artefacts, shading and fading, and sharpens
text the working scale has enlarged; it returns dark text on white paper.

It works at scale 1 on gray tiles (``channels = 1``: RGB pages reach it as BT.601
luma): small text is enlarged by the framework's working scale before tiling (the
network was trained on pages enlarged by exactly that step). The model is loaded once,
on the first tile, and kept; one onnxruntime session serves every thread.

Options (:class:`CleanerOptions`): ``--cleaner-weights FILE`` loads other weights: an
``.onnx`` export, or — only where torch is installed (``pip install 'tair-ocr[train]'``)
— a ``.safetensors`` training export, run with torch; a ``.json`` config must sit
beside them.
``--cleaner-threads N`` sets the CPU threads (onnxruntime's intra-op threads, or
torch's; default: all cores; the ``TAIR_OCR_CLEANER_THREADS`` environment variable does
the same). ``--cleaner-precision`` chooses the arithmetic of ``.safetensors`` weights on
torch (bfloat16 where the CPU computes it natively); an ONNX model computes in the
precision it was exported in (its config's ``onnx.precision``: ``int8`` for the shipped
one), and asking it for another is an error. A float32 ONNX model is one command away:
``python -m tair_workbench.cleaner.export --quantize none -o cleaner-fp32.onnx``, then
``--cleaner-weights cleaner-fp32.onnx``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, field_validator

from tair_ocr.components import Availability, RestoredTiles, Restorer
from tair_ocr.errors import UsageError
from tair_ocr.hookspecs import hookimpl
from tair_ocr.options import Flag, PluginOptions
from tair_ocr.page_analysis import PageAnalysis

if TYPE_CHECKING:
    from tair_ocr.cleaner.model import CleanerNet
    from tair_ocr.restorers.classical import ClassicalRestorer

__all__ = ["DEFAULT_WEIGHTS", "THREADS_ENV", "CleanerOptions", "CleanerRestorer"]

_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "cleaner" / "weights"
#: The shipped model (ONNX, run with onnxruntime).
DEFAULT_WEIGHTS = _WEIGHTS_DIR / "cleaner.onnx"
#: The shipped training export it was made from (torch; training and export only).
TORCH_WEIGHTS = _WEIGHTS_DIR / "cleaner.safetensors"
#: Environment variable that sets the CPU threads the cleaner uses.
THREADS_ENV = "TAIR_OCR_CLEANER_THREADS"
#: BT.601 luma weights, as Pillow's ``convert("L")`` and the training data use.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_TORCH_HINT = (
    "pip install torch safetensors (e.g. pip install 'tair-ocr[train]'), or export the "
    "weights to ONNX with python -m tair_workbench.cleaner.export --weights FILE"
)


def _backend_of(path: Path) -> str:
    """``"onnx"`` or ``"torch"``, from the weights file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".safetensors":
        return "torch"
    raise UsageError(
        f"--cleaner-weights: {path.name}: expected an .onnx model "
        "(or .safetensors weights where torch is installed)"
    )


def _torch_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "safetensors"))


#: Values of ``--cleaner-precision``.
Precision = Literal["auto", "fp32", "bf16"]


class CleanerOptions(PluginOptions):
    """Options of the cleaner restorer."""

    namespace: ClassVar[str] = "cleaner"

    weights: Annotated[Path | None, Flag(metavar="FILE")] = Field(
        None,
        description="cleaner model: .onnx (onnxruntime), or .safetensors where torch is "
        "installed; a .json config beside it (default: the shipped cleaner.onnx)",
    )
    threads: Annotated[int | None, Flag(metavar="N")] = Field(
        None,
        ge=1,
        description=f"CPU threads for the cleaner (default: all cores, or ${THREADS_ENV})",
    )
    precision: Precision = Field(
        "auto",
        description=".safetensors weights on torch: bf16 where the CPU computes it "
        "natively (auto), or force fp32/bf16; an ONNX model runs in its own precision "
        "(the shipped one: int8)",
    )

    @field_validator("weights")
    @classmethod
    def _weights_file(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        path = path.expanduser()
        try:
            _backend_of(path)
        except UsageError:
            raise ValueError(
                "expected an .onnx model (or .safetensors weights where torch is installed)"
            ) from None
        if not path.is_file():
            raise ValueError("file not found")
        if not path.with_suffix(".json").is_file():
            raise ValueError(f"{path.with_suffix('.json').name} (the model config) is missing")
        return path


class CleanerRestorer(Restorer):
    """Compact U-Net text restorer (gray in, gray out, scale 1) for CPUs.

    :param model: use this torch network instead of loading weights (training, tests).
    :param weights: an ``.onnx`` model (run with onnxruntime) or ``.safetensors``
        weights (run with torch, which must be installed), with a ``.json`` beside
        them; default :data:`DEFAULT_WEIGHTS`.
    :param threads: CPU threads (default: ``$TAIR_OCR_CLEANER_THREADS`` or all cores).
    :param precision: torch backend: ``"auto"`` (bfloat16 where the CPU computes
        it natively, else float32), ``"fp32"`` or ``"bf16"``. An ONNX model runs in
        the precision it was exported in (the shipped one: int8); ``"auto"`` takes it,
        any other value is an error unless it names that precision.
    """

    name = "cleaner"
    description = (
        "small CNN trained on synthetic degradations (deblur, denoise, de-JPEG, shading); "
        "fast on CPU"
    )
    scale = 1
    #: Gray in, gray out: RGB pages reach it as luma.
    channels = 1
    tile_size = 512
    batch_size = 4
    #: It turns paper white, so skipped (blank) tiles are written white too.
    blank_paper = 1.0
    options_model = CleanerOptions

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
        self._net: _OnnxNet | _TorchNet | None = None
        self._lock = threading.Lock()
        self.metadata: dict[str, Any] = {}
        #: Set by :meth:`page_hint` on binary (fax-like) pages, whose
        #: tiles go to the classical restorer's despeckling instead of the network.
        self._binary_page: ClassicalRestorer | None = None

    @property
    def weights(self) -> Path:
        """The weights file this restorer loads."""
        return self._weights

    @property
    def backend(self) -> str:
        """``"onnx"`` (onnxruntime) or ``"torch"`` (a given model or ``.safetensors``)."""
        return "torch" if self._model is not None else _backend_of(self._weights)

    def availability(self) -> Availability:
        # Never imports torch or onnxruntime: ``--restorer auto`` asks every candidate.
        if self._model is not None:
            return Availability.yes("model given")
        try:
            backend = _backend_of(self._weights)
        except UsageError as exc:
            return Availability.no(str(exc))
        if backend == "onnx" and importlib.util.find_spec("onnxruntime") is None:
            return Availability.no("onnxruntime is not installed", hint="pip install onnxruntime")
        if backend == "torch" and not _torch_installed():
            return Availability.no(
                f"{self._weights.name} needs torch and safetensors", hint=_TORCH_HINT
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
        if backend == "onnx":
            problem = _onnx_precision_problem(self._weights, self._precision)
            if problem:
                return Availability.no(problem, hint=_FP32_HINT)
        return Availability.yes(f"weights {self._weights.name} ({backend})")

    def configure(self, options: CleanerOptions) -> None:
        """Apply ``--cleaner-*``: other weights (a file the model validated), threads
        (None keeps the constructor's), precision."""
        path = options.weights
        if path is not None:
            if _backend_of(path) == "torch" and not _torch_installed():
                raise UsageError(
                    f"--cleaner-weights {path.name}: .safetensors weights need torch, "
                    "which is not installed; the default cleaner runs on onnxruntime "
                    f"(cleaner.onnx). {_TORCH_HINT}"
                )
            if path != self._weights:
                with self._lock:
                    self._weights, self._model, self._net = path, None, None
        if options.threads is not None:
            self._threads = options.threads
        if options.precision != self._precision:
            self._precision = options.precision
            with self._lock:
                if isinstance(self._net, _TorchNet):
                    self._net = None
        if self.backend == "onnx":
            problem = _onnx_precision_problem(self._weights, self._precision)
            if problem:
                raise UsageError(f"{problem}. {_FP32_HINT}")

    # ------------------------------------------------------------------ model

    def _thread_count(self) -> int:
        if self._threads is not None:
            return self._threads
        env = os.environ.get(THREADS_ENV)
        if env:
            return _positive_int(env, THREADS_ENV)
        return os.cpu_count() or 1

    def _loaded(self) -> _OnnxNet | _TorchNet:
        """The network, loaded on first use and kept (once, whatever the threads)."""
        threads = self._thread_count()
        with self._lock:
            net = self._net
            if net is not None and net.threads != threads:
                if isinstance(net, _OnnxNet):
                    net = None  # onnxruntime fixes its threads when the session is made
                else:
                    net.threads = threads
            if net is None:
                if self._model is not None:
                    net = _TorchNet(self._model, threads, self._precision)
                elif not self._weights.is_file():
                    raise UsageError(f"cleaner weights not found at {self._weights}")
                elif _backend_of(self._weights) == "onnx":
                    problem = _onnx_precision_problem(self._weights, self._precision)
                    if problem:
                        raise UsageError(f"{problem}. {_FP32_HINT}")
                    net = _OnnxNet(self._weights, threads)
                else:
                    if not _torch_installed():
                        raise UsageError(
                            f"{self._weights.name} needs torch, which is not installed. "
                            + _TORCH_HINT
                        )
                    net = _TorchNet.load(self._weights, threads, self._precision)
                self.metadata = net.metadata
                self._net = net
            return net

    def model(self) -> Any:
        """The loaded network (loaded on first use and kept): an onnxruntime
        ``InferenceSession`` for ``.onnx`` weights, a torch ``CleanerNet`` for
        ``.safetensors`` weights or a given model."""
        return self._loaded().model

    @property
    def uses_bf16(self) -> bool:
        """Whether tiles are restored in bfloat16 (torch backend on a CPU with native
        bfloat16; known once the model is loaded)."""
        net = self._loaded()
        return isinstance(net, _TorchNet) and net.bf16

    @property
    def arithmetic(self) -> str:
        """What the convolutions compute in: ``"int8"`` (the shipped ONNX model),
        ``"fp32"`` or ``"bf16"`` (loads the model)."""
        net = self._loaded()
        if isinstance(net, _TorchNet):
            return "bf16" if net.bf16 else "fp32"
        return net.precision

    # ------------------------------------------------------------------ tiles

    def page_hint(self, page: PageAnalysis) -> None:
        """Route binary (fax, 1-bit) pages away from the network: any filter can
        only thin or blur their hard-edged strokes, so their tiles are despeckled
        by the classical restorer, as it does for them (on a benchmark fax page the
        network raised tesseract's CER from 6.3 % to 7.4 %, despeckling cut it to
        1.6 %). Whether the page is binary comes from its analysis (measured once
        for every stage)."""
        from tair_ocr.restorers.classical import ClassicalRestorer

        self._binary_page = None
        if page.is_binary:
            fallback = ClassicalRestorer()
            fallback.page_hint(page)
            self._binary_page = fallback

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        """Restore N×1×H×W float tiles in [0, 1] (N×3×H×W RGB tiles are turned to
        BT.601 luma first); returns N×1×H×W float32 gray in [0, 1]."""
        if tiles.ndim != 4 or tiles.shape[1] not in (1, 3):
            raise ValueError(f"expected N×1×H×W or N×3×H×W tiles, got shape {tuple(tiles.shape)}")
        if self._binary_page is not None:
            return self._binary_page.restore(tiles)
        net = self._loaded()
        x = np.asarray(tiles, dtype=np.float32)
        if x.shape[1] == 3:
            gray = x[:, 0:1] * _LUMA[0]
            gray += x[:, 1:2] * _LUMA[1]
            gray += x[:, 2:3] * _LUMA[2]
            x = gray
        images = net.run(np.ascontiguousarray(x))
        np.clip(images, 0.0, 1.0, out=images)
        return RestoredTiles(images=images, words=[[] for _ in range(len(images))])


# ---------------------------------------------------------------------- backends


class _OnnxNet:
    """The exported network on onnxruntime (CPU): one session, made once, shared by
    threads (``InferenceSession.run`` is thread-safe)."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        self.threads = threads
        self.metadata: dict[str, Any] = json.loads(
            path.with_suffix(".json").read_text(encoding="utf-8")
        )
        info = self.metadata.get("onnx", {})
        #: ``"int8"`` or ``"fp32"``: what the export made (older exports: float32).
        self.precision = str(info.get("precision", "fp32"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # All optimizations, done here at load time for this CPU (a model optimized
        # offline would be tied to the CPU it was made on): they fuse the int8 model's
        # quantize/convolution/dequantize chains into integer convolutions, and give
        # float32 convolutions the blocked layout (NCHWc) MLAS runs fastest.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: OCR engines run beside the
        # cleaner (pages in parallel), and its convolutions are long enough that
        # waking costs nothing measurable.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.model = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input = info.get("input") or self.model.get_inputs()[0].name
        self.output = info.get("output") or self.model.get_outputs()[0].name
        #: Sides the graph takes are multiples of this; inputs are padded to it.
        self.multiple = int(info.get("multiple") or _multiple(self.metadata))

    def run(self, x: np.ndarray) -> np.ndarray:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            # As CleanerNet.forward pads: reflect (no edge repeat), or replicate
            # when the pad is not smaller than the side.
            mode = "reflect" if ph < h and pw < w else "edge"
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)
        out = self.model.run([self.output], {self.input: x})[0]
        if ph or pw:
            out = np.ascontiguousarray(out[..., :h, :w])
        return out


class _TorchNet:
    """The torch network (``.safetensors`` weights or a model given for training)."""

    def __init__(self, model: CleanerNet, threads: int, precision: str) -> None:
        import torch

        from tair_ocr.cleaner.model import bf16_is_fast

        self.model = model
        self.threads = threads
        self.metadata: dict[str, Any] = {}
        self.bf16 = precision == "bf16" or (precision == "auto" and bf16_is_fast())
        # NHWC is what oneDNN's convolutions run fastest on.
        model.to(memory_format=torch.channels_last)

    @classmethod
    def load(cls, path: Path, threads: int, precision: str) -> _TorchNet:
        from tair_ocr.cleaner.model import load_model

        model, metadata = load_model(path)
        net = cls(model, threads, precision)
        net.metadata = metadata
        return net

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        tensor = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16),
        ):
            out = self.model(tensor).float()
        return out.contiguous().numpy()


_FP32_HINT = (
    "float32 on onnxruntime: python -m tair_workbench.cleaner.export --quantize none "
    "-o cleaner-fp32.onnx, then --cleaner-weights cleaner-fp32.onnx; fp32 or bf16 on "
    "torch: --cleaner-weights with the .safetensors weights (torch installed)"
)


def _onnx_precision(path: Path) -> str:
    """The precision an ONNX model was exported in, from its config (``"fp32"``
    when the config does not say, or cannot be read yet)."""
    try:
        config = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "fp32"
    return str(config.get("onnx", {}).get("precision", "fp32"))


def _onnx_precision_problem(path: Path, precision: str) -> str | None:
    """Why ``--cleaner-precision precision`` cannot run the ONNX model ``path``
    (it computes in the precision it was exported in), or None."""
    if precision == "auto":
        return None
    exported = _onnx_precision(path)
    if precision == exported:
        return None
    return (
        f"--cleaner-precision {precision}: {path.name} computes in {exported} (an ONNX "
        "model runs in the precision it was exported in)"
    )


def _multiple(metadata: Mapping[str, Any]) -> int:
    """Side multiple of a CleanerNet from its config (block × 2^(levels − 1))."""
    arch = metadata.get("architecture", {})
    return int(arch.get("block", 4)) * 2 ** (len(arch.get("channels", (0, 0, 0))) - 1)


_PRECISIONS: tuple[str, ...] = get_args(Precision)


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
