"""``TeReDiffPipeline``: the denoise-and-prompt loop of TeReDiff on diffusers parts.

Components (each its own model, wired here by keyword; no model imports another):

========================  ====================================================
``cleaner``               :class:`~tair_ocr.models.swinir.SwinIR` stage-1 cleaner
``vae``                   ``diffusers.AutoencoderKL`` (SD KL-f8)
``unet``                  ``diffusers.UNet2DConditionModel`` (SD-2.1-base, v-pred)
``controlnet``            :class:`~tair_ocr.models.controlnet.LatentControlNet`
``text_encoder``          ``transformers.CLIPTextModel`` (OpenCLIP ViT-H, 23 layers)
``tokenizer``             ``transformers.CLIPTokenizer``
``spotter``               :class:`~tair_ocr.models.spotter.TextSpotter` (TESTR)
``scheduler``             ``diffusers.DDPMScheduler`` (zero-SNR, v, explicit steps)
========================  ====================================================

One call (:meth:`TeReDiffPipeline.__call__`), per batch of tiles:

1. check the input (N×3×H×W in [0, 1]; padded up to a multiple of 64);
2. clean each tile with SwinIR and encode the **condition latent** =
   VAE posterior mode of (clean·2−1) · 0.18215;
3. set the respaced timesteps (999, 979, …, 0 for 50 steps);
4. draw x_T from one generator per tile;
5. **prompt loop**, per step t: encode each tile's prompt (step 0: ``""``); run the
   ControlNet (noisy ‖ condition latent) and the U-Net with its residuals,
   tapping the four decoder levels; take one DDPM step; let the spotter read the
   taps; format the words it read with the published template: that is the
   prompt of the next step;
6. decode the final latent; the spotter's reading at the last step (t = 0) is the
   transcription returned with the image.

:meth:`TeReDiffPipeline.restore_region` runs the same loop over a region larger than
one tile, with overlapping 512-pixel windows whose predictions are blended in latent
space at every step (MultiDiffusion), so neighbouring windows agree instead of being
hallucinated independently and blended afterwards.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tair_ocr.errors import WeightsNotFoundError
from tair_ocr.models.configs import COMPONENT_CLASSES
from tair_ocr.models.loading import load_component, move, resolve_class, save_component
from tair_ocr.models.scheduling import respaced_timesteps
from tair_ocr.models.spotter import Detection, TextSpotter
from tair_ocr.models.text_encoder import encode_prompts, load_tokenizer

__all__ = [
    "PROMPT_STYLES",
    "StepTrace",
    "TeReDiffOutput",
    "TeReDiffPipeline",
    "format_prompt",
    "sliding_windows",
]

#: The published caption template (``prompt_style CAPTION``).
CAPTION_TEMPLATE = (
    "A realistic scene where the texts {words} appear clearly on signs, boards, "
    "buildings, or other objects."
)
#: ``caption`` (published default), ``tag`` (just the quoted words) or ``none``
#: (always the empty prompt: the loop is off).
PROMPT_STYLES = ("caption", "tag", "none")

#: Pixel sizes must be multiples of this (VAE ×8, then three U-Net halvings; SwinIR).
SIZE_MULTIPLE = 64
#: The spotter and U-Net were trained on 512² tiles (64² latents).
TILE = 512


def format_prompt(words: Sequence[str], style: str = "caption") -> str:
    """The next step's prompt from the words read at this step.

    Words are quoted and joined with ``", "`` in the order the spotter gave them
    (duplicates and empty readings kept, as published). With no words, ``caption``
    gives the template with an empty slot and ``tag`` the empty string.
    """
    joined = ", ".join(f'"{w}"' for w in words)
    if style == "caption":
        return CAPTION_TEMPLATE.format(words=joined)
    if style == "tag":
        return joined
    if style == "none":
        return ""
    raise ValueError(f"unknown prompt style {style!r}; use one of {PROMPT_STYLES}")


def sliding_windows(length: int, window: int, stride: int) -> list[int]:
    """Window starts covering ``length``: 0, stride, 2·stride, … and a last window
    snapped to ``length − window`` when the stride does not land on the end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def window_weights(size: int, mode: str, *, device: torch.device) -> torch.Tensor:
    """Blend weights of one latent window (size×size, float32).

    ``gaussian``: DiffBIR's tiled sampler (σ = 0.1·size around the centre), which
    lets the nearest window centre dominate an overlap; ``uniform``: MultiDiffusion's
    plain average.
    """
    if mode == "uniform":
        return torch.ones(size, size, device=device)
    if mode != "gaussian":
        raise ValueError(f"unknown window weighting {mode!r}")
    x = torch.arange(size, device=device, dtype=torch.float32)
    g = torch.exp(-0.5 * ((x - (size - 1) / 2) / (0.1 * size)) ** 2)
    return g[:, None] * g[None, :]


