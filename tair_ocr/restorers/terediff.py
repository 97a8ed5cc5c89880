"""The ``terediff`` restorer: TeReDiff text-aware diffusion restoration (GPU).

A thin adapter from the framework's tiles to
:class:`tair_ocr.models.pipeline_terediff.TeReDiffPipeline`. Per tile: SwinIR cleaning,
a 50-step latent diffusion steered by the cleaned tile and, at every step, by a prompt
built from what the model's own text spotter read at the previous step. The spotter's
final reading comes back as the tile's spotted words.

Weights are the published checkpoints converted to the project's layout
(``model_index.json`` + one folder per component). They are looked up in
``--weights DIR`` (alias ``--terediff-weights``), then ``$TAIR_OCR_WEIGHTS``, then
``~/.cache/tair-ocr/terediff`` (``$XDG_CACHE_HOME`` honoured); a directory given may
be the weights folder itself or hold it as ``terediff/``. Missing weights make the
restorer unavailable with a hint; it never runs on random weights.

Without CUDA it is unavailable unless ``--terediff-device cpu`` is given: on a CPU a
single 512-pixel tile takes many minutes.

Seeds: each tile's generator is seeded from ``--terediff-seed`` and the tile's
pixels, so a tile restores the same whatever batch it arrives in and a page restores
the same on every run on the same device.

``--terediff-latent-fusion`` asks the framework for larger regions
(``--terediff-fusion-region`` pixels) and denoises each region with overlapping
512-pixel windows blended in latent space at every step, instead of restoring tiles
independently and blending pixels.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tair_ocr.components import Availability, RestoredTiles, Restorer, SpottedWord
from tair_ocr.errors import UsageError, WeightsNotFoundError
from tair_ocr.models.weights_location import WEIGHTS_ENV, find_weights
from tair_ocr.plugins import hookimpl

if TYPE_CHECKING:
    import torch

    from tair_ocr.models.pipeline_terediff import TeReDiffPipeline

log = logging.getLogger(__name__)

WEIGHTS_HINT = (
    "download the published TeReDiff checkpoints (terediff_stage3.pt from the "
    "cvlab-kaist/TAIR README; the SD-2.1 zsnr base and DiffBIR files from "
    "huggingface.co/lxq007/DiffBIR-v2), convert them with "
    "`tair-ocr weights convert --terediff terediff_stage3.pt` (writes "
    "~/.cache/tair-ocr/terediff, where the restorer looks), or pass -o DIR and then "
    "--weights DIR or TAIR_OCR_WEIGHTS=DIR"
)

_DTYPES = ("auto", "fp32", "fp16", "bf16")
_DEVICES = ("auto", "cuda", "cpu")
_PROMPT_STYLES = ("caption", "tag", "none")

#: Option defaults (published inference settings where they exist).
DEFAULTS: dict[str, Any] = {
    "terediff_weights": None,
    "terediff_steps": 50,
    "terediff_seed": 25,
    "terediff_guidance": 1.0,
    "terediff_prompt_style": "caption",
    "terediff_dtype": "auto",
    "terediff_device": "auto",
    "terediff_batch_size": 8,
    "terediff_tiled_vae": False,
    "terediff_latent_fusion": False,
    "terediff_fusion_region": 2048,
    "terediff_spotter_threshold": 0.5,
}


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class TeReDiffRestorer(Restorer):
    """TeReDiff: SwinIR cleaning + ControlNet-steered SD-2.1 diffusion whose prompt is
    what its TESTR spotter reads at every step. Returns the spotted words too."""

    name = "terediff"
    description = (
        "TeReDiff text-aware diffusion restoration with a text spotter "
        "(needs converted weights; CUDA GPU)"
    )
    scale = 1
    tile_size = 512
    spots_text = True
    batch_size = 8

    def __init__(self) -> None:
        self.options: dict[str, Any] = dict(DEFAULTS)
        self._pipeline: TeReDiffPipeline | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ options

    def configure(self, options: Mapping[str, Any]) -> None:
        """Read the ``terediff_*`` options (missing keys keep their defaults)."""
        opts = dict(DEFAULTS)
        opts.update({k: v for k, v in options.items() if k in DEFAULTS and v is not None})
        if opts["terediff_dtype"] not in _DTYPES:
            raise UsageError(f"--terediff-dtype must be one of {', '.join(_DTYPES)}")
        if opts["terediff_device"] not in _DEVICES:
            raise UsageError(f"--terediff-device must be one of {', '.join(_DEVICES)}")
        if opts["terediff_prompt_style"] not in _PROMPT_STYLES:
            raise UsageError(f"--terediff-prompt-style must be one of {', '.join(_PROMPT_STYLES)}")
        if not 1 <= int(opts["terediff_steps"]) <= 1000:
            raise UsageError(f"--terediff-steps must be in 1..1000, got {opts['terediff_steps']}")
        if int(opts["terediff_batch_size"]) < 1:
            raise UsageError("--terediff-batch-size must be at least 1")
        if not float(opts["terediff_guidance"]) > 0:
            raise UsageError("--terediff-guidance must be positive (1 = no guidance)")
        if not 0 <= float(opts["terediff_spotter_threshold"]) <= 1:
            raise UsageError("--terediff-spotter-threshold must be in [0, 1]")
        region = int(opts["terediff_fusion_region"])
        if region < 512 or region % 64:
            raise UsageError("--terediff-fusion-region must be a multiple of 64, at least 512")
        if opts["terediff_weights"] is not None:
            opts["terediff_weights"] = Path(opts["terediff_weights"]).expanduser()
        if self._pipeline is not None and opts != self.options:
            self._pipeline = None  # reload with the new settings on first use
        self.options = opts
        if opts["terediff_latent_fusion"]:
            # One region per call; windows inside a region are batched instead.
            self.tile_size = region
            self.batch_size = 1
        else:
            self.tile_size = type(self).tile_size
            self.batch_size = int(opts["terediff_batch_size"])

    # ------------------------------------------------------------------ where and how

    def weights_folder(self) -> tuple[Path | None, list[Path]]:
        """The weights folder to load, and the places searched (in order)
        (:func:`tair_ocr.models.weights_location.find_weights`)."""
        lookup = find_weights(self.options.get("terediff_weights"))
        return lookup.found, lookup.searched

    def availability(self) -> Availability:
        missing = [m for m in ("diffusers", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(
                f"{' and '.join(missing)} not installed", hint="pip install diffusers transformers"
            )
        folder, searched = self.weights_folder()
        if folder is None:
            where = ", ".join(str(p) for p in searched)
            return Availability.no(f"weights not found in {where}", hint=WEIGHTS_HINT)
        requested = self.options["terediff_device"]
        if requested == "cpu":
            return Availability.yes(
                f"weights in {folder}; on the CPU: very slow (minutes per 512-pixel tile)"
            )
        if not _cuda_available():
            if requested == "cuda":
                return Availability.no("--terediff-device cuda given but CUDA is not available")
            return Availability.no(
                "no CUDA GPU; TeReDiff on a CPU takes minutes per tile",
                hint="pass --terediff-device cpu to run it on the CPU anyway",
            )
        return Availability.yes(f"weights in {folder}, CUDA")

    @property
    def device(self) -> str:
        requested = self.options["terediff_device"]
        if requested == "auto":
            return "cuda" if _cuda_available() else "cpu"
        return requested

    @property
    def dtype(self) -> torch.dtype:
        import torch

        name = self.options["terediff_dtype"]
        if name == "auto":
            name = "bf16" if self.device == "cuda" else "fp32"
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]

    def pipeline(self) -> TeReDiffPipeline:
        """The loaded model (loaded on first use, once)."""
        with self._lock:
            if self._pipeline is None:
                from tair_ocr.models.pipeline_terediff import TeReDiffPipeline

                folder, searched = self.weights_folder()
                if folder is None:
                    where = ", ".join(str(p) for p in searched)
                    raise WeightsNotFoundError(
                        f"TeReDiff weights not found in {where}", hint=WEIGHTS_HINT
                    )
                if self.device == "cpu":
                    log.warning("TeReDiff runs on the CPU: expect minutes per tile")
                log.info("loading TeReDiff from %s (%s, %s)", folder, self.device, self.dtype)
                pipe = TeReDiffPipeline.from_pretrained(
                    folder, device=self.device, dtype=self.dtype
                )
                if self.options["terediff_tiled_vae"]:
                    pipe.vae.enable_tiling()
                self._pipeline = pipe
            return self._pipeline

    # ------------------------------------------------------------------ work

    def _generator(self, tile: torch.Tensor) -> torch.Generator:
        """A CPU generator seeded from the run's seed and the tile's 8-bit pixels."""
        import torch

        pixels = tile.detach().float().mul(255).round().clamp(0, 255).to(torch.uint8).cpu()
        crc = zlib.crc32(pixels.numpy().tobytes())
        seed = (int(self.options["terediff_seed"]) * 0x1_0000_0001 + crc) % 2**63
        return torch.Generator().manual_seed(seed)

    def restore(self, tiles: torch.Tensor) -> RestoredTiles:
        """Restore N tiles (or N fusion regions) and return the spotter's final words."""
        import torch

        pipe = self.pipeline()
        opts = self.options
        common = {
            "num_inference_steps": int(opts["terediff_steps"]),
            "prompt_style": opts["terediff_prompt_style"],
            "guidance_scale": float(opts["terediff_guidance"]),
            "score_threshold": float(opts["terediff_spotter_threshold"]),
        }
        if opts["terediff_latent_fusion"] and max(tiles.shape[-2:]) > 512:
            outputs = [
                pipe.restore_region(
                    tile[None],
                    batch_size=int(opts["terediff_batch_size"]),
                    generator=self._generator(tile),
                    **common,
                )
                for tile in tiles
            ]
            images = torch.cat([o.images for o in outputs])
            found = [o.words[0] for o in outputs]
        else:
            out = pipe(tiles, generator=[self._generator(t) for t in tiles], **common)
            images, found = out.images, out.words
        words = [
            [
                SpottedWord(text=d.text, score=d.score, polygon=list(d.polygon))
                for d in tile_words
                if d.text.strip()
            ]
            for tile_words in found
        ]
        return RestoredTiles(images=images.to(tiles.device), words=words)


