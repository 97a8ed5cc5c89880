"""Speed of the ``cleaner`` restorer: the shipped ONNX model on onnxruntime against the
same network on torch, on the same tiles with the same thread count.

A synthetic A4 page at 300 dpi (2480×3508 px, ``scan`` degradation, dense text) is
restored through the real tile stage with each backend and thread count asked for;
the script prints seconds per page (median and best of the repeats), page megapixels
per second and restored tile megapixels per second (tiles overlap and blank ones are
skipped, so both are given). A second table times one batch of four 512-pixel tiles
of that page, the restorer's ``restore`` call alone, and gives the largest and mean
difference of each backend's output to float32 on onnxruntime (``onnx-fp32``, else the
first backend), in gray levels of 255.

Backends: ``onnx`` (the default runtime: the shipped ``cleaner.onnx``, int8, on
onnxruntime), ``onnx-fp32`` (the float32 export of the same weights, made in a
temporary folder by ``tair_workbench.cleaner.export``), ``torch-fp32`` and
``torch-auto`` (``cleaner.safetensors`` on torch; ``auto`` is bfloat16 on CPUs that
compute it natively, else float32). All but ``onnx`` need the ``train`` extra and are
left out without torch. Repeats run the backends in turn (the machine may be shared).

    python benchmarks/cleaner_speed.py
    python benchmarks/cleaner_speed.py --threads 1,2 --backends onnx,onnx-fp32 --repeat 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BACKENDS = ("onnx", "onnx-fp32", "torch-fp32", "torch-auto")


def _restorer(backend: str, threads: int, tmp: Path):
    from tair_ocr.restorers.cleaner import TORCH_WEIGHTS, CleanerRestorer

    if backend == "onnx":
        return CleanerRestorer(threads=threads)
    if backend == "onnx-fp32":
        fp32 = tmp / "cleaner-fp32.onnx"
        if not fp32.is_file():
            from tair_workbench.cleaner.export import export_onnx

            export_onnx(TORCH_WEIGHTS, fp32, quantize="none")
        return CleanerRestorer(weights=fp32, threads=threads)
    precision = backend.split("-", 1)[1]
    return CleanerRestorer(weights=TORCH_WEIGHTS, threads=threads, precision=precision)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma list of {', '.join(BACKENDS)} (default: all; torch ones need torch)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (best kept)")
    parser.add_argument("--seed", type=int, default=101, help="synthetic page seed")
    args = parser.parse_args(argv)

    from tair_ocr.page import Page
    from tair_ocr.restoration import restore_page
    from tair_workbench.synthetic import degrade, render_page

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)}")
    if importlib.util.find_spec("torch") is None:
        skipped = [b for b in backends if b != "onnx"]
        backends = [b for b in backends if b == "onnx"]
        if skipped:
            print(f"torch is not installed: {', '.join(skipped)} left out\n")

    clean = render_page(args.seed, size="a4", dpi=300, layout="paragraphs", font_pt=10)
    image = degrade(clean, "scan", seed=args.seed).image
    page = Page(source=Path("a4.png"), index=0, image=image, dpi=300.0)
    megapixels = image.width * image.height / 1e6
    gray = np.asarray(image.convert("L"), np.float32) / 255
    # Four tiles of text from the middle of the page: the same input for every backend.
    y, x = gray.shape[0] // 3, gray.shape[1] // 6
    tiles = np.stack([gray[y : y + 512, x + i * 400 : x + i * 400 + 512] for i in range(4)])
    tiles = np.ascontiguousarray(tiles[:, None])
    print(f"page: {image.width}×{image.height} px ({megapixels:.1f} Mpx), A4 at 300 dpi\n")

    # Per (threads, backend): page seconds, restore seconds, counters, arithmetic;
    # batch seconds and the batch's output.
    pages: dict[tuple[int, str], list[float]] = {}
    restore_s: dict[tuple[int, str], list[float]] = {}
    counters: dict[tuple[int, str], dict[str, int]] = {}
    arithmetic: dict[tuple[int, str], str] = {}
    batches: dict[tuple[int, str], list[float]] = {}
    outputs: dict[tuple[int, str], np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (int(t) for t in args.threads.split(",")):
            restorers = {b: _restorer(b, threads, Path(tmp)) for b in backends}
            for restorer in restorers.values():
                restorer.model()  # loading is not timed
                restorer.restore(tiles[:1])  # warm-up
            for _ in range(max(1, args.repeat)):
                for backend, restorer in restorers.items():
                    key = (threads, backend)
                    started = time.perf_counter()
                    result = restore_page(page, restorer)
                    pages.setdefault(key, []).append(time.perf_counter() - started)
                    restore_s.setdefault(key, []).append(result.timings["restore"])
                    counters[key] = result.counters
                    arithmetic[key] = restorer.arithmetic
                    started = time.perf_counter()
                    outputs[key] = restorer.restore(tiles).images
                    batches.setdefault(key, []).append(time.perf_counter() - started)

    print(f"Page through the tile stage ({max(1, args.repeat)} runs each):\n")
    print("| threads | backend | arithmetic | s/page median | s/page best | page Mpx/s "
          "| tiles restored/total | tile Mpx/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for key, times in pages.items():
        threads, backend = key
        median = statistics.median(times)
        restored = counters[key]["tiles_restored"]
        tile_px = restored * 512**2  # working pixels
        print(
            f"| {threads} | {backend} | {arithmetic[key]} | {median:.2f} | {min(times):.2f}"
            f" | {megapixels / median:.2f} | {restored}/{counters[key]['tiles_total']}"
            f" | {tile_px / 1e6 / statistics.median(restore_s[key]):.2f} |"
        )
    print("\nOne batch of 4 tiles of 512×512 (restore() alone):\n")
    print("| threads | backend | s/batch median | tile Mpx/s | diff to float32: max | mean |")
    print("|---|---|---|---|---|---|")
    for key, times in batches.items():
        threads, backend = key
        reference = outputs.get((threads, "onnx-fp32"), outputs[(threads, backends[0])])
        diff = np.abs(outputs[key] - reference) * 255
        median = statistics.median(times)
        print(
            f"| {threads} | {backend} | {median:.3f} | {tiles.size / 1e6 / median:.2f}"
            f" | {diff.max():.2f} | {diff.mean():.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
