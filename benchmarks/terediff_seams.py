"""How visible are tile seams: pixel blending of independent tiles vs latent fusion.

Runs on the CPU with the *tiny random* TeReDiff (:mod:`tair_workbench.testing.tiny_models`): the
restored pixels are meaningless, but the seams between independently generated
tiles are real, so the numbers compare the stitching strategies, not restoration
quality. Redo it with real weights on a GPU before drawing product conclusions.

Strategies, on a synthetic text page whose tile/window layout is identical for all:

* ``pixel``: every tile restored on its own (own noise, own prompt loop), blended by
  the framework's :class:`tair_ocr.tiling.Stitcher` (raised-cosine ramps);
* ``latent-uniform``: :meth:`TeReDiffPipeline.restore_region`, windows averaged in
  latent space at every step with equal weights (MultiDiffusion);
* ``latent-gaussian``: the same with DiffBIR's Gaussian window weights.

Metrics on the output luminance (1.0 = a seam is as sharp as the image anywhere; the
input page's own values are printed as the baseline of its text layout):

* ``edge``: mean |gradient| across the columns/rows where a tile or window starts or
  ends, over the mean |gradient| across all columns/rows;
* ``band``: mean |gradient| inside the overlap bands over the mean outside them
  (blending two unrelated textures averages them out: a soft, low-contrast band).

Usage: ``python benchmarks/terediff_seams.py [--steps 4] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from tair_ocr.tiling import Stitcher, TileGrid, extract_tile
from tair_workbench.testing.tiny_models import build_tiny_pipeline

SIZE, OVERLAP = 256, 64
WIDTH, HEIGHT = SIZE + 2 * (SIZE - OVERLAP), SIZE + (SIZE - OVERLAP)  # 640 × 448


def text_page() -> np.ndarray:
    """A white page with lines of black text (H × W × 3 uint8)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for i, y in enumerate(range(20, HEIGHT - 20, 28)):
        draw.text(
            (16 + (i % 3) * 7, y), "Invoice 2026-11 total 1,234.56 EUR due " * 2, fill="black"
        )
    return np.array(image)


def pixel_blend(pipe, page: np.ndarray, steps: int, seed: int) -> np.ndarray:
    grid = TileGrid.cover(WIDTH, HEIGHT, SIZE, OVERLAP)
    stitcher = Stitcher(grid, 1, 3)
    for index, tile in enumerate(grid):
        array = extract_tile(page, tile, SIZE)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
        g = torch.Generator().manual_seed(seed * 1000 + index)
        out = pipe(x, num_inference_steps=steps, generator=[g])
        stitcher.add(tile, out.images[0].numpy())
    return stitcher.output


def latent_fusion(pipe, page: np.ndarray, steps: int, seed: int, weighting: str) -> np.ndarray:
    x = torch.from_numpy(page).permute(2, 0, 1)[None].float() / 255
    out = pipe.restore_region(
        x,
        window=SIZE,
        overlap=OVERLAP,
        weighting=weighting,
        batch_size=6,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed),
    )
    return (out.images[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def seam_metrics(image: np.ndarray) -> tuple[float, float]:
    luma = image.astype(np.float64).mean(axis=2) / 255
    dx = np.abs(np.diff(luma, axis=1)).mean(axis=0)  # per column boundary c-1|c
    dy = np.abs(np.diff(luma, axis=0)).mean(axis=1)
    xs = list(range(0, WIDTH - SIZE + 1, SIZE - OVERLAP))
    ys = list(range(0, HEIGHT - SIZE + 1, SIZE - OVERLAP))
    edges_x = sorted({e for x in xs for e in (x, x + SIZE)} - {0, WIDTH})
    edges_y = sorted({e for y in ys for e in (y, y + SIZE)} - {0, HEIGHT})
    edge = (
        dx[[e - 1 for e in edges_x]].mean() / dx.mean()
        + dy[[e - 1 for e in edges_y]].mean() / dy.mean()
    ) / 2
    band_x = np.zeros(WIDTH - 1, bool)
    for x in xs[1:]:
        band_x[x : x + OVERLAP - 1] = True
    band_y = np.zeros(HEIGHT - 1, bool)
    for y in ys[1:]:
        band_y[y : y + OVERLAP - 1] = True
    band = (dx[band_x].mean() / dx[~band_x].mean() + dy[band_y].mean() / dy[~band_y].mean()) / 2
    return float(edge), float(band)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tokenizer:
        pipe = build_tiny_pipeline(tokenizer, seed=0)
    page = text_page()
    methods = {
        "pixel": lambda s: pixel_blend(pipe, page, args.steps, s),
        "latent-uniform": lambda s: latent_fusion(pipe, page, args.steps, s, "uniform"),
        "latent-gaussian": lambda s: latent_fusion(pipe, page, args.steps, s, "gaussian"),
    }
    print(
        f"page {WIDTH}x{HEIGHT}, tiles/windows {SIZE} px, overlap {OVERLAP} px, "
        f"{args.steps} steps, {args.seeds} seeds, tiny random model (CPU)"
    )
    print(f"{'method':<16} {'edge':>14} {'band':>14} {'s/run':>6}")
    edge, band = seam_metrics(page)
    print(f"{'input page':<16} {edge:14.3f} {band:14.3f} {'-':>6}")
    for name, run in methods.items():
        edges, bands, started = [], [], time.perf_counter()
        for seed in range(args.seeds):
            edge, band = seam_metrics(run(seed))
            edges.append(edge)
            bands.append(band)
        seconds = (time.perf_counter() - started) / args.seeds
        print(
            f"{name:<16} {np.mean(edges):6.3f} ± {np.std(edges):5.3f} "
            f"{np.mean(bands):6.3f} ± {np.std(bands):5.3f} {seconds:6.1f}"
        )


if __name__ == "__main__":
    main()
