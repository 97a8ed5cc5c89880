"""TeReDiff throughput on a CUDA GPU: 512×512 tiles per second and peak memory.

For each batch size (default 1, 4, 8, 16) the full pipeline runs once to warm up
(2 steps) and once timed (``--steps``, default 50 as published): SwinIR, VAE encode,
per step ControlNet + U-Net + spotter + prompt encoding, VAE decode. It prints
tiles/s, seconds per tile, peak allocated memory, and the time split between the
pipeline's parts (``--breakdown``, measured on the largest batch that fit).

Usage::

    python benchmarks/terediff_gpu.py --weights ~/.cache/tair-ocr/terediff
    python benchmarks/terediff_gpu.py --random-weights        # speed only, see below
    python benchmarks/terediff_gpu.py --weights DIR --batches 1 8 --steps 50 --csv out.csv

``--random-weights`` builds the *published* architecture with random initialisation
(and a tiny stand-in tokenizer): the timing of the networks is that of the real model,
but outputs are meaningless and the spotter reads random words, so the prompt
lengths differ from real runs (prompts are always padded to 77 tokens, so this hardly
changes the cost). It says so loudly in its output.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
RANDOM_BANNER = (
    "*" * 78 + "\n"
    "*  RANDOM WEIGHTS: published architecture, random initialisation.            *\n"
    "*  These numbers measure SPEED ONLY. Restored images and words are garbage.  *\n" + "*" * 78
)


def sample_tiles(n: int, seed: int = 0) -> torch.Tensor:
    """N synthetic 512×512 document tiles (text lines, mild noise), float in [0, 1]."""
    rng = np.random.default_rng(seed)
    tiles = []
    for i in range(n):
        image = Image.new("RGB", (512, 512), "white")
        draw = ImageDraw.Draw(image)
        for j, y in enumerate(range(12, 500, 22)):
            draw.text(
                (10 + 3 * ((i + j) % 5), y),
                f"Line {j} of tile {i}: total 1,234.56 EUR",
                fill="black",
            )
        array = np.asarray(image, dtype=np.float32) / 255
        array = np.clip(array + rng.normal(0, 0.04, array.shape), 0, 1)
        tiles.append(torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1))
    return torch.stack(tiles)


def random_pipeline(device: str, dtype: torch.dtype, tokenizer_dir: str) -> Any:
    """The published configuration with random weights, built directly on ``device``."""
    from tair_ocr.models.configs import PUBLISHED_CONFIGS, build_component
    from tair_ocr.models.pipeline_terediff import TeReDiffPipeline
    from tair_ocr.models.text_encoder import load_tokenizer
    from tair_workbench.testing.tiny_models import write_tiny_clip_tokenizer

    parts: dict[str, Any] = {}
    torch.manual_seed(0)
    with torch.device(device):
        for name, config in PUBLISHED_CONFIGS.items():
            part = build_component(name, config)
            if isinstance(part, torch.nn.Module):
                part = torch.nn.Module.to(part, dtype=dtype).eval().requires_grad_(False)
            parts[name] = part
    parts["tokenizer"] = load_tokenizer(write_tiny_clip_tokenizer(tokenizer_dir))
    return TeReDiffPipeline(**parts)


class Breakdown:
    """Wraps pipeline methods to add up their (synchronised) wall time."""

    METHODS = ("clean", "encode_condition", "encode_prompt", "predict", "spot", "decode_latents")

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __enter__(self) -> Breakdown:
        for name in self.METHODS:
            original = getattr(self.pipe, name)

            def timed(*args, _original=original, _name=name, **kwargs):
                torch.cuda.synchronize()
                started = time.perf_counter()
                result = _original(*args, **kwargs)
                torch.cuda.synchronize()
                self.seconds[_name] += time.perf_counter() - started
                self.calls[_name] += 1
                return result

            setattr(self.pipe, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.METHODS:
            delattr(self.pipe, name)  # back to the class methods


def run_once(pipe: Any, tiles: torch.Tensor, steps: int) -> float:
    generators = [torch.Generator().manual_seed(i) for i in range(tiles.shape[0])]
    torch.cuda.synchronize()
    started = time.perf_counter()
    out = pipe(tiles, num_inference_steps=steps, generator=generators)
    out.images.cpu()
    torch.cuda.synchronize()
    return time.perf_counter() - started


def environment() -> dict[str, str]:
    import diffusers
    import transformers

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "commit": commit or "unknown",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TeReDiff tiles/s and peak memory on CUDA")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", type=Path, help="converted TeReDiff weights folder")
    source.add_argument(
        "--random-weights",
        action="store_true",
        help="published architecture, random init (speed only)",
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--breakdown", action="store_true", help="time split of the pipeline parts")
    parser.add_argument("--csv", type=Path, help="append result rows to this CSV")
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        print("error: no CUDA device; this benchmark measures GPU throughput", file=sys.stderr)
        return 2
    dtype = DTYPES[args.dtype]
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    env = environment()
    print(", ".join(f"{k} {v}" for k, v in env.items()))

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        if args.random_weights:
            print(RANDOM_BANNER)
            pipe = random_pipeline("cuda", dtype, tokenizer_dir)
        else:
            from tair_ocr.models.pipeline_terediff import TeReDiffPipeline

            pipe = TeReDiffPipeline.from_pretrained(args.weights, device="cuda", dtype=dtype)
    weights = "RANDOM (speed only)" if args.random_weights else str(args.weights)
    print(
        f"loaded in {time.perf_counter() - started:.1f} s; weights: {weights}; dtype {args.dtype}"
    )
    print(f"model memory: {torch.cuda.memory_allocated() / 2**30:.2f} GiB")

    rows = []
    largest_ok = None
    print(f"{'batch':>5} {'tiles/s':>8} {'s/tile':>7} {'s/batch':>8} {'peak GiB':>9}")
    for batch in args.batches:
        tiles = sample_tiles(batch).to("cuda", dtype)
        try:
            run_once(pipe, tiles, steps=2)  # warm-up: kernels, allocator, prompt cache
            torch.cuda.reset_peak_memory_stats()
            seconds = run_once(pipe, tiles, steps=args.steps)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            print(f"{batch:>5} {'OOM':>8}")
            rows.append({"batch": batch, "tiles_per_s": "OOM"})
            continue
        peak = torch.cuda.max_memory_allocated() / 2**30
        largest_ok = batch
        print(
            f"{batch:>5} {batch / seconds:8.3f} {seconds / batch:7.2f} {seconds:8.2f} {peak:9.2f}"
        )
        rows.append(
            {
                "batch": batch,
                "tiles_per_s": round(batch / seconds, 4),
                "s_per_tile": round(seconds / batch, 3),
                "peak_gib": round(peak, 2),
            }
        )
    if args.random_weights:
        print(RANDOM_BANNER)

    if args.breakdown and largest_ok:
        tiles = sample_tiles(largest_ok).to("cuda", dtype)
        with Breakdown(pipe) as breakdown:
            total = run_once(pipe, tiles, steps=args.steps)
        print(f"breakdown at batch {largest_ok}, {args.steps} steps, {total:.2f} s total:")
        for name in Breakdown.METHODS:
            s = breakdown.seconds[name]
            print(
                f"  {name:<17} {s:7.2f} s {100 * s / total:5.1f} %  ({breakdown.calls[name]} calls)"
            )

    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as f:
            fields = [
                "batch",
                "tiles_per_s",
                "s_per_tile",
                "peak_gib",
                "steps",
                "dtype",
                "weights",
                *env,
            ]
            writer = csv.DictWriter(f, fieldnames=fields)
            if new:
                writer.writeheader()
            for row in rows:
                writer.writerow(
                    {**row, "steps": args.steps, "dtype": args.dtype, "weights": weights, **env}
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
