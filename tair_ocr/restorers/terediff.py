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

import importlib.util
import logging
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from tair_ocr.components import Availability, RestoredTiles, Restorer, SpottedWord
from tair_ocr.errors import WeightsNotFoundError
from tair_ocr.hookspecs import hookimpl
from tair_ocr.models.weights_location import WEIGHTS_ENV, find_weights
from tair_ocr.options import Flag, PluginOptions

if TYPE_CHECKING:
    import numpy as np
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


class TeReDiffOptions(PluginOptions):
    """Options of the terediff restorer."""

    namespace: ClassVar[str] = "terediff"

    weights: Annotated[Path | None, Flag(metavar="DIR", aliases=("--weights",))] = Field(
        None,
        description=f"converted TeReDiff weights folder (default: ${WEIGHTS_ENV}, then "
        "~/.cache/tair-ocr/terediff)",
    )
    steps: int = Field(
        50, ge=1, le=1000, description="denoising steps (default: {default}, as published)"
    )
    seed: int = Field(25, description="random seed; each tile's noise also depends on its pixels")
    guidance: Annotated[float, Flag(metavar="F")] = Field(
        1.0, gt=0, description="classifier-free guidance scale; 1 = off, as published"
    )
    prompt_style: Literal["caption", "tag", "none"] = Field(
        "caption",
        description="prompt built from the spotted words: the published caption sentence, "
        "the bare quoted words, or none (no prompt loop)",
    )
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="weights dtype; auto = bf16 on CUDA, fp32 on CPU"
    )
    device: Literal["auto", "cuda", "cpu"] = Field(
        "auto", description="auto = CUDA when present; cpu works but takes minutes per tile"
    )
    batch_size: int = Field(
        8, ge=1, description="tiles (or fusion windows) per batch; halved on out-of-memory"
    )
    tiled_vae: bool = Field(
        False,
        description="encode/decode large fusion regions with diffusers' tiled VAE (less memory)",
    )
    latent_fusion: bool = Field(
        False,
        description="restore regions of --terediff-fusion-region pixels with overlapping "
        "windows blended in latent space at every step (fewer seams, more memory per call)",
    )
    fusion_region: Annotated[int, Flag(metavar="PX")] = Field(
        2048,
        ge=512,
        multiple_of=64,
        description="region edge for --terediff-latent-fusion (a multiple of 64)",
    )
    spotter_threshold: Annotated[float, Flag(metavar="P")] = Field(
        0.5,
        ge=0,
        le=1,
        description="minimum spotter score of a word (default: {default}, as published)",
    )

    @field_validator("weights")
    @classmethod
    def _expand_user(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None


#: The options by flat name (``terediff_steps``), as the tile code reads them from
#: ``TeReDiffRestorer.options``: the model's defaults (published inference settings
#: where they exist).
DEFAULTS: dict[str, Any] = TeReDiffOptions().flat()


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
    channels = 3
    tile_size = 512
    spots_text = True
    batch_size = 8

    options_model = TeReDiffOptions

    def __init__(self) -> None:
        #: The configured options by flat name (``terediff_steps``; see
        #: :class:`TeReDiffOptions`).
        self.options: dict[str, Any] = dict(DEFAULTS)
        self._pipeline: TeReDiffPipeline | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ options

    def configure(self, options: TeReDiffOptions) -> None:
        """Apply the ``--terediff-*`` options (validated by :class:`TeReDiffOptions`)."""
        opts = options.flat()
        if self._pipeline is not None and opts != self.options:
            self._pipeline = None  # reload with the new settings on first use
        self.options = opts
        if options.latent_fusion:
            # One region per call; windows inside a region are batched instead.
            self.tile_size = options.fusion_region
            self.batch_size = 1
        else:
            self.tile_size = type(self).tile_size
            self.batch_size = options.batch_size

    # ------------------------------------------------------------------ where and how

    def weights_folder(self) -> tuple[Path | None, list[Path]]:
        """The weights folder to load, and the places searched (in order)
        (:func:`tair_ocr.models.weights_location.find_weights`)."""
        lookup = find_weights(self.options.get("terediff_weights"))
        return lookup.found, lookup.searched

    def availability(self) -> Availability:
        needed = ("torch", "diffusers", "transformers")
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(
                f"{', '.join(missing)} not installed",
                hint="pip install 'tair-ocr[terediff]' (see the README for a CPU or CUDA torch)",
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

    def wants_gpu(self) -> bool:
        """On CUDA unless ``--terediff-device cpu`` (a cluster gives it a GPU)."""
        return self.options["terediff_device"] != "cpu"

    @property
    def device(self) -> str:
        """The torch device the model runs on (tiles are moved there in :meth:`restore`)."""
        requested = self.options["terediff_device"]
        if requested == "auto":
            return "cuda" if _cuda_available() else "cpu"
        return requested

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of the weights and of the tiles given to the model."""
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

    def restore(self, tiles: np.ndarray) -> RestoredTiles:
        """Restore N tiles (or N fusion regions; N×3×H×W float32 numpy in [0, 1])
        and return the spotter's final words. The tiles go to the model as torch
        tensors on :attr:`device` in :attr:`dtype`; the images come back as numpy."""
        import torch

        with torch.no_grad():
            batch = torch.from_numpy(tiles).to(device=self.device, dtype=self.dtype)
            images, found = self._restore_tensor(batch)
            images = images.detach().to("cpu", torch.float32).numpy()
        words = [
            [
                SpottedWord(text=d.text, score=d.score, polygon=list(d.polygon))
                for d in tile_words
                if d.text.strip()
            ]
            for tile_words in found
        ]
        return RestoredTiles(images=images, words=words)

    def _restore_tensor(self, tiles: torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
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
            return torch.cat([o.images for o in outputs]), [o.words[0] for o in outputs]
        out = pipe(tiles, generator=[self._generator(t) for t in tiles], **common)
        return out.images, list(out.words)


@hookimpl
def register_restorers() -> list[Restorer]:
    return [TeReDiffRestorer()]
