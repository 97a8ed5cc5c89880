"""Tiny TeReDiff models with random weights, for tests and plumbing benchmarks only.

The runtime (:mod:`tair_ocr`) never uses this module: the restorer loads converted published weights
or fails with :class:`~tair_ocr.errors.WeightsNotFoundError`. Here every component
keeps the published *architecture* (same classes, same wiring, 4 U-Net levels, 4
spotter levels, 16 control points, 25 characters, 97 classes) with tiny widths, so a
whole 512×512 tile runs through all of it on a CPU in about a second.

The tokenizer is a real :class:`transformers.CLIPTokenizer` over a tiny byte-level
BPE vocabulary written by :func:`write_tiny_clip_tokenizer` (the 512 byte symbols, a
few merges, the start/end tokens), so the loading path is the product's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tair_ocr.models.configs import PUBLISHED_CONFIGS, build_component

__all__ = [
    "TINY_CONFIGS",
    "build_tiny_pipeline",
    "save_tiny_pipeline",
    "write_tiny_clip_tokenizer",
]

_TINY_UNET: dict[str, Any] = {
    **PUBLISHED_CONFIGS["unet"],
    # Cross-attention (the prompt path) on the 16² level only: full-resolution
    # attention dominates CPU time and adds no coverage.
    "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    "block_out_channels": [8, 16, 16, 16],
    "attention_head_dim": [2, 2, 2, 2],
    "layers_per_block": 1,
    "cross_attention_dim": 16,
    "norm_num_groups": 4,
}

#: Tiny configurations of every component (the scheduler is the published one).
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "cleaner": {
        "img_size": 64,
        "embed_dim": 12,
        "depths": [2],
        "num_heads": [2],
        "window_size": 8,
        "mlp_ratio": 2.0,
        "unshuffle_scale": 8,
        "num_feat": 8,
    },
    "vae": {
        **PUBLISHED_CONFIGS["vae"],
        "block_out_channels": [8, 8, 16, 16],
        "layers_per_block": 1,
        "norm_num_groups": 4,
    },
    "unet": _TINY_UNET,
    "controlnet": {
        "down_block_types": _TINY_UNET["down_block_types"],
        "block_out_channels": _TINY_UNET["block_out_channels"],
        "layers_per_block": 1,
        "attention_head_dim": _TINY_UNET["attention_head_dim"],
        "cross_attention_dim": 16,
        "norm_num_groups": 4,
    },
    "text_encoder": {
        **PUBLISHED_CONFIGS["text_encoder"],
        "vocab_size": 520,
        "hidden_size": 16,
        "intermediate_size": 32,
        "projection_dim": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "bos_token_id": 515,
        "eos_token_id": 516,
    },
    "spotter": {
        # Channels of the four tapped decoder levels of the tiny U-Net.
        "feature_channels": [16, 16, 16, 8],
        "d_model": 16,
        "n_heads": 2,
        "num_encoder_layers": 1,
        "num_decoder_layers": 2,
        "dim_feedforward": 32,
        "enc_n_points": 2,
        "dec_n_points": 2,
        "num_proposals": 8,
        "num_ctrl_points": 16,
        "max_text_len": 25,
        "voc_size": 96,
        "proj_groups": 4,
    },
    "scheduler": PUBLISHED_CONFIGS["scheduler"],
}


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins GPT-2/CLIP BPE uses for bytes, in CLIP's order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]


def write_tiny_clip_tokenizer(folder: str | Path) -> Path:
    """Write a tiny CLIP BPE vocabulary (``vocab.json``, ``merges.txt``) to ``folder``.

    517 tokens: the 256 byte symbols, the same with the end-of-word mark, three
    merges, ``<|startoftext|>`` (515) and ``<|endoftext|>`` (516). ``"!"`` is id 0,
    the pad token, as in OpenCLIP.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = _byte_symbols()
    merges = ["t h", "th e</w>", "a n"]
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += [m.replace(" ", "") for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


def _randomise_zeros(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Give zero-initialised tensors (ControlNet zero convs, biases) random values, so
    every path of a tiny random model carries signal in tests."""
    with torch.no_grad():
        for param in module.parameters():
            if not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


def build_tiny_pipeline(tokenizer_folder: str | Path, seed: int = 0) -> Any:
    """A :class:`TeReDiffPipeline` of tiny random components (CPU, float32)."""
    from tair_ocr.models.pipeline_terediff import TeReDiffPipeline
    from tair_ocr.models.text_encoder import load_tokenizer

    parts: dict[str, Any] = {}
    for index, (name, config) in enumerate(TINY_CONFIGS.items()):
        torch.manual_seed(seed * 100 + index)
        part = build_component(name, config)
        if isinstance(part, torch.nn.Module):
            _randomise_zeros(part, torch.Generator().manual_seed(seed * 100 + index))
            part.eval().requires_grad_(False)
        parts[name] = part
    parts["tokenizer"] = load_tokenizer(write_tiny_clip_tokenizer(tokenizer_folder))
    return TeReDiffPipeline(**parts)


def save_tiny_pipeline(folder: str | Path, seed: int = 0) -> Path:
    """Save a tiny random pipeline as a weights folder (for end-to-end plumbing tests)."""
    import tempfile

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tokenizer_folder:
        build_tiny_pipeline(tokenizer_folder, seed=seed).save_pretrained(folder)
    return folder
