"""The cleaner network: a compact U-Net that works on 4×4 pixel blocks.

Design, chosen for speed on a CPU (see ``weights/MODEL_CARD.md`` for measurements):

* Gray in, gray out: documents are read in luminance. The tile stage hands the
  restorer gray tiles (BT.601 luma of RGB pages).
* The image is folded into 4×4 blocks first (pixel unshuffle: H×W×1 -> H/4×W/4×16),
  so every convolution runs on a 16× smaller grid; pixel shuffle unfolds the
  result. Text strokes at the working scale (x-height about 16-30 px) are a few
  pixels wide, so a block still holds a fraction of a letter.
* Three levels (1/4, 1/8, 1/16 of the resolution) of residual 3×3 conv blocks, with
  strided 2×2 convolutions down and 1×1 conv + pixel shuffle up, and skip additions.
  The receptive field (about 150 px) covers motion blur streaks and the JPEG blocks of
  4×-enlarged thumbnails.
* The network predicts a correction added to its input (the identity is easy to
  learn, so clean pages stay as they are).
* Optionally (``contrast_input``) the head also sees the blocks stretched to their
  neighbourhood's ink-to-paper range (about 50 px around): faded or grey ink then
  looks like black ink, so the network needs no separate rules for every contrast.

The forward pass accepts any H×W: it pads to a multiple of :attr:`CleanerNet.multiple`
by mirror reflection and crops back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CleanerConfig",
    "CleanerNet",
    "bf16_is_fast",
    "load_model",
    "local_contrast",
    "save_model",
]


@dataclass(frozen=True)
class CleanerConfig:
    """Architecture hyper-parameters (stored next to the weights as JSON)."""

    #: Pixel-unshuffle factor of the first layer.
    block: int = 4
    #: Channels per level, finest first.
    channels: tuple[int, ...] = (64, 128, 160)
    #: Residual blocks per encoder level.
    blocks: tuple[int, ...] = (2, 2, 2)
    #: Residual blocks per decoder level (all but the coarsest).
    decoder_blocks: int = 1
    #: Also feed the head the locally contrast-stretched input (see the module notes).
    contrast_input: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CleanerConfig:
        return cls(
            block=int(data["block"]),
            channels=tuple(int(c) for c in data["channels"]),
            blocks=tuple(int(b) for b in data["blocks"]),
            decoder_blocks=int(data["decoder_blocks"]),
            contrast_input=bool(data.get("contrast_input", False)),
        )


class _ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class CleanerNet(nn.Module):
    """The cleaner U-Net: N×1×H×W gray in [0, 1] -> N×1×H×W restored gray.

    The output is not clamped (training needs the gradient); callers clamp.
    """

    def __init__(self, config: CleanerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CleanerConfig()
        if len(config.channels) != len(config.blocks) or not config.channels:
            raise ValueError("channels and blocks need one entry per level")
        b, c = config.block, config.channels
        self.unshuffle = nn.PixelUnshuffle(b)
        inputs = 2 * b * b if config.contrast_input else b * b
        self.head = nn.Conv2d(inputs, c[0], 3, padding=1)
        self.encoders = nn.ModuleList(
            nn.Sequential(*[_ResBlock(ch) for _ in range(n)])
            for ch, n in zip(c, config.blocks, strict=True)
        )
        self.downs = nn.ModuleList(
            nn.Conv2d(c[i], c[i + 1], 2, stride=2) for i in range(len(c) - 1)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c[i + 1], c[i] * 4, 1), nn.PixelShuffle(2))
            for i in range(len(c) - 1)
        )
        self.decoders = nn.ModuleList(
            nn.Sequential(*[_ResBlock(c[i]) for _ in range(config.decoder_blocks)])
            for i in range(len(c) - 1)
        )
        self.tail = nn.Conv2d(c[0], b * b, 3, padding=1)
        self.shuffle = nn.PixelShuffle(b)
        # Start near the identity: the correction is zero until trained.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (the forward pass pads to it)."""
        return self.config.block * 2 ** (len(self.config.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            # Reflection needs the pad to be smaller than the side; replicate otherwise.
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = self.forward_aligned(x)
        return out[..., :h, :w] if ph or pw else out

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on an input whose sides are multiples of :attr:`multiple`
        (no padding): the graph exported to ONNX, whose callers pad as
        :meth:`forward` does (reflect, or replicate when the pad is not smaller
        than the side, at the bottom and right)."""
        blocks = self.unshuffle(x - 0.5)
        if self.config.contrast_input:
            blocks = torch.cat([blocks, local_contrast(blocks)], dim=1)
        y = self.head(blocks)
        skips = []
        for i, encoder in enumerate(self.encoders):
            y = encoder(y)
            if i < len(self.downs):
                skips.append(y)
                y = self.downs[i](y)
        for i in reversed(range(len(self.ups))):
            y = self.decoders[i](self.ups[i](y) + skips[i])
        return x + self.shuffle(self.tail(y))


#: Half-width, in blocks, of the neighbourhood :func:`local_contrast` measures.
CONTRAST_RADIUS = 6
#: Least ink-to-paper range it stretches to full range (noise on blank paper stays low).
CONTRAST_FLOOR = 0.15


def local_contrast(blocks: torch.Tensor) -> torch.Tensor:
    """Unshuffled blocks (N×B²×h×w, values centred on 0) stretched so that the darkest
    value of each (2r+1)-block neighbourhood maps to -0.5 and the brightest to +0.5.

    Min and max over a block come from its B² channels; the neighbourhood extrema
    are two separable max-pools, cheap at 1/B of the resolution.
    """
    k, r = 2 * CONTRAST_RADIUS + 1, CONTRAST_RADIUS
    high = blocks.amax(1, keepdim=True)
    low = blocks.amin(1, keepdim=True)

    def pooled_max(t: torch.Tensor) -> torch.Tensor:
        t = F.max_pool2d(t, (1, k), stride=1, padding=(0, r))
        return F.max_pool2d(t, (k, 1), stride=1, padding=(r, 0))

    high, low = pooled_max(high), -pooled_max(-low)
    stretched = (blocks - low) / (high - low).clamp(min=CONTRAST_FLOOR)
    return stretched.clamp(0.0, 1.0) - 0.5


def bf16_is_fast() -> bool:
    """True when this CPU computes bfloat16 convolutions natively (AMX or
    AVX512-BF16) and torch's oneDNN backend can use them: there, bf16 autocast runs
    the cleaner several times faster than float32. Elsewhere bf16 is emulated and
    slower, so float32 is used."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except (OSError, AttributeError, RuntimeError):
        return False
    words = set(flags.split())
    return "amx_bf16" in words or "avx512_bf16" in words


@dataclass
class ModelFiles:
    """Paths of a saved model: weights and JSON metadata."""

    weights: Path
    config: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def save_model(
    model: CleanerNet, weights: Path, *, metadata: dict[str, Any] | None = None
) -> ModelFiles:
    """Write ``model`` as safetensors at ``weights`` and its config (plus
    ``metadata``) as JSON beside it (same stem, ``.json``).

    Tensors are stored as float16, half the size of float32; rounding the weights
    to 11 significant bits changes the output far less than the bfloat16
    arithmetic used on CPUs that have it. :func:`load_model` returns float32.
    """
    from safetensors.torch import save_file

    weights = Path(weights)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
    }
    save_file(state, str(weights), metadata={"format": "pt", "model": "tair-ocr cleaner"})
    config_path = weights.with_suffix(".json")
    data = {"architecture": model.config.to_json(), **(metadata or {})}
    config_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return ModelFiles(weights, config_path, data)


def load_model(weights: Path) -> tuple[CleanerNet, dict[str, Any]]:
    """Load a model saved by :func:`save_model`; returns it (in eval mode, on the
    CPU) and the JSON metadata."""
    from safetensors.torch import load_file

    weights = Path(weights)
    data = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    model = CleanerNet(CleanerConfig.from_json(data["architecture"]))
    # Stored as float16; load_state_dict copies into the float32 parameters.
    model.load_state_dict(load_file(str(weights)))
    model.eval()
    return model, data
