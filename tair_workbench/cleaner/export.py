"""Export the cleaner network to ONNX, the model the runtime restorer runs.

    python -m tair_workbench.cleaner.export [--weights FILE] [-o FILE] [--quantize int8]

Reads ``.safetensors`` weights and the ``.json`` config beside them (default: the
shipped ``tair_ocr/cleaner/weights/cleaner.safetensors``) and writes an ONNX model
(default: the same path with ``.onnx``) whose batch, height and width are dynamic.
The graph is :meth:`CleanerNet.forward_aligned`: sides must be multiples of the
network's ``multiple`` (16 for the shipped one); the runtime pads the tiles as
:meth:`CleanerNet.forward` does. Then it checks the model with ``onnx.checker`` and
runs it with onnxruntime against torch on a few batches; past ``--tolerance`` it
fails and writes nothing.

``--quantize int8`` (what ships: :func:`quantize_int8`) then turns the float32 graph
into a static int8 one (QDQ: int8 convolutions, about 2.5 times as fast per page on a
CPU with AVX512-VNNI), calibrated on tiles of synthetic training pages (fixed seeds, so the
same command gives the same model), and checks it against the float32 graph on
validation pages; past ``--int8-tolerance`` (mean difference) it fails and writes
nothing. ``--quantize none`` writes the float32 graph.

The config is written beside the model (same stem, ``.json``): the source config
plus an ``onnx`` section (input and output names, layout, side multiple, opset,
precision, versions, the difference of the float32 graph to torch and, for int8, the
calibration and the difference to float32, all measured here). When the model goes
beside its weights (the default) that is the same file, updated in place.

Needs the ``train`` extra (torch, onnx, onnxscript; onnxruntime is a base dependency).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CALIBRATION_SEEDS",
    "DEFAULT_OPSET",
    "INPUT",
    "OUTPUT",
    "calibration_tiles",
    "export_onnx",
    "main",
    "quantize_int8",
]

#: ONNX opset of the export (onnxruntime >= 1.17 runs it).
DEFAULT_OPSET = 20
#: Names of the graph's input and output.
INPUT = "image"
OUTPUT = "restored"
#: Largest difference to torch (float32, gray levels in [0, 1]) an export may show.
DEFAULT_TOLERANCE = 1e-4
#: Shapes (N, H, W) the export is checked on, in multiples of the network's side
#: multiple: one full tile, and odd-sized small batches.
_CHECK_SHAPES = ((1, 32, 32), (3, 3, 5), (2, 1, 1))
#: Values of ``--quantize``.
QUANTIZE = ("int8", "none")
#: Largest mean difference (gray levels in [0, 1]) of the int8 model to float32 on
#: the validation tiles (measured for the shipped weights: about 0.0025).
DEFAULT_INT8_TOLERANCE = 0.005
#: Training pages whose tiles calibrate the int8 activation ranges: two per kind of
#: :data:`~tair_workbench.cleaner.data.TRAIN_KINDS`, the kinds taken in turn.
CALIBRATION_SEEDS = range(9_000, 9_024)
#: Validation pages the int8 model is compared with float32 on (one per kind).
INT8_CHECK_SEEDS = range(560, 572)
#: Tiles cut from each page (the tile stage's size), at positions fixed by the seed.
_TILE, _TILES_PER_PAGE = 512, 2
#: Convolutions kept in float32 (their weight names): the first sees the image, the
#: last writes the correction added to it, and both are cheap (1/16 of the work).
_FLOAT_CONVS = ("net.head.weight", "net.tail.weight")
#: Activation ranges: from this percentile of each tensor's values to the matching
#: one of the other tail (asymmetric: a ReLU's output gets all 256 steps), so a few
#: extreme values do not stretch the 8-bit steps of all the others.
_CALIBRATION_PERCENTILE = 99.999


def _default_weights() -> Path:
    from tair_ocr.restorers.cleaner import TORCH_WEIGHTS

    return TORCH_WEIGHTS


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_inputs(multiple: int, seed: int = 0) -> list[np.ndarray]:
    """Test batches: uniform noise, and dark strokes on grey paper with noise
    (the range the network sees on pages)."""
    rng = np.random.default_rng(seed)
    batches = []
    for i, (n, h, w) in enumerate(_CHECK_SHAPES):
        shape = (n, 1, h * multiple, w * multiple)
        if i % 2:
            batches.append(rng.random(shape, dtype=np.float32))
            continue
        y, x = np.mgrid[0 : shape[2], 0 : shape[3]]
        ink = ((x // 5) % 4 == 0) & ((y // 24) % 2 == 0)
        page = np.where(ink, 0.2, 0.85).astype(np.float32)
        noise = rng.normal(0.0, 0.04, shape).astype(np.float32)
        batches.append(np.clip(page + noise, 0.0, 1.0))
    return batches


def calibration_tiles(seeds: Sequence[int], *, size: int = _TILE) -> np.ndarray:
    """N×1×size×size float32 tiles cut from the network inputs of the training pages
    ``seeds`` (:func:`~tair_workbench.cleaner.data.make_pair`; page ``i`` is degraded
    with the ``i``-th kind of ``TRAIN_KINDS``, cycling), exactly as the tile stage
    hands them over; positions drawn from the seed, never on blank paper where the
    page has ink. The same seeds give the same tiles."""
    from tair_workbench.cleaner.data import TRAIN_KINDS, make_pair

    kinds = list(TRAIN_KINDS)
    tiles = []
    for i, seed in enumerate(seeds):
        page = make_pair(int(seed), kind=kinds[i % len(kinds)]).input
        h, w = page.shape
        if h < size or w < size:
            page = np.pad(page, ((0, max(0, size - h)), (0, max(0, size - w))), mode="edge")
            h, w = page.shape
        rng = np.random.default_rng([int(seed), size])
        for _ in range(_TILES_PER_PAGE):
            for _attempt in range(20):  # the tile stage skips blank tiles: so do we
                y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
                tile = page[y : y + size, x : x + size]
                if tile.min() < 0.5:
                    break
            tiles.append(tile)
    return np.ascontiguousarray(np.stack(tiles)[:, None], dtype=np.float32)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _restore(session: Any, tiles: np.ndarray, batch: int = 4) -> np.ndarray:
    out = [
        session.run([OUTPUT], {INPUT: tiles[i : i + batch]})[0] for i in range(0, len(tiles), batch)
    ]
    return np.clip(np.concatenate(out), 0.0, 1.0)


def quantize_int8(
    float_model: Path,
    output: Path,
    *,
    calibration_seeds: Sequence[int] | None = None,
    check_seeds: Sequence[int] | None = None,
    tolerance: float = DEFAULT_INT8_TOLERANCE,
) -> dict[str, Any]:
    """Quantize the float32 export ``float_model`` to a static int8 model at ``output``
    (onnxruntime's QDQ format); returns the ``quantization`` section for the config.

    - Convolutions in int8: weights per output channel, symmetric, in 7 bits
      (``reduce_range``: CPUs without VNNI multiply 8-bit pairs in 16 bits and
      could saturate; the accuracy cost measured here is nil), activations as
      unsigned 8 bits per tensor, ranges from the calibration tiles
      (:func:`calibration_tiles` of ``calibration_seeds``, default
      :data:`CALIBRATION_SEEDS`) at the :data:`_CALIBRATION_PERCENTILE` percentile.
      The first and last convolution stay float32. Everything else (additions,
      pixel shuffles, the contrast stretch) runs in float32.
    - The result is compared with the float32 model on validation tiles
      (``check_seeds``, default :data:`INT8_CHECK_SEEDS`); when the mean absolute
      difference exceeds ``tolerance``, ``ValueError`` is raised and nothing is
      written.
    """
    import contextlib
    import io
    import logging

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    float_model, output = Path(float_model), Path(output)
    calibration_seeds = CALIBRATION_SEEDS if calibration_seeds is None else calibration_seeds
    check_seeds = INT8_CHECK_SEEDS if check_seeds is None else check_seeds
    graph = onnx.load(str(float_model))
    convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    kept = [n.name for n in convs if n.input[1] in _FLOAT_CONVS]
    calibration = calibration_tiles(calibration_seeds)

    class Tiles(CalibrationDataReader):
        # One tile at a time: the calibrator stacks the batches it keeps, so they
        # must have the same shape.
        def __init__(self) -> None:
            self.batches = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: batch}

    # onnxruntime's quantizer prints its progress and logs advice on the root logger
    # (pre-processing, which this graph does not need): kept quiet.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / output.name
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(float_model),
                    str(staged),
                    Tiles(),
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv"],
                    per_channel=True,
                    reduce_range=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=kept,
                    calibrate_method=CalibrationMethod.Percentile,
                    extra_options={
                        "CalibPercentile": _CALIBRATION_PERCENTILE,
                        "CalibTensorRangeSymmetric": False,
                        # Histograms are updated every few tiles: bounded memory.
                        "CalibMaxIntermediateOutputs": 8,
                    },
                )
        finally:
            root.setLevel(level)
        onnx.checker.check_model(str(staged), full_check=True)
        check = calibration_tiles(check_seeds)
        reference = _restore(_session(float_model), check)
        diff = np.abs(_restore(_session(staged), check) - reference)
        mean, worst = float(diff.mean()), float(diff.max())
        if not mean <= tolerance:
            raise ValueError(
                f"the int8 model differs from float32 by {mean:.3g} on average "
                f"(tolerance {tolerance:g})"
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(output)
    return {
        "format": "QDQ (onnxruntime.quantization.quantize_static)",
        "convolutions": f"{len(convs) - len(kept)} of {len(convs)} in int8; float32: "
        + ", ".join(w.removeprefix("net.").removesuffix(".weight") for w in _FLOAT_CONVS),
        "weights": "int8, symmetric, per output channel, 7-bit range (reduce_range)",
        "activations": "uint8, per tensor",
        "calibration": {
            "method": f"percentile {_CALIBRATION_PERCENTILE}, asymmetric",
            "pages": "tair_workbench.cleaner.data.make_pair(seed, kind=TRAIN_KINDS[i % 12])",
            "seeds": [calibration_seeds[0], calibration_seeds[-1] + 1],
            "tiles": len(calibration),
            "tile_size": _TILE,
        },
        "check": {
            "seeds": [check_seeds[0], check_seeds[-1] + 1],
            "tiles": len(check),
            "mean_abs_diff_to_float32": mean,
            "max_abs_diff_to_float32": worst,
        },
    }


def export_onnx(
    weights: Path,
    output: Path,
    *,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    quantize: str = "none",
    int8_tolerance: float = DEFAULT_INT8_TOLERANCE,
    command: str | None = None,
) -> dict[str, Any]:
    """Export ``weights`` (a ``.safetensors`` with its ``.json``) to ``output`` and
    write the config beside it; returns the ``onnx`` section written. Raises
    ``ValueError`` when onnxruntime's result differs from torch's by more than
    ``tolerance``, or (``quantize="int8"``, :func:`quantize_int8`) the int8 model's
    from float32 by more than ``int8_tolerance`` on average (nothing is written
    then)."""
    import onnx
    import onnxruntime as ort
    import torch
    from torch.export import Dim

    from tair_ocr.cleaner.model import CleanerNet, load_model

    weights, output = Path(weights), Path(output)
    model, metadata = load_model(weights)
    multiple = model.multiple

    class Aligned(torch.nn.Module):
        def __init__(self, net: CleanerNet) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.net.forward_aligned(image)

    example = torch.from_numpy(_check_inputs(multiple)[1])
    rows, cols = Dim("rows", min=1), Dim("cols", min=1)
    dynamic = {"image": {0: Dim("batch", min=1), 2: multiple * rows, 3: multiple * cols}}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # torch's exporter trips over its own deprecation; nothing for us to act on.
        warnings.filterwarnings("ignore", message=r".*treespec", category=FutureWarning)
        staged = Path(tmp) / output.name
        program = torch.onnx.export(
            Aligned(model).eval(),
            (example,),
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=dynamic,
            opset_version=opset,
            verbose=False,
        )
        assert program is not None
        program.save(str(staged), external_data=False)
        # The exporter notes the Python stack of every node (file paths, line numbers)
        # and torch's view of the graph (its shape constraints, in no fixed order):
        # dropped, so the file depends on the weights and the graph only.
        graph = onnx.load(str(staged))
        for node in graph.graph.node:
            del node.metadata_props[:]
        del graph.graph.metadata_props[:]
        onnx.save(graph, str(staged))
        onnx.checker.check_model(str(staged), full_check=True)

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(staged), sess_options=options, providers=["CPUExecutionProvider"]
        )
        worst = 0.0
        with torch.inference_mode():
            for batch in _check_inputs(multiple):
                expected = model(torch.from_numpy(batch)).numpy()
                got = session.run([OUTPUT], {INPUT: batch})[0]
                if got.shape != expected.shape:
                    raise ValueError(f"ONNX output shape {got.shape}, torch {expected.shape}")
                worst = max(worst, float(np.abs(got - expected).max()))
        if not worst <= tolerance:
            raise ValueError(
                f"onnxruntime differs from torch by {worst:.3g} (tolerance {tolerance:g})"
            )
        quantization = None
        if quantize == "int8":
            quantization = quantize_int8(staged, output, tolerance=int8_tolerance)
        elif quantize == "none":
            output.parent.mkdir(parents=True, exist_ok=True)
            staged.replace(output)
        else:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}, not {quantize!r}")

    section = {
        "file": output.name,
        "input": INPUT,
        "output": OUTPUT,
        "layout": f"N x 1 x H x W float32 gray in [0, 1]; H and W multiples of {multiple}",
        "multiple": multiple,
        "padding": "callers pad bottom and right: reflect, or replicate when the pad "
        "is not smaller than the side (as CleanerNet.forward)",
        "opset": opset,
        "precision": "int8" if quantization else "fp32",
        "source": weights.name,
        "source_sha256": _sha256(weights),
        "sha256": _sha256(output),
        # Of the float32 graph (before quantization, for an int8 model).
        "max_abs_diff_to_torch": worst,
        "command": command or "python -m tair_workbench.cleaner.export",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }
    if quantization:
        section["quantization"] = quantization
    config = output.with_suffix(".json")
    data = dict(metadata)
    data["onnx"] = section
    config.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tair_workbench.cleaner.export",
        description="Export cleaner weights (.safetensors) to ONNX and check it against torch.",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="cleaner weights with their .json beside them (default: the shipped "
        "tair_ocr/cleaner/weights/cleaner.safetensors)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="the ONNX model to write; its .json goes beside it (default: the weights "
        "path with .onnx)",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: %(default)s)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="largest difference to torch accepted (default: %(default)s)",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE,
        default="none",
        help="int8: static int8 model calibrated on synthetic training pages (what "
        "ships); none: float32 (default: %(default)s)",
    )
    parser.add_argument(
        "--int8-tolerance",
        type=float,
        default=DEFAULT_INT8_TOLERANCE,
        help="largest mean difference of the int8 model to float32 accepted (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    weights = args.weights or _default_weights()
    if not weights.is_file() or not weights.with_suffix(".json").is_file():
        parser.error(f"{weights} and its .json config must exist")
    output = args.output or weights.with_suffix(".onnx")
    command = "python -m tair_workbench.cleaner.export " + " ".join(
        sys.argv[1:] if argv is None else list(argv)
    )
    try:
        section = export_onnx(
            weights,
            output,
            opset=args.opset,
            tolerance=args.tolerance,
            quantize=args.quantize,
            int8_tolerance=args.int8_tolerance,
            command=command.strip(),
        )
    except ValueError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, {section['precision']}, opset "
        f"{section['opset']}) and {output.with_suffix('.json')}; largest difference of the "
        f"float32 graph to torch {section['max_abs_diff_to_torch']:.2g}"
    )
    if "quantization" in section:
        check = section["quantization"]["check"]
        print(
            f"int8 against float32 on {check['tiles']} validation tiles: mean difference "
            f"{check['mean_abs_diff_to_float32'] * 255:.2f}, largest "
            f"{check['max_abs_diff_to_float32'] * 255:.1f} gray levels (of 255)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
