"""Train the cleaner on synthetic degraded pages (CPU, resumable, seeded).

::

    python -m tair_workbench.cleaner.train --out /tmp/cleaner-run --steps 3000
    python -m tair_workbench.cleaner.train --out /tmp/cleaner-run --steps 3000   # resumes
    python -m tair_workbench.cleaner.train --out /tmp/cleaner-run --steps 3000 \\
        --export tair_ocr/cleaner/weights/cleaner.safetensors

Each step draws a batch of patches from a :class:`~tair_workbench.cleaner.data.PatchPool`
that new synthetic pages keep refreshing, and minimises an L1 loss weighted towards
the ink (text strokes are a small part of a page, and OCR only cares about them).
AdamW with a linear warm-up and a cosine decay to zero over ``--steps``.

Every ``--val-every`` steps, and at the end, tesseract reads a few held-out
validation pages (fonts never used in training, seeds of their own) before and after
the cleaner, through the real tile stage; the character error rates are logged.

The output folder holds ``checkpoint.pt`` (model, optimiser, pool and RNG state;
written every ``--checkpoint-every`` steps and at the end: a rerun with the same
``--out`` resumes from it) and ``log.jsonl`` (one JSON object per logged step or
validation). ``--export`` writes the final weights and a JSON config with the
training command and metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tair_ocr.cleaner.model import (
    CleanerConfig,
    CleanerNet,
    bf16_is_fast,
    load_model,
    save_model,
)
from tair_workbench.cleaner.data import HELD_OUT_FONTS, VALIDATION_SEEDS, PatchPool

__all__ = ["TrainOptions", "ink_weighted_l1", "main", "parse_kind_weights", "train", "validate"]

#: Kinds of the validation pages (one page each), hard ones and a clean one.
VALIDATION_KINDS: tuple[str, ...] = (
    "motion_blur",
    "lowres_jpeg",
    "shaded_photo",
    "defocus",
    "faded_ink",
    "clean",
)


@dataclass
class TrainOptions:
    """Everything a training run depends on (saved in the checkpoint)."""

    out: Path
    steps: int = 3000
    batch: int = 16
    patch: int = 160
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    pool_pages: int = 96
    patches_per_page: int = 24
    #: A new page replaces an old one every this many steps.
    refresh_every: int = 3
    ink_weight: float = 6.0
    log_every: int = 25
    val_every: int = 2000
    val_pages: int = len(VALIDATION_KINDS)
    checkpoint_every: int = 200
    #: Torch threads for the training step. One: on a shared 2-core machine a
    #: single thread ran the step several times faster than two (no waiting at
    #: OpenMP barriers for a descheduled thread), and the page synthesis process
    #: keeps the other core busy.
    threads: int = 1
    #: bfloat16 autocast: "auto" (when the CPU has native bf16), "on" or "off".
    bf16: str = "auto"
    #: Make pages in a background process (0: inline, in the training process).
    workers: int = 1
    #: Stop (checkpoint and export) after this many minutes of this process.
    max_minutes: float = 0.0
    channels: tuple[int, ...] = CleanerConfig.channels
    blocks: tuple[int, ...] = CleanerConfig.blocks
    #: Give the network the locally contrast-stretched input too (a model started
    #: from weights without it gets the extra head inputs, zero-initialised).
    contrast_input: bool = False
    #: Start from these exported weights (fine-tuning) instead of random ones; the
    #: architecture comes from the JSON beside them.
    init: str = ""
    #: Override degradation weights of :data:`~tair_workbench.cleaner.data.TRAIN_KINDS`,
    #: as ``"lowres_jpeg=0.3,clean=0.1"`` (kinds not named keep theirs).
    kind_weights: str = ""
    #: Index of the first training page (a fine-tuning run starts past the pages
    #: an earlier run used, so it sees new text).
    first_page: int = 0


def with_contrast_input(model: CleanerNet) -> CleanerNet:
    """``model`` grown to take the contrast-stretched input as well; the new head
    weights are zero, so it computes exactly what ``model`` did until trained."""
    grown = CleanerNet(dataclasses.replace(model.config, contrast_input=True))
    state = model.state_dict()
    head = state["head.weight"]
    state["head.weight"] = torch.cat([head, torch.zeros_like(head)], dim=1)
    grown.load_state_dict(state)
    return grown


def parse_kind_weights(spec: str) -> dict[str, float] | None:
    """``"a=0.3,b=0.1"`` → :data:`TRAIN_KINDS` with those weights replaced (None if
    ``spec`` is empty). Unknown kinds and negative weights are usage errors."""
    from tair_ocr.errors import UsageError
    from tair_workbench.cleaner.data import TRAIN_KINDS
    from tair_workbench.synthetic.degrade import DEGRADATION_KINDS

    if not spec.strip():
        return None
    weights = dict(TRAIN_KINDS)
    for item in spec.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in DEGRADATION_KINDS:
            raise UsageError(f"--kind-weights: unknown degradation kind {name!r}")
        try:
            weight = float(value)
        except ValueError:
            raise UsageError(f"--kind-weights: {item.strip()!r} is not KIND=WEIGHT") from None
        if weight < 0:
            raise UsageError(f"--kind-weights: negative weight for {name}")
        weights[name] = weight
    return weights


def ink_weighted_l1(output: torch.Tensor, target: torch.Tensor, ink_weight: float) -> torch.Tensor:
    """Mean absolute error, with pixels within 1 px of ink (target < 0.5) weighted
    ``1 + ink_weight``: a page is mostly paper, and the strokes are what OCR reads."""
    ink = (target < 0.5).to(output.dtype)
    near_ink = F.max_pool2d(ink, 3, stride=1, padding=1)
    weight = 1.0 + ink_weight * near_ink
    return (weight * (output - target).abs()).sum() / weight.sum()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _lr(step: int, options: TrainOptions) -> float:
    if step < options.warmup:
        return options.lr * (step + 1) / options.warmup
    progress = (step - options.warmup) / max(1, options.steps - options.warmup)
    return options.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------- validation


@dataclass
class _ValPage:
    kind: str
    path: Path
    text: str
    dpi: float


def _validation_pages(count: int, folder: Path) -> list[_ValPage]:
    """Held-out pages: validation seeds, held-out fonts, 8-11 pt, 4.5 × 3.5 in."""
    from tair_workbench.synthetic import available_fonts, degrade, render_page

    fonts = [f for f in HELD_OUT_FONTS if f in available_fonts()] or list(available_fonts())
    pages = []
    for i in range(count):
        kind = VALIDATION_KINDS[i % len(VALIDATION_KINDS)]
        seed = VALIDATION_SEEDS[i]
        page = render_page(
            seed,
            size=(4.5, 3.5),
            font=fonts[i % len(fonts)],
            font_pt=(8.0, 10.0, 9.0, 11.0)[i % 4],
            layout="paragraphs" if i % 2 == 0 else None,
        )
        bad = degrade(page, kind, seed=seed)
        path = folder / f"val_{i}_{kind}.png"
        bad.image.save(path, dpi=(bad.dpi, bad.dpi))
        pages.append(_ValPage(kind, path, bad.text or "", bad.dpi))
    return pages


def _tesseract_text(path: Path, dpi: float) -> str:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    tesseract = shutil.which("tesseract") or "tesseract"
    done = subprocess.run(
        [tesseract, str(path), "stdout", "-l", "eng", "--psm", "3", "--dpi", str(round(dpi))],
        capture_output=True,
        env=env,
        check=False,
        timeout=300,
    )
    return done.stdout.decode("utf-8", "replace")


def _cer(reference: str, text: str) -> float:
    """Character error rate, whitespace runs collapsed (the project's own edit distance:
    a second or two per validation page, no extra dependency)."""
    from tair_ocr.fusion import levenshtein

    ref = " ".join(reference.split())
    hyp = " ".join(text.split())
    return levenshtein(ref, hyp) / max(1, len(ref))


def validate(
    model: CleanerNet,
    pages: Sequence[_ValPage],
    folder: Path,
    *,
    baseline: bool = False,
    threads: int | None = None,
) -> dict[str, float]:
    """CER (0-1) of tesseract on each validation page after the cleaner (through
    the real working-scale and tile stage), or on the page itself with ``baseline``."""
    from PIL import Image

    from tair_ocr.page import Page
    from tair_ocr.restoration import restore_page
    from tair_ocr.restorers.cleaner import CleanerRestorer

    restorer = CleanerRestorer(model=model, threads=threads)
    scores: dict[str, float] = {}
    for page in pages:
        image = Image.open(page.path)
        image.load()
        p = Page(source=page.path, index=0, image=image, dpi=page.dpi)
        if baseline:
            from tair_ocr.restorers.identity import IdentityRestorer

            restored = restore_page(p, IdentityRestorer())
        else:
            restored = restore_page(p, restorer)
        out = folder / f"{page.path.stem}_{'plain' if baseline else 'restored'}.png"
        restored.page.image.save(out)
        scores[page.kind] = _cer(page.text, _tesseract_text(out, restored.page.working_dpi))
    scores["mean"] = float(np.mean([scores[p.kind] for p in pages]))
    return scores


# ---------------------------------------------------------------------- training


def _log(options: TrainOptions, record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with (options.out / "log.jsonl").open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def _save_checkpoint(
    path: Path,
    model: CleanerNet,
    optimizer: torch.optim.Optimizer,
    pool: PatchPool,
    step: int,
    options: TrainOptions,
    history: dict[str, Any],
) -> None:
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "pool": pool.state_dict(),
        "torch_rng": torch.get_rng_state(),
        # The architecture as built (an --init model brings its own, options may not say).
        "architecture": model.config.to_json(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "history": history,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(options: TrainOptions, *, export: Path | None = None, command: str = "") -> CleanerNet:
    """Run (or resume) training as ``options`` says; returns the trained model.

    With ``export``, the final weights go there (safetensors + JSON config with the
    command, step count, loss and validation CER).
    """
    options.out.mkdir(parents=True, exist_ok=True)
    threads = options.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    if options.bf16 not in ("auto", "on", "off"):
        raise ValueError(f"--bf16 must be auto, on or off, not {options.bf16!r}")
    bf16 = options.bf16 == "on" or (options.bf16 == "auto" and bf16_is_fast())
    _seed_everything(options.seed)
    if options.init.endswith(".pt"):
        # Another run's checkpoint: full-precision weights (exports are float16).
        init_state = torch.load(options.init, weights_only=False)
        if "architecture" in init_state:
            config = CleanerConfig.from_json(init_state["architecture"])
        else:  # checkpoints written before the architecture was stored
            saved = init_state["options"]
            config = CleanerConfig(
                channels=tuple(saved["channels"]),
                blocks=tuple(saved["blocks"]),
                contrast_input=bool(saved.get("contrast_input", False)),
            )
        model = CleanerNet(config)
        model.load_state_dict(init_state["model"])
    elif options.init:
        model, _ = load_model(Path(options.init))
    else:
        config = CleanerConfig(
            channels=tuple(options.channels),
            blocks=tuple(options.blocks),
            contrast_input=options.contrast_input,
        )
        model = CleanerNet(config)
    if options.contrast_input and not model.config.contrast_input:
        model = with_contrast_input(model)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    pool = PatchPool(
        options.pool_pages * options.patches_per_page,
        options.patch,
        patches_per_page=options.patches_per_page,
        seed=options.seed,
        kinds=parse_kind_weights(options.kind_weights),
    )
    pool.pages_made = options.first_page
    checkpoint = options.out / "checkpoint.pt"
    history: dict[str, Any] = {"validation": [], "seconds": 0.0}
    step = 0
    started = time.perf_counter()
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        pool.load_state_dict(state["pool"])
        torch.set_rng_state(state["torch_rng"])
        step = int(state["step"])
        history = state["history"]
        _log(options, {"event": "resumed", "step": step})
        if options.workers:
            pool.attach()
    else:
        if options.workers:
            pool.attach()
        pool.fill()
        _log(
            options,
            {
                "event": "pool filled",
                "pages": pool.pages_made,
                "seconds": round(time.perf_counter() - started, 1),
            },
        )

    val_dir = options.out / "validation"
    val_dir.mkdir(exist_ok=True)
    val_pages = _validation_pages(options.val_pages, val_dir) if options.val_pages else []
    if val_pages and "baseline" not in history:
        history["baseline"] = validate(model, val_pages, val_dir, baseline=True)
        _log(
            options,
            {"event": "validation", "step": step, "restorer": "none", "cer": history["baseline"]},
        )

    def run_validation(step: int) -> None:
        if not val_pages:
            return
        model.eval()
        with torch.inference_mode():
            scores = validate(model, val_pages, val_dir, threads=threads)
        model.train()
        history["validation"].append({"step": step, "cer": scores})
        _log(options, {"event": "validation", "step": step, "restorer": "cleaner", "cer": scores})

    session_start = time.perf_counter()
    model.train()
    timed_out = False
    _log(
        options,
        {
            "event": "start",
            "step": step,
            "threads": threads,
            "bf16": bf16,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
    )
    try:
        step, timed_out = _loop(
            model,
            optimizer,
            pool,
            options,
            step,
            history,
            bf16,
            checkpoint,
            run_validation,
            session_start,
        )
    finally:
        pool.close()
    return _finish(
        model,
        optimizer,
        pool,
        options,
        step,
        history,
        timed_out,
        checkpoint,
        run_validation,
        export,
        command,
    )


def _loop(
    model: CleanerNet,
    optimizer: torch.optim.Optimizer,
    pool: PatchPool,
    options: TrainOptions,
    step: int,
    history: dict[str, Any],
    bf16: bool,
    checkpoint: Path,
    run_validation: Callable[[int], None],
    session_start: float,
) -> tuple[int, bool]:
    """The training steps from ``step`` to ``options.steps`` (or the time limit)."""
    seconds_before = float(history.get("seconds", 0.0))
    losses: list[float] = []
    timed_out = False
    while step < options.steps:
        if options.max_minutes and time.perf_counter() - session_start > options.max_minutes * 60:
            timed_out = True
            _log(options, {"event": "time limit", "step": step})
            break
        if step % options.refresh_every == 0:
            pool.refresh(1)
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, options)
        x, y = pool.batch(options.batch)
        xt = torch.from_numpy(x)[:, None].contiguous(memory_format=torch.channels_last)
        yt = torch.from_numpy(y)[:, None]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = model(xt)
        loss = ink_weighted_l1(output.float(), yt, options.ink_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        history["seconds"] = seconds_before + time.perf_counter() - session_start
        if step % options.log_every == 0:
            _log(
                options,
                {
                    "step": step,
                    "loss": round(float(np.mean(losses)), 5),
                    "lr": round(_lr(step - 1, options), 6),
                    "pages": pool.pages_made,
                    "minutes": round(history["seconds"] / 60, 1),
                },
            )
            history["last_loss"] = float(np.mean(losses))
            losses = []
        if step % options.checkpoint_every == 0:
            _save_checkpoint(checkpoint, model, optimizer, pool, step, options, history)
        if options.val_every and step % options.val_every == 0 and step < options.steps:
            run_validation(step)
    if losses:
        history["last_loss"] = float(np.mean(losses))
    return step, timed_out


def _finish(
    model: CleanerNet,
    optimizer: torch.optim.Optimizer,
    pool: PatchPool,
    options: TrainOptions,
    step: int,
    history: dict[str, Any],
    timed_out: bool,
    checkpoint: Path,
    run_validation: Callable[[int], None],
    export: Path | None,
    command: str,
) -> CleanerNet:
    """Final validation, checkpoint and export."""
    if not history["validation"] or history["validation"][-1]["step"] != step:
        run_validation(step)
    _save_checkpoint(checkpoint, model, optimizer, pool, step, options, history)
    model.eval()
    if export is not None:
        metadata = {
            "description": "tair-ocr cleaner: compact U-Net text restorer (gray in/out, scale 1)",
            "command": command,
            "steps": step,
            "planned_steps": options.steps,
            "stopped_by_time_limit": timed_out,
            "train_minutes": round(history["seconds"] / 60, 1),
            "batch": options.batch,
            "patch": options.patch,
            "pages_seen": pool.pages_made,
            "kinds_seen": pool.kinds_seen,
            "final_loss": history.get("last_loss"),
            "held_out_fonts": list(HELD_OUT_FONTS),
            "validation_cer_plain": history.get("baseline"),
            "validation_cer_cleaner": history["validation"][-1]["cer"]
            if history["validation"]
            else None,
            "seed": options.seed,
            "torch": torch.__version__,
        }
        files = save_model(model, export, metadata=metadata)
        _log(
            options,
            {"event": "exported", "weights": str(files.weights), "config": str(files.config)},
        )
    return model


def _parse(argv: Sequence[str] | None) -> tuple[TrainOptions, Path | None]:
    defaults = TrainOptions(out=Path("."))
    p = argparse.ArgumentParser(
        prog="python -m tair_workbench.cleaner.train",
        description="Train the cleaner restorer on synthetic degraded pages (CPU).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, log)")
    p.add_argument(
        "--export",
        type=Path,
        default=None,
        help="write the final weights here (.safetensors; a .json goes beside)",
    )
    for name in (
        "steps",
        "batch",
        "patch",
        "warmup",
        "seed",
        "pool_pages",
        "patches_per_page",
        "refresh_every",
        "log_every",
        "val_every",
        "val_pages",
        "checkpoint_every",
        "threads",
        "workers",
    ):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    p.add_argument(
        "--first-page",
        type=int,
        default=defaults.first_page,
        help="index of the first training page (fine-tuning: past an earlier run's)",
    )
    p.add_argument(
        "--init",
        default="",
        help="start from these weights: an exported .safetensors or a run's .pt",
    )
    p.add_argument(
        "--kind-weights",
        default="",
        help="override degradation weights, e.g. 'lowres_jpeg=0.3,clean=0.1'",
    )
    for name in ("lr", "weight_decay", "ink_weight", "max_minutes"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    p.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default=defaults.bf16,
        help="bfloat16 autocast (auto: when the CPU computes bf16 natively)",
    )
    p.add_argument(
        "--contrast-input",
        action="store_true",
        help="also feed the locally contrast-stretched input (grows --init weights)",
    )
    p.add_argument("--channels", default=",".join(map(str, defaults.channels)))
    p.add_argument("--blocks", default=",".join(map(str, defaults.blocks)))
    args = p.parse_args(argv)
    values = vars(args)
    export = values.pop("export")
    values["channels"] = tuple(int(v) for v in values["channels"].split(","))
    values["blocks"] = tuple(int(v) for v in values["blocks"].split(","))
    return TrainOptions(**values), export


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    options, export = _parse(argv)
    args = sys.argv[1:] if argv is None else list(argv)
    command = "python -m tair_workbench.cleaner.train " + " ".join(args)
    train(options, export=export, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
