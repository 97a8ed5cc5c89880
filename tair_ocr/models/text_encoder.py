"""TeReDiff's text encoder: the OpenCLIP ViT-H/14 text tower, penultimate layer.

TeReDiff (like SD-2.x) conditions on the hidden states *after 23 of the 24*
transformer blocks of OpenCLIP's text tower, followed by its final LayerNorm: one
1024-d vector per token, 77 tokens. With :class:`transformers.CLIPTextModel` this is
a 23-layer model whose ``last_hidden_state`` (final LayerNorm included) is exactly that
output; block 23, ``text_projection`` and ``logit_scale`` of the published file are
never used and are not built (see the workbench's checkpoint converter,
``tair_workbench.conversion.key_mapping``).

Tokenizer: OpenCLIP's is the CLIP byte-level BPE (lower-cased, start 49406, end
49407, padded with id 0 = ``"!"``, truncated to 77 with the end token kept). That is
:class:`transformers.CLIPTokenizer` with ``pad_token="!"``, read from the model
folder's ``tokenizer/`` subfolder (``vocab.json`` + ``merges.txt``, or a saved
``tokenizer.json``). Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

__all__ = [
    "MAX_TOKENS",
    "encode_prompts",
    "load_tokenizer",
    "openclip_vit_h_text_config",
]

#: Context length of the text tower.
MAX_TOKENS = 77


def openclip_vit_h_text_config() -> CLIPTextConfig:
    """The published text tower as a 23-layer ``CLIPTextConfig`` (penultimate output)."""
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=1024,
        intermediate_size=4096,
        projection_dim=1024,
        num_hidden_layers=23,
        num_attention_heads=16,
        max_position_embeddings=MAX_TOKENS,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        pad_token_id=0,
        bos_token_id=49406,
        eos_token_id=49407,
    )


def load_tokenizer(folder: str | Path) -> CLIPTokenizer:
    """Load the CLIP BPE tokenizer saved in ``folder`` (no network).

    :raises FileNotFoundError: when the folder holds neither ``tokenizer.json`` nor
        ``vocab.json`` + ``merges.txt``.
    """
    folder = Path(folder)
    has_fast = (folder / "tokenizer.json").is_file()
    has_bpe = (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    if not (has_fast or has_bpe):
        raise FileNotFoundError(
            f"no CLIP tokenizer files in {folder} (need tokenizer.json, or vocab.json + merges.txt)"
        )
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tokenizer.pad_token != "!":
        # OpenCLIP pads with id 0 ("!"); SD-2's tokenizer config says the same.
        tokenizer.pad_token = "!"
    return tokenizer


def encode_prompts(
    prompts: list[str],
    tokenizer: CLIPTokenizer,
    text_encoder: CLIPTextModel,
    *,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Encode ``prompts`` to text states B×77×hidden (no attention mask: OpenCLIP
    uses only the causal mask, padding included)."""
    length = text_encoder.config.max_position_embeddings
    ids = tokenizer(
        prompts, padding="max_length", max_length=length, truncation=True, return_tensors="pt"
    ).input_ids
    out = text_encoder(input_ids=ids.to(device), return_dict=True)
    return out.last_hidden_state.to(dtype)
