"""Throughput of the tile stage itself (cutting, blank detection, batching, blending,
stitching), without a real restorer.

The restorer returns its tiles unchanged but is not an identity restorer, so the
whole stage runs; what is measured is the framework's overhead per tile, the
share of tiles skipped as blank on a typical page, and the working-scale
estimate. Pages are synthetic A4 letters at 300 dpi (2480×3508 px).

    python benchmarks/tile_throughput.py
    python benchmarks/tile_throughput.py --tile-size 512 --batch-size 8 --csv out.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.components import RestoredTiles, Restorer
from tair_ocr.page import Page
from tair_ocr.restoration import restore_page
from tair_ocr.working_scale import auto_scale

ROOT = Path(__file__).resolve().parents[1]
FONT = "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"
WORDS = [
    *("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on"),
    *("be", "by", "this", "are", "from", "at", "or", "an", "which", "report", "annual"),
    *("committee", "figures", "quarterly", "margin", "invoice", "payment", "district"),
    *("office", "customer", "account", "balance", "statement", "meeting", "agenda"),
    *("minutes", "budget", "review"),
]


class PassThrough(Restorer):
    """Returns tiles unchanged; the tile stage still runs in full."""

    name = "pass-through"

    def __init__(self, tile_size: int, batch_size: int) -> None:
        self.tile_size = tile_size  # type: ignore[misc]
        self.batch_size = batch_size

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        return RestoredTiles(images=tiles, words=[[] for _ in tiles])


@dataclass
class Scenario:
    """One measured case."""

    page: str
    mode: str
    tile_size: int
    batch_size: int
    skip_blank: bool


@dataclass
class Row:
    """One result row (also a CSV row)."""

    page: str
    mode: str
    tile_size: int
    batch_size: int
    skip_blank: bool
    tiles_total: int
    tiles_skipped: int
    skipped_share: float
    seconds: float
    cpu_seconds: float
    tiles_per_s: float
    restored_tiles_per_s: float
    scale_estimate_s: float
    commit: str
    numpy: str
    machine: str


def letter_page(seed: int, mode: str) -> Image.Image:
    """An A4 letter at 300 dpi: letterhead, address, paragraphs in 11-pt text with
    2.5 cm margins, a signature line; the rest is paper with a little noise."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (2480, 3508), 250)
    draw = ImageDraw.Draw(image)
    body = ImageFont.truetype(FONT, 46)
    head = ImageFont.truetype(FONT, 80)
    draw.text((295, 300), "Northern District Office", font=head, fill=20)
    y = 620
    for line in ("Ms J. Example", "12 Station Road", "Springfield 4021"):
        draw.text((295, y), line, font=body, fill=20)
        y += 62
    y += 180
    for _ in range(5):  # paragraphs
        for _ in range(int(rng.integers(4, 8))):
            words = rng.choice(WORDS, size=int(rng.integers(11, 15)))
            draw.text((295, y), " ".join(words).capitalize(), font=body, fill=20)
            y += 62
        y += 70
    draw.text((295, y + 150), "Yours sincerely,", font=body, fill=20)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 2.0, (3508, 2480))
    gray = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return gray if mode == "L" else gray.convert("RGB")


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _median_seconds(call: Callable[[], object], min_run_time: float) -> float:
    """Median time of one ``call``, over repeats filling about ``min_run_time`` seconds."""
    timer = timeit.Timer(call)
    number, first = timer.autorange()
    repeats = max(3, round(min_run_time / max(first, 1e-9)))
    return statistics.median(timer.repeat(repeat=repeats, number=number)) / number


def measure(scenario: Scenario, image: Image.Image, min_run_time: float) -> Row:
    page = Page(source=Path("letter.png"), index=0, image=image, dpi=300.0)
    restorer = PassThrough(scenario.tile_size, scenario.batch_size)
    kwargs = {"scale": 1.0, "skip_blank": scenario.skip_blank}
    result = restore_page(page, restorer, **kwargs)  # warm-up, and the counters
    seconds = _median_seconds(lambda: restore_page(page, restorer, **kwargs), min_run_time)
    # CPU time too: on a shared machine the wall time also measures the neighbours.
    started = time.process_time()
    for _ in range(3):
        restore_page(page, restorer, **kwargs)
    cpu_seconds = (time.process_time() - started) / 3
    scale_seconds = _median_seconds(lambda: auto_scale(image), min_run_time / 4)
    c = result.counters
    return Row(
        **asdict(scenario),
        tiles_total=c["tiles_total"],
        tiles_skipped=c["tiles_skipped"],
        skipped_share=c["tiles_skipped"] / max(1, c["tiles_total"]),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        tiles_per_s=c["tiles_total"] / seconds,
        restored_tiles_per_s=c["tiles_restored"] / seconds,
        scale_estimate_s=scale_seconds,
        commit=_commit(),
        numpy=np.__version__,
        machine=f"{platform.machine()} {os.cpu_count()} CPUs",
    )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--modes", default="L,RGB", help="page modes, comma-separated")
    parser.add_argument("--min-run-time", type=float, default=3.0, help="seconds per case")
    parser.add_argument("--csv", type=Path, help="append the rows to this CSV file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    rows = []
    for mode in args.modes.split(","):
        image = letter_page(0, mode)
        for skip in (True, False):
            scenario = Scenario("a4-letter-300dpi", mode, args.tile_size, args.batch_size, skip)
            row = measure(scenario, image, args.min_run_time)
            rows.append(row)
            print(
                f"{mode:3} skip_blank={skip!s:5} tiles={row.tiles_total} "
                f"skipped={row.tiles_skipped} ({row.skipped_share:.0%}) "
                f"{row.seconds:.3f} s/page (CPU {row.cpu_seconds:.3f} s)  "
                f"{row.tiles_per_s:.1f} tiles/s  "
                f"(restored {row.restored_tiles_per_s:.1f}/s)  "
                f"scale estimate {row.scale_estimate_s * 1000:.0f} ms",
                flush=True,
            )
    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
            if new:
                writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
