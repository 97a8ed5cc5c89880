"""Export the cleaner network to ONNX, the model the runtime restorer runs.

    python -m tair_workbench.cleaner.export [--weights FILE] [-o FILE] [--opset N]

Reads ``.safetensors`` weights and the ``.json`` config beside them (default: the
shipped ``tair_ocr/cleaner/weights/cleaner.safetensors``) and writes an ONNX model
(default: the same path with ``.onnx``) whose batch, height and width are dynamic.
The graph is :meth:`CleanerNet.forward_aligned`: sides must be multiples of the
network's ``multiple`` (16 for the shipped one); the runtime pads the tiles as
:meth:`CleanerNet.forward` does. Then it checks the model with ``onnx.checker`` and
runs it with onnxruntime against torch on a few batches; past ``--tolerance`` it
fails and writes nothing.

The config is written beside the model (same stem, ``.json``): the source config
plus an ``onnx`` section (input and output names, layout, side multiple, opset,
versions, the difference to torch measured here). When the model goes beside its
weights (the default) that is the same file, updated in place.

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

__all__ = ["DEFAULT_OPSET", "INPUT", "OUTPUT", "export_onnx", "main"]

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


def export_onnx(
    weights: Path,
    output: Path,
    *,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    command: str | None = None,
) -> dict[str, Any]:
    """Export ``weights`` (a ``.safetensors`` with its ``.json``) to ``output`` and
    write the config beside it; returns the ``onnx`` section written. Raises
    ``ValueError`` when onnxruntime's result differs from torch's by more than
    ``tolerance`` (nothing is written then)."""
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
        # The exporter notes the Python stack of every node (file paths, line numbers):
        # dropped, so the file depends on the weights and the graph only.
        graph = onnx.load(str(staged))
        for node in graph.graph.node:
            del node.metadata_props[:]
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
        output.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(output)

    section = {
        "file": output.name,
        "input": INPUT,
        "output": OUTPUT,
        "layout": f"N x 1 x H x W float32 gray in [0, 1]; H and W multiples of {multiple}",
        "multiple": multiple,
        "padding": "callers pad bottom and right: reflect, or replicate when the pad "
        "is not smaller than the side (as CleanerNet.forward)",
        "opset": opset,
        "source": weights.name,
        "source_sha256": _sha256(weights),
        "sha256": _sha256(output),
        "max_abs_diff_to_torch": worst,
        "command": command or "python -m tair_workbench.cleaner.export",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }
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
            weights, output, opset=args.opset, tolerance=args.tolerance, command=command.strip()
        )
    except ValueError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opset {section['opset']}) and "
        f"{output.with_suffix('.json')}; largest difference to torch "
        f"{section['max_abs_diff_to_torch']:.2g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
