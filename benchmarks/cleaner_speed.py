"""Speed of the ``cleaner`` restorer: the shipped ONNX model on onnxruntime against the
same network on torch, on the same tiles with the same thread count.

A synthetic A4 page at 300 dpi (2480×3508 px, ``scan`` degradation, dense text) is
restored through the real tile stage with each backend and thread count asked for;
the script prints seconds per page, page megapixels per second and restored tile
megapixels per second (tiles overlap and blank ones are skipped, so both are given).
A second table times one batch of four 512-pixel tiles of that page, the restorer's
``restore`` call alone, and gives the largest difference between the backends' outputs.

Backends: ``onnx`` (the default runtime: ``cleaner.onnx`` on onnxruntime, float32),
``torch-fp32`` and ``torch-auto`` (``cleaner.safetensors`` on torch; ``auto`` is
bfloat16 on CPUs that compute it natively, else float32). The torch ones need the
``train`` extra and are left out without torch. Repeats run the backends in turn and
keep each one's best time (the machine may be shared).

    python benchmarks/cleaner_speed.py
    python benchmarks/cleaner_speed.py --threads 1,2 --backends onnx,torch-fp32 --repeat 3
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BACKENDS = ("onnx", "torch-fp32", "torch-auto")


def _restorer(backend: str, threads: int):
    from tair_ocr.restorers.cleaner import TORCH_WEIGHTS, CleanerRestorer

    if backend == "onnx":
        return CleanerRestorer(threads=threads)
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
        skipped = [b for b in backends if b.startswith("torch")]
        backends = [b for b in backends if not b.startswith("torch")]
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

    pages: dict[tuple[int, str], tuple[float, dict[str, int], float, str]] = {}
    batches: dict[tuple[int, str], tuple[float, np.ndarray]] = {}
    for threads in (int(t) for t in args.threads.split(",")):
        restorers = {b: _restorer(b, threads) for b in backends}
        for restorer in restorers.values():
            restorer.model()  # loading is not timed
            restorer.restore(tiles[:1])  # warm-up
        for _ in range(max(1, args.repeat)):
            for backend, restorer in restorers.items():
                started = time.perf_counter()
                result = restore_page(page, restorer)
                seconds = time.perf_counter() - started
                key = (threads, backend)
                if key not in pages or seconds < pages[key][0]:
                    used = "bf16" if restorer.uses_bf16 else "fp32"
                    pages[key] = (seconds, result.counters, result.timings["restore"], used)
                started = time.perf_counter()
                out = restorer.restore(tiles).images
                seconds = time.perf_counter() - started
                if key not in batches or seconds < batches[key][0]:
                    batches[key] = (seconds, out)

    print("Page through the tile stage:\n")
    print("| threads | backend | arithmetic | s/page | page Mpx/s | tiles restored/total "
          "| tile Mpx/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for (threads, backend), (seconds, counters, restore_s, used) in pages.items():
        tile_px = counters["tiles_restored"] * 512**2  # working pixels
        print(
            f"| {threads} | {backend} | {used} | {seconds:.2f} | {megapixels / seconds:.2f}"
            f" | {counters['tiles_restored']}/{counters['tiles_total']}"
            f" | {tile_px / 1e6 / restore_s:.2f} |"
        )
    print("\nOne batch of 4 tiles of 512×512 (restore() alone):\n")
    print("| threads | backend | s/batch | tile Mpx/s | max abs diff to onnx |")
    print("|---|---|---|---|---|")
    for (threads, backend), (seconds, out) in batches.items():
        reference = batches.get((threads, "onnx"))
        diff = f"{np.abs(out - reference[1]).max():.2g}" if reference else "-"
        print(
            f"| {threads} | {backend} | {seconds:.3f} | {tiles.size / 1e6 / seconds:.2f} | {diff} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