@hookimpl
def register_restorers() -> list[Restorer]:
    return [TeReDiffRestorer()]


@hookimpl
def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("terediff", "Options of the terediff restorer")
    group.add_argument(
        "--weights",
        "--terediff-weights",
        dest="terediff_weights",
        metavar="DIR",
        default=None,
        help=f"converted TeReDiff weights folder (default: ${WEIGHTS_ENV}, then "
        "~/.cache/tair-ocr/terediff)",
    )
    group.add_argument(
        "--terediff-steps",
        type=int,
        default=DEFAULTS["terediff_steps"],
        metavar="N",
        help="denoising steps (default: %(default)s, as published)",
    )
    group.add_argument(
        "--terediff-seed",
        type=int,
        default=DEFAULTS["terediff_seed"],
        metavar="N",
        help="random seed; each tile's noise also depends on its pixels (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-guidance",
        type=float,
        default=DEFAULTS["terediff_guidance"],
        metavar="F",
        help="classifier-free guidance scale; 1 = off, as published (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-prompt-style",
        choices=_PROMPT_STYLES,
        default=DEFAULTS["terediff_prompt_style"],
        help="prompt built from the spotted words: the published caption sentence, the bare "
        "quoted words, or none (no prompt loop) (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-dtype",
        choices=_DTYPES,
        default=DEFAULTS["terediff_dtype"],
        help="weights dtype; auto = bf16 on CUDA, fp32 on CPU (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-device",
        choices=_DEVICES,
        default=DEFAULTS["terediff_device"],
        help="auto = CUDA when present; cpu works but takes minutes per tile "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--terediff-batch-size",
        type=int,
        default=DEFAULTS["terediff_batch_size"],
        metavar="N",
        help="tiles (or fusion windows) per batch; halved on out-of-memory (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-tiled-vae",
        action="store_true",
        help="encode/decode large fusion regions with diffusers' tiled VAE (less memory)",
    )
    group.add_argument(
        "--terediff-latent-fusion",
        action="store_true",
        help="restore regions of --terediff-fusion-region pixels with overlapping windows "
        "blended in latent space at every step (fewer seams, more memory per call)",
    )
    group.add_argument(
        "--terediff-fusion-region",
        type=int,
        default=DEFAULTS["terediff_fusion_region"],
        metavar="PX",
        help="region edge for --terediff-latent-fusion (default: %(default)s)",
    )
    group.add_argument(
        "--terediff-spotter-threshold",
        type=float,
        default=DEFAULTS["terediff_spotter_threshold"],
        metavar="P",
        help="minimum spotter score of a word (default: %(default)s, as published)",
    )
