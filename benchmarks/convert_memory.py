"""Peak memory of ``tair-ocr weights convert`` on synthetic published checkpoints.

    python benchmarks/convert_memory.py [--work DIR] [--dtype fp32|fp16|bf16] [--stage3-only]

Builds a mid-size TeReDiff (the published architecture with narrower layers: a few
hundred MB of checkpoints), writes the four published files with
:mod:`tair_workbench.testing.checkpoints`, then runs the converter in a child process
and reports its peak resident set size (``ru_maxrss``) next to the file sizes, and the
peak of a child that only imports what the converter imports (the fixed cost).

The converter memory-maps the files, so pages it reads count in its RSS as
file-backed (shared with the page cache) memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tair_ocr.models.configs import PUBLISHED_CONFIGS

_UNET: dict[str, Any] = {
    **PUBLISHED_CONFIGS["unet"],
    "block_out_channels": [64, 128, 256, 256],
    "attention_head_dim": [1, 2, 4, 4],
    "cross_attention_dim": 512,
}

#: The published architecture (levels, blocks, heads of 64 channels) with narrower layers.
MID_CONFIGS: dict[str, dict[str, Any]] = {
    "cleaner": PUBLISHED_CONFIGS["cleaner"],
    "vae": {**PUBLISHED_CONFIGS["vae"], "block_out_channels": [64, 128, 256, 256]},
    "unet": _UNET,
    "controlnet": {
        **PUBLISHED_CONFIGS["controlnet"],
        "block_out_channels": _UNET["block_out_channels"],
        "attention_head_dim": _UNET["attention_head_dim"],
        "cross_attention_dim": 512,
    },
    "text_encoder": {
        **PUBLISHED_CONFIGS["text_encoder"],
        "hidden_size": 512,
        "intermediate_size": 2048,
        "projection_dim": 512,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
    },
    "spotter": {**PUBLISHED_CONFIGS["spotter"], "feature_channels": [256, 256, 128, 64]},
    "scheduler": PUBLISHED_CONFIGS["scheduler"],
}


def _child_peak_kib(command: list[str]) -> tuple[int, float]:
    """Run ``command``; return its own peak RSS (KiB, from ``wait4``) and wall time."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command[:6]} failed with exit code {child.returncode}")
    return usage.ru_maxrss, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temp dir)")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--stage3-only", action="store_true", help="convert only --terediff")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="convert-memory-"))
    work.mkdir(parents=True, exist_ok=True)

    imports = "import tair_workbench.conversion.convert, diffusers, transformers, safetensors.torch"
    base_kib, _ = _child_peak_kib([sys.executable, "-c", imports])

    sources = work / "published"
    if not (sources / "terediff_stage3.pt").is_file():
        script = (
            "import json, sys\n"
            "from tair_workbench.testing.checkpoints import random_components, "
            "write_published_checkpoints\n"
            "configs = json.loads(sys.argv[1])\n"
            "write_published_checkpoints(sys.argv[2], random_components(configs, 0), configs)\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, json.dumps(MID_CONFIGS), str(sources)], check=True
        )
    config = work / "mid.json"
    config.write_text(json.dumps(MID_CONFIGS))
    tokenizer = work / "tokenizer"
    from tair_workbench.testing.tiny_models import write_tiny_clip_tokenizer

    write_tiny_clip_tokenizer(tokenizer)

    roles = {"terediff": "terediff_stage3.pt"}
    if not args.stage3_only:
        roles |= {
            "sd": "sd2.1-base-zsnr-laionaes5.ckpt",
            "diffbir": "DiffBIR_v2.1.pt",
            "swinir": "realesrgan_s4_swinir_100k.pth",
        }
    command = [sys.executable, "-m", "tair_ocr", "weights", "convert", "-q", "--force"]
    for role, name in roles.items():
        command += [f"--{role}", str(sources / name)]
    command += ["--config", str(config), "--tokenizer", str(tokenizer)]
    command += ["--dtype", args.dtype, "-o", str(work / "out")]
    peak_kib, seconds = _child_peak_kib(command)

    sizes = {name: (sources / name).stat().st_size for name in roles.values()}
    stage3 = sizes["terediff_stage3.pt"]
    out = sum(p.stat().st_size for p in (work / "out").rglob("*") if p.is_file())
    mib = 2**20
    print(f"files: {', '.join(f'{n} {s / mib:.0f} MiB' for n, s in sizes.items())}")
    print(f"output folder ({args.dtype}): {out / mib:.0f} MiB; conversion took {seconds:.1f} s")
    print(f"peak RSS, imports only:  {base_kib / 1024:.0f} MiB")
    print(
        f"peak RSS, conversion:    {peak_kib / 1024:.0f} MiB = imports + "
        f"{(peak_kib - base_kib) / 1024:.0f} MiB "
        f"({(peak_kib - base_kib) * 1024 / stage3:.2f}x the stage-3 file, "
        f"{(peak_kib - base_kib) * 1024 / sum(sizes.values()):.2f}x all files)"
    )


if __name__ == "__main__":
    main()