@dataclass
class StepTrace:
    """What happened at one denoising step (for inspection and tests)."""

    #: Original (not respaced) timestep.
    timestep: int
    #: The prompt each tile (or window) was conditioned on at this step.
    prompts: list[str]
    #: What the spotter read from this step's U-Net features, per tile (window).
    words: list[list[Detection]]


@dataclass
class TeReDiffOutput:
    """Result of one pipeline call.

    :ivar images: N×3×H×W restored images in [0, 1] (float32, input size).
    :ivar words: per image, the spotter's final reading, polygons in image pixels.
    :ivar trace: per step, the prompts used and the words read (``return_trace``).
    """

    images: torch.Tensor
    words: list[list[Detection]]
    trace: list[StepTrace] = field(default_factory=list)


class _DecoderTaps:
    """Forward hooks that keep the outputs of the U-Net decoder blocks (the last block
    of each decoder level: ldm ``output_blocks`` 2, 5, 8, 11)."""

    def __init__(self, unet: torch.nn.Module, indices: Sequence[int]) -> None:
        self.features: list[torch.Tensor] = []
        self._handles = [unet.up_blocks[i].register_forward_hook(self._keep) for i in indices]

    def _keep(self, module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
        self.features.append(output)

    def __enter__(self) -> _DecoderTaps:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()


class TeReDiffPipeline:
    """TeReDiff inference: cleaner → condition latent → spotter-prompted diffusion.

    Build it with :meth:`from_pretrained` (a converted weights folder) or from
    components. All components must share one device and dtype (:meth:`to`).
    """

    #: Component names, in ``model_index.json`` order.
    components: tuple[str, ...] = (
        "cleaner",
        "vae",
        "unet",
        "controlnet",
        "text_encoder",
        "tokenizer",
        "spotter",
        "scheduler",
    )
    #: U-Net decoder blocks whose outputs feed the spotter.
    tap_blocks: tuple[int, ...] = (0, 1, 2, 3)
    #: Prompt embeddings kept between steps and calls.
    prompt_cache_size: int = 256

    def __init__(
        self,
        *,
        cleaner: torch.nn.Module,
        vae: Any,
        unet: Any,
        controlnet: torch.nn.Module,
        text_encoder: Any,
        tokenizer: Any,
        spotter: TextSpotter,
        scheduler: Any,
    ) -> None:
        self.cleaner = cleaner
        self.vae = vae
        self.unet = unet
        self.controlnet = controlnet
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.spotter = spotter
        self.scheduler = scheduler
        self._prompt_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> TeReDiffPipeline:
        """Load a weights folder: ``model_index.json`` plus one subfolder per component.

        :raises WeightsNotFoundError: missing folder, file or tensor, or weights that
            do not match the configured model. Never falls back to random weights.
        """
        folder = Path(folder)
        index_path = folder / "model_index.json"
        if not index_path.is_file():
            raise WeightsNotFoundError(
                f"no TeReDiff weights in {folder} (model_index.json not found)",
                hint="convert the published checkpoints with `tair-ocr weights convert`",
            )
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            raise WeightsNotFoundError(f"cannot read {index_path}: {exc}") from exc
        parts: dict[str, Any] = {}
        for name in cls.components:
            entry = index.get(name)
            if not (isinstance(entry, list) and len(entry) == 2):
                raise WeightsNotFoundError(f"{index_path} does not name the {name!r} component")
            component_cls = resolve_class(*entry)
            sub = folder / name
            if name == "tokenizer":
                try:
                    parts[name] = load_tokenizer(sub)
                except (OSError, ValueError) as exc:
                    raise WeightsNotFoundError(f"cannot load the tokenizer: {exc}") from exc
            elif name == "scheduler":
                try:
                    parts[name] = component_cls.from_config(component_cls.load_config(str(sub)))
                except (OSError, ValueError) as exc:
                    raise WeightsNotFoundError(f"cannot load the scheduler: {exc}") from exc
            else:
                parts[name] = load_component(sub, component_cls, device=device, dtype=dtype)
        return cls(**parts)

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the weights folder :meth:`from_pretrained` reads."""
        from tair_ocr._version import __version__

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {
            "_class_name": type(self).__name__,
            "_tair_ocr_version": __version__,
        }
        for name in self.components:
            index[name] = list(COMPONENT_CLASSES[name])
            part = getattr(self, name)
            if name == "tokenizer":
                part.save_pretrained(str(folder / name))
            elif name == "scheduler":
                part.save_config(str(folder / name))
            else:
                save_component(part, folder / name)
        (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> TeReDiffPipeline:
        """Move every model to ``device`` / cast floating weights to ``dtype``."""
        for name in ("cleaner", "vae", "unet", "controlnet", "text_encoder", "spotter"):
            move(getattr(self, name), device=device, dtype=dtype)
        self._prompt_cache.clear()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    # ------------------------------------------------------------------ building blocks

    def clean(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 cleaning (SwinIR), same size, not clamped (as published)."""
        return self.cleaner(images.to(device=self.device, dtype=self.dtype))

    def encode_condition(self, clean: torch.Tensor) -> torch.Tensor:
        """Condition latent: VAE posterior mode of (clean·2−1), times the scaling factor."""
        x = (clean * 2 - 1).to(dtype=self.vae.dtype)
        latent = self.vae.encode(x).latent_dist.mode()
        return latent * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents → images in [0, 1] (float32)."""
        z = (latents / self.vae.config.scaling_factor).to(dtype=self.vae.dtype)
        images = self.vae.decode(z).sample
        return ((images.float() + 1) / 2).clamp(0, 1)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """Text states B×77×C for ``prompts``, cached by string."""
        missing = list(dict.fromkeys(p for p in prompts if p not in self._prompt_cache))
        if missing:
            states = encode_prompts(
                missing, self.tokenizer, self.text_encoder, device=self.device, dtype=self.dtype
            )
            for prompt, state in zip(missing, states, strict=True):
                self._prompt_cache[prompt] = state
        for prompt in prompts:
            self._prompt_cache.move_to_end(prompt)
        while len(self._prompt_cache) > self.prompt_cache_size:
            self._prompt_cache.popitem(last=False)
        return torch.stack([self._prompt_cache[p] for p in prompts])

    def predict(
        self,
        latents: torch.Tensor,
        condition: torch.Tensor,
        timestep: int,
        text_states: torch.Tensor,
        *,
        guidance_scale: float = 1.0,
        negative_states: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One ControlNet + U-Net evaluation: (v-prediction in float32, decoder taps).

        With ``guidance_scale`` ≠ 1 an unconditional pass on ``negative_states`` is
        added (classifier-free guidance); the taps come from the conditional pass.
        """
        dtype = self.dtype
        sample = latents.to(dtype)
        cond = condition.to(dtype)
        t = torch.full((sample.shape[0],), timestep, device=sample.device, dtype=torch.long)
        guided = guidance_scale != 1.0 and negative_states is not None
        if guided:
            sample, cond, t = (
                torch.cat([sample, sample]),
                torch.cat([cond, cond]),
                torch.cat([t, t]),
            )
            text_states = torch.cat([text_states, negative_states])
        control = self.controlnet(sample, cond, t, text_states)
        with _DecoderTaps(self.unet, self.tap_blocks) as taps:
            v = self.unet(
                sample,
                t,
                encoder_hidden_states=text_states,
                down_block_additional_residuals=control.down_block_res_samples,
                mid_block_additional_residual=control.mid_block_res_sample,
            ).sample.float()
        features = taps.features
        if guided:
            v_cond, v_uncond = v.chunk(2)
            v = v_uncond + guidance_scale * (v_cond - v_uncond)
            features = [f.chunk(2)[0] for f in features]
        return v, features

    def spot(
        self, features: list[torch.Tensor], image_size: tuple[int, int], threshold: float
    ) -> list[list[Detection]]:
        """Read words from decoder taps; polygons in pixels of ``image_size`` (h, w)."""
        return TextSpotter.postprocess(self.spotter(features), image_size, threshold)

    # ------------------------------------------------------------------ tiles

    def _check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(getattr(images, "shape", ()))
            raise ValueError(f"expected images of shape N×3×H×W, got {shape}")
        if not images.is_floating_point():
            raise ValueError(f"expected float images in [0, 1], got {images.dtype}")

    @staticmethod
    def _pad(images: torch.Tensor, minimum: int = 0) -> torch.Tensor:
        """Pad right/bottom (replicating edges) to multiples of 64, at least ``minimum``."""
        h, w = images.shape[-2:]
        th = max(minimum, math.ceil(h / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        tw = max(minimum, math.ceil(w / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        if (th, tw) == (h, w):
            return images
        return F.pad(images, (0, tw - w, 0, th - h), mode="replicate")

    @staticmethod
    def _generators(
        generator: torch.Generator | list[torch.Generator] | None, n: int
    ) -> list[torch.Generator]:
        if generator is None:
            return [_fresh_generator() for _ in range(n)]
        if isinstance(generator, torch.Generator):
            return [generator] * n if n == 1 else _split(generator, n)
        if len(generator) != n:
            raise ValueError(f"got {len(generator)} generators for {n} images")
        return list(generator)

    @torch.no_grad()
    def __call__(
        self,
        images: torch.Tensor,
        *,
        num_inference_steps: int = 50,
        generator: torch.Generator | list[torch.Generator] | None = None,
        prompt_style: str = "caption",
        initial_prompt: str = "",
        guidance_scale: float = 1.0,
        negative_prompt: str = "",
        score_threshold: float = 0.5,
        return_trace: bool = False,
        callback: Callable[[int, int], None] | None = None,
    ) -> TeReDiffOutput:
        """Restore a batch of tiles (N×3×H×W, [0, 1]); see the module docstring.

        :param generator: one CPU generator per image (so a batch of N equals N single
            calls), or one generator for all (split deterministically).
        :param prompt_style: ``caption`` (published), ``tag`` or ``none``.
        :param initial_prompt: prompt of step 0 (published: ``""``).
        :param guidance_scale: classifier-free guidance (published: 1.0 = off).
        :param score_threshold: spotter instance score to keep a word (published 0.5).
        :param callback: called as ``callback(step, num_steps)`` after each step.
        """
        # 1. Check inputs.
        self._check_images(images)
        format_prompt([], prompt_style)  # validates the style
        n, _, height, width = images.shape
        generators = self._generators(generator, n)
        padded = self._pad(images)

        # 2. Clean and encode the condition latent.
        condition = self.encode_condition(self.clean(padded))

        # 3. Timesteps.
        timesteps = respaced_timesteps(
            num_inference_steps, self.scheduler.config.num_train_timesteps
        )
        self.scheduler.set_timesteps(timesteps=timesteps)

        # 4. Initial noise, one generator per tile.
        latents = torch.stack(
            [torch.randn(condition.shape[1:], generator=g, dtype=torch.float32) for g in generators]
        ).to(self.device)

        # 5. Prompt loop.
        prompts = [initial_prompt] * n
        negative = self.encode_prompt([negative_prompt] * n) if guidance_scale != 1.0 else None
        trace: list[StepTrace] = []
        words: list[list[Detection]] = [[] for _ in range(n)]
        size = (padded.shape[2], padded.shape[3])
        for step, t in enumerate(self.scheduler.timesteps.tolist()):
            v, features = self.predict(
                latents,
                condition,
                t,
                self.encode_prompt(prompts),
                guidance_scale=guidance_scale,
                negative_states=negative,
            )
            latents = self.scheduler.step(v, t, latents, generator=generators).prev_sample
            words = self.spot(features, size, score_threshold)
            if return_trace:
                trace.append(StepTrace(timestep=int(t), prompts=list(prompts), words=words))
            prompts = [format_prompt([d.text for d in found], prompt_style) for found in words]
            if callback is not None:
                callback(step + 1, len(timesteps))

        # 6. Decode; keep the words inside the unpadded image.
        restored = self.decode_latents(latents)[:, :, :height, :width]
        words = [_inside(found, height, width) for found in words]
        return TeReDiffOutput(images=restored, words=words, trace=trace)

    # ------------------------------------------------------------------ regions

    @torch.no_grad()
    def restore_region(
        self,
        image: torch.Tensor,
        *,
        window: int = TILE,
        overlap: int = 128,
        weighting: str = "gaussian",
        batch_size: int = 4,
        num_inference_steps: int = 50,
        generator: torch.Generator | None = None,
        prompt_style: str = "caption",
        initial_prompt: str = "",
        guidance_scale: float = 1.0,
        negative_prompt: str = "",
        score_threshold: float = 0.5,
        return_trace: bool = False,
        callback: Callable[[int, int], None] | None = None,
    ) -> TeReDiffOutput:
        """Restore one region larger than a tile with latent-space window fusion.

        The region (1×3×H×W) is cleaned and encoded whole. Every step, each
        ``window``-pixel window (stride ``window − overlap``) is denoised with its own
        crop of the condition latent and its own prompt; the v-predictions are
        blended (``weighting``) into one prediction for the whole latent, and one DDPM
        step is taken on it with noise from one generator. Each window's spotter
        reading becomes that window's next prompt. Windows run ``batch_size`` at a time.

        Words come back in region pixels; a word read by several overlapping windows
        is kept once (the highest score).
        """
        self._check_images(image)
        if image.shape[0] != 1:
            raise ValueError("restore_region takes one region (1×3×H×W)")
        if window % SIZE_MULTIPLE or not 0 <= overlap < window:
            raise ValueError(
                f"window must be a multiple of 64 and overlap in [0, window): "
                f"got {window}, {overlap}"
            )
        format_prompt([], prompt_style)
        _, _, height, width = image.shape
        padded = self._pad(image, minimum=window)
        generator = generator or _fresh_generator()

        # 1. Clean and encode the whole region.
        condition = self.encode_condition(self.clean(padded))
        lh, lw = condition.shape[-2:]
        scale = padded.shape[-1] // lw
        size, stride = window // scale, (window - overlap) // scale
        boxes = [
            (y, x)
            for y in sliding_windows(lh, size, stride)
            for x in sliding_windows(lw, size, stride)
        ]
        weights = window_weights(size, weighting, device=self.device)
        total = torch.zeros(lh, lw, device=self.device)
        for y, x in boxes:
            total[y : y + size, x : x + size] += weights

        # 2. Timesteps and noise for the whole latent.
        timesteps = respaced_timesteps(
            num_inference_steps, self.scheduler.config.num_train_timesteps
        )
        self.scheduler.set_timesteps(timesteps=timesteps)
        latents = torch.randn(condition.shape, generator=generator, dtype=torch.float32).to(
            self.device
        )

        # 3. Prompt loop over windows.
        prompts = [initial_prompt] * len(boxes)
        trace: list[StepTrace] = []
        words: list[list[Detection]] = [[] for _ in boxes]
        for step, t in enumerate(self.scheduler.timesteps.tolist()):
            blended = torch.zeros_like(latents)
            for start in range(0, len(boxes), batch_size):
                chunk = boxes[start : start + batch_size]
                crop = torch.cat([latents[:, :, y : y + size, x : x + size] for y, x in chunk])
                cond = torch.cat([condition[:, :, y : y + size, x : x + size] for y, x in chunk])
                chunk_prompts = prompts[start : start + len(chunk)]
                negative = (
                    self.encode_prompt([negative_prompt] * len(chunk))
                    if guidance_scale != 1.0
                    else None
                )
                v, features = self.predict(
                    crop,
                    cond,
                    t,
                    self.encode_prompt(chunk_prompts),
                    guidance_scale=guidance_scale,
                    negative_states=negative,
                )
                for i, (y, x) in enumerate(chunk):
                    blended[:, :, y : y + size, x : x + size] += v[i] * weights
                words[start : start + len(chunk)] = self.spot(
                    features, (window, window), score_threshold
                )
            v = blended / total
            latents = self.scheduler.step(v, t, latents, generator=generator).prev_sample
            if return_trace:
                trace.append(StepTrace(timestep=int(t), prompts=list(prompts), words=list(words)))
            prompts = [format_prompt([d.text for d in found], prompt_style) for found in words]
            if callback is not None:
                callback(step + 1, len(timesteps))

        # 4. Decode; words in region pixels, once each.
        restored = self.decode_latents(latents)[:, :, :height, :width]
        placed = [
            _shift(d, x * scale, y * scale)
            for (y, x), found in zip(boxes, words, strict=True)
            for d in found
        ]
        return TeReDiffOutput(
            images=restored, words=[_inside(_deduplicate(placed), height, width)], trace=trace
        )


# --------------------------------------------------------------------------- helpers


def _fresh_generator() -> torch.Generator:
    """A CPU generator with an unpredictable seed (leaves torch's global RNG alone)."""
    return torch.Generator().manual_seed(secrets.randbits(63))


def _split(generator: torch.Generator, n: int) -> list[torch.Generator]:
    """n independent generators seeded from one (deterministic)."""
    seeds = torch.randint(0, 2**62, (n,), generator=generator).tolist()
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def _shift(d: Detection, dx: float, dy: float) -> Detection:
    return Detection(d.text, d.score, [(x + dx, y + dy) for x, y in d.polygon])


def _box(d: Detection) -> tuple[float, float, float, float]:
    xs = [p[0] for p in d.polygon]
    ys = [p[1] for p in d.polygon]
    return min(xs), min(ys), max(xs), max(ys)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _deduplicate(detections: list[Detection], iou: float = 0.5) -> list[Detection]:
    """Greedy NMS on polygon boxes: the best-scored of overlapping readings stays."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        box = _box(d)
        if all(_iou(box, _box(k)) < iou for k in kept):
            kept.append(d)
    return kept


def _inside(detections: list[Detection], height: int, width: int) -> list[Detection]:
    """Drop words whose centre lies in the padding added to reach a multiple of 64."""
    out = []
    for d in detections:
        x0, y0, x1, y1 = _box(d)
        if (x0 + x1) / 2 < width and (y0 + y1) / 2 < height:
            out.append(d)
    return out
