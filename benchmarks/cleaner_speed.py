"""Speed of the ``cleaner`` restorer on a full page, through the real tile stage.

A synthetic A4 page at 300 dpi (2480×3508 px, ``scan`` degradation, dense text) is
restored with each thread count and precision asked for; the script prints seconds
per page, page megapixels per second and restored tile megapixels per second (tiles
overlap and blank ones are skipped, so both are given).

    python benchmarks/cleaner_speed.py
    python benchmarks/cleaner_speed.py --threads 1,2 --precision fp32,bf16 --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--precision", default="auto", help="comma list of auto, fp32, bf16")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (best kept)")
    parser.add_argument("--seed", type=int, default=101, help="synthetic page seed")
    args = parser.parse_args(argv)

    from tair_ocr.page import Page
    from tair_ocr.restoration import restore_page
    from tair_ocr.restorers.cleaner import CleanerRestorer
    from tair_ocr.synthetic import degrade, render_page

    clean = render_page(args.seed, size="a4", dpi=300, layout="paragraphs", font_pt=10)
    image = degrade(clean, "scan", seed=args.seed).image
    page = Page(source=Path("a4.png"), index=0, image=image, dpi=300.0)
    megapixels = image.width * image.height / 1e6
    print(f"page: {image.width}×{image.height} px ({megapixels:.1f} Mpx), A4 at 300 dpi\n")
    print("| threads | precision | s/page | page Mpx/s | tiles restored/total | tile Mpx/s |")
    print("|---|---|---|---|---|---|")
    for threads in (int(t) for t in args.threads.split(",")):
        for precision in args.precision.split(","):
            restorer = CleanerRestorer(threads=threads, precision=precision)
            restorer.model()
            best = None
            for _ in range(max(1, args.repeat)):
                started = time.perf_counter()
                result = restore_page(page, restorer)
                seconds = time.perf_counter() - started
                best = (seconds, result) if best is None or seconds < best[0] else best
            assert best is not None
            seconds, result = best
            counters = result.counters
            tile_px = counters["tiles_restored"] * restorer.tile_size**2  # working pixels
            used = "bf16" if restorer.uses_bf16 else "fp32"
            print(
                f"| {threads} | {precision} ({used}) | {seconds:.2f} | {megapixels / seconds:.2f}"
                f" | {counters['tiles_restored']}/{counters['tiles_total']}"
                f" | {tile_px / 1e6 / result.timings['restore']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
