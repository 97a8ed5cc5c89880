"""From the published checkpoint names to this package's module names.

The released TeReDiff files use ldm/OpenCLIP names (``input_blocks.4.1.proj_in``,
``transformer.resblocks.3.attn.in_proj_weight``). Our U-Net, VAE and ControlNet are
built from diffusers blocks and the text encoder is ``transformers.CLIPTextModel``,
so their names differ; the cleaner (SwinIR) and the spotter (TESTR) keep the
published names. This module is the single place that knows the renaming. It is pure
(strings and tensor slicing), so the converter and the tests share it.

Source sections (see ``shared/reference/terediff-manifest.json``):

==========================  ==================================================
``terediff_stage3.cldm``    ``unet.*``, ``vae.*``, ``clip.model.*``, ``controlnet.*``
``terediff_stage3.swinir``  SwinIR keys (same names as ours)
``terediff_stage3.testr``   ``testr.*`` (ours without the ``testr.`` prefix)
``sd21_ldm``                ``model.diffusion_model.*``, ``first_stage_model.*``,
                            ``cond_stage_model.model.*``
``controlnet_diffbir_v21``  bare ControlNet keys
``swinir_realesrgan_s4``    SwinIR keys
==========================  ==================================================

The renaming rules are the well-known ldm → diffusers ones (diffusers'
``convert_ldm_unet_checkpoint`` and friends, used as a test oracle, never imported
here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "PUBLISHED_LAYOUT",
    "SOURCE_SECTIONS",
    "CheckpointLayout",
    "Target",
    "convert_state_dict",
    "layout_from_configs",
    "map_clip_key",
    "map_controlnet_key",
    "map_key",
    "map_unet_key",
    "map_vae_key",
]


@dataclass(frozen=True)
class Target:
    """Where one published tensor (or a slice of it) goes.

    :ivar component: ``cleaner``, ``vae``, ``unet``, ``controlnet``,
        ``text_encoder`` or ``spotter``.
    :ivar key: state-dict key in that component.
    :ivar chunk: ``(index, count)``: take chunk ``index`` of ``count`` equal chunks
        along dim 0 (OpenCLIP's fused q/k/v projection).
    :ivar squeeze: drop trailing singleton dims (ldm VAE attention 1×1 convs →
        diffusers Linear).
    """

    component: str
    key: str
    chunk: tuple[int, int] | None = None
    squeeze: bool = False

    def take(self, tensor: torch.Tensor) -> torch.Tensor:
        """Apply the chunk/squeeze rule to ``tensor`` (works on meta tensors)."""
        if self.chunk is not None:
            index, count = self.chunk
            tensor = tensor.chunk(count, dim=0)[index]
        if self.squeeze:
            while tensor.dim() > 2 and tensor.shape[-1] == 1:
                tensor = tensor[..., 0]
        return tensor


@dataclass(frozen=True)
class CheckpointLayout:
    """The few architecture numbers the renaming depends on (published by default).

    :ivar layers_per_block: U-Net/ControlNet encoder ResNets per level.
    :ivar up_attention: whether each U-Net decoder level has attention.
    :ivar vae_levels: VAE resolution levels (the ldm decoder counts them backwards).
    :ivar clip_layers: text-encoder blocks used (later published blocks are dropped).
    """

    layers_per_block: int = 2
    up_attention: tuple[bool, ...] = (False, True, True, True)
    vae_levels: int = 4
    clip_layers: int = 23


#: The published TeReDiff layout (SD-2.1-base, OpenCLIP ViT-H penultimate layer).
PUBLISHED_LAYOUT = CheckpointLayout()


def layout_from_configs(configs: Mapping[str, Mapping[str, Any]]) -> CheckpointLayout:
    """The layout of models built from ``configs`` (component name → config), e.g.
    :data:`~tair_ocr.models.configs.PUBLISHED_CONFIGS` or a smaller test configuration."""
    unet = configs["unet"]
    return CheckpointLayout(
        layers_per_block=int(unet["layers_per_block"]),
        up_attention=tuple("CrossAttn" in t for t in unet["up_block_types"]),
        vae_levels=len(configs["vae"]["block_out_channels"]),
        clip_layers=int(configs["text_encoder"]["num_hidden_layers"]),
    )


# --------------------------------------------------------------------------- U-Net

_RESNET = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


def _resnet(rest: str) -> str:
    for old, new in _RESNET.items():
        if rest == old or rest.startswith(old + "."):
            return new + rest[len(old) :]
    raise KeyError(rest)


def _encoder_key(key: str, layers_per_block: int) -> str | None:
    """Keys shared by the U-Net and the ControlNet encoder (None: not an encoder key)."""
    if m := re.fullmatch(r"time_embed\.([02])\.(weight|bias)", key):
        return f"time_embedding.linear_{1 if m[1] == '0' else 2}.{m[2]}"
    if m := re.fullmatch(r"input_blocks\.0\.0\.(weight|bias)", key):
        return f"conv_in.{m[1]}"
    if m := re.fullmatch(r"input_blocks\.(\d+)\.(\d+)\.(.+)", key):
        index, part, rest = int(m[1]), int(m[2]), m[3]
        level, j = divmod(index - 1, layers_per_block + 1)
        if j == layers_per_block:  # the downsampler closing a level
            if not rest.startswith("op."):
                raise KeyError(key)
            return f"down_blocks.{level}.downsamplers.0.conv.{rest[3:]}"
        if part == 0:
            return f"down_blocks.{level}.resnets.{j}.{_resnet(rest)}"
        return f"down_blocks.{level}.attentions.{j}.{rest}"
    if m := re.fullmatch(r"middle_block\.([012])\.(.+)", key):
        part, rest = int(m[1]), m[2]
        if part == 1:
            return f"mid_block.attentions.0.{rest}"
        return f"mid_block.resnets.{part // 2}.{_resnet(rest)}"
    return None


def map_unet_key(
    key: str,
    *,
    layers_per_block: int = 2,
    up_attention: tuple[bool, ...] = (False, True, True, True),
) -> str:
    """ldm ``UNetModel`` key (no prefix) → ``diffusers.UNet2DConditionModel`` key.

    :param layers_per_block: encoder ResNets per level (decoder has one more).
    :param up_attention: whether each decoder level has attention (SD-2.1: the
        first, lowest-resolution level has none).
    :raises KeyError: for a key the layout does not have.
    """
    if (new := _encoder_key(key, layers_per_block)) is not None:
        return new
    if m := re.fullmatch(r"output_blocks\.(\d+)\.(\d+)\.(.+)", key):
        index, part, rest = int(m[1]), int(m[2]), m[3]
        level, j = divmod(index, layers_per_block + 1)
        if part == 0:
            return f"up_blocks.{level}.resnets.{j}.{_resnet(rest)}"
        if part == 1 and up_attention[level]:
            return f"up_blocks.{level}.attentions.{j}.{rest}"
        # Upsampler: part 1 on levels without attention, part 2 otherwise.
        if rest.startswith("conv.") and j == layers_per_block:
            return f"up_blocks.{level}.upsamplers.0.{rest}"
        raise KeyError(key)
    if m := re.fullmatch(r"out\.([02])\.(weight|bias)", key):
        return f"{'conv_norm_out' if m[1] == '0' else 'conv_out'}.{m[2]}"
    raise KeyError(key)


def map_controlnet_key(key: str, *, layers_per_block: int = 2) -> str:
    """DiffBIR ControlNet key (no prefix) → :class:`LatentControlNet` key."""
    if (new := _encoder_key(key, layers_per_block)) is not None:
        return new
    if m := re.fullmatch(r"zero_convs\.(\d+)\.0\.(weight|bias)", key):
        return f"controlnet_down_blocks.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"middle_block_out\.0\.(weight|bias)", key):
        return f"controlnet_mid_block.{m[1]}"
    raise KeyError(key)


# --------------------------------------------------------------------------- VAE

_VAE_ATTENTION = {
    "norm": "group_norm",
    "q": "to_q",
    "k": "to_k",
    "v": "to_v",
    "proj_out": "to_out.0",
}


def _vae_resnet(rest: str) -> str:
    return rest.replace("nin_shortcut", "conv_shortcut")


def map_vae_key(key: str, *, num_levels: int = 4) -> tuple[str, bool]:
    """ldm ``AutoencoderKL`` key (no prefix) → (diffusers key, squeeze 1×1 conv)."""
    if key.split(".")[0] in ("quant_conv", "post_quant_conv"):
        return key, False
    if m := re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out|norm_out)\.(.+)", key):
        name = "conv_norm_out" if m[2] == "norm_out" else m[2]
        return f"{m[1]}.{name}.{m[3]}", False
    if m := re.fullmatch(r"(encoder|decoder)\.mid\.block_([12])\.(.+)", key):
        return f"{m[1]}.mid_block.resnets.{int(m[2]) - 1}.{_vae_resnet(m[3])}", False
    if m := re.fullmatch(
        r"(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)", key
    ):
        return f"{m[1]}.mid_block.attentions.0.{_VAE_ATTENTION[m[2]]}.{m[3]}", m[2] != "norm"
    if m := re.fullmatch(r"encoder\.down\.(\d+)\.block\.(\d+)\.(.+)", key):
        return f"encoder.down_blocks.{m[1]}.resnets.{m[2]}.{_vae_resnet(m[3])}", False
    if m := re.fullmatch(r"encoder\.down\.(\d+)\.downsample\.conv\.(.+)", key):
        return f"encoder.down_blocks.{m[1]}.downsamplers.0.conv.{m[2]}", False
    # The ldm decoder numbers its levels from the lowest resolution up; diffusers
    # numbers them in execution order.
    if m := re.fullmatch(r"decoder\.up\.(\d+)\.block\.(\d+)\.(.+)", key):
        level = num_levels - 1 - int(m[1])
        return f"decoder.up_blocks.{level}.resnets.{m[2]}.{_vae_resnet(m[3])}", False
    if m := re.fullmatch(r"decoder\.up\.(\d+)\.upsample\.conv\.(.+)", key):
        level = num_levels - 1 - int(m[1])
        return f"decoder.up_blocks.{level}.upsamplers.0.conv.{m[2]}", False
    raise KeyError(key)


# --------------------------------------------------------------------------- CLIP

_CLIP_LAYER = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


def map_clip_key(key: str, *, num_layers: int = 23) -> list[Target]:
    """OpenCLIP text-tower key (no prefix) → ``CLIPTextModel`` targets.

    Returns ``[]`` for tensors the penultimate-layer encoder does not use (blocks
    ≥ ``num_layers``, ``text_projection``, ``logit_scale``) and three targets for the
    fused ``in_proj`` q/k/v.
    """
    if key in ("text_projection", "logit_scale"):
        return []
    if key == "token_embedding.weight":
        return [Target("text_encoder", "embeddings.token_embedding.weight")]
    if key == "positional_embedding":
        return [Target("text_encoder", "embeddings.position_embedding.weight")]
    if m := re.fullmatch(r"ln_final\.(weight|bias)", key):
        return [Target("text_encoder", f"final_layer_norm.{m[1]}")]
    if m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)", key):
        layer, name, kind = int(m[1]), m[2], m[3]
        if layer >= num_layers:
            return []
        return [Target("text_encoder", f"encoder.layers.{layer}.{_CLIP_LAYER[name]}.{kind}")]
    if m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)", key):
        layer, kind = int(m[1]), m[2]
        if layer >= num_layers:
            return []
        prefix = f"encoder.layers.{layer}.self_attn"
        return [
            Target("text_encoder", f"{prefix}.{proj}_proj.{kind}", chunk=(i, 3))
            for i, proj in enumerate("qkv")
        ]
    raise KeyError(key)


# --------------------------------------------------------------------------- sections

#: The published files and sections :func:`map_key` understands.
SOURCE_SECTIONS: tuple[str, ...] = (
    "terediff_stage3.cldm",
    "terediff_stage3.swinir",
    "terediff_stage3.testr",
    "sd21_ldm",
    "controlnet_diffbir_v21",
    "swinir_realesrgan_s4",
)


def map_key(section: str, key: str, layout: CheckpointLayout = PUBLISHED_LAYOUT) -> list[Target]:
    """Targets of one published key. ``[]`` means intentionally unused.

    :param section: one of :data:`SOURCE_SECTIONS`.
    :param layout: the architecture numbers (default: the published ones).
    :raises KeyError: for a key this layout does not expect (a wrong or newer file).
    """
    lpb = layout.layers_per_block
    if section in ("terediff_stage3.swinir", "swinir_realesrgan_s4"):
        return [Target("cleaner", key.removeprefix("module."))]
    if section == "terediff_stage3.testr":
        if not key.startswith("testr."):
            raise KeyError(key)
        return [Target("spotter", key.removeprefix("testr."))]
    if section == "controlnet_diffbir_v21":
        return [Target("controlnet", map_controlnet_key(key, layers_per_block=lpb))]
    if section == "terediff_stage3.cldm":
        prefixes = {
            "unet.": "unet",
            "vae.": "vae",
            "clip.model.": "clip",
            "controlnet.": "controlnet",
        }
    elif section == "sd21_ldm":
        prefixes = {
            "model.diffusion_model.": "unet",
            "first_stage_model.": "vae",
            "cond_stage_model.model.": "clip",
        }
    else:
        raise ValueError(f"unknown checkpoint section {section!r}; known: {SOURCE_SECTIONS}")
    for prefix, part in prefixes.items():
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if part == "unet":
                unet_key = map_unet_key(
                    rest, layers_per_block=lpb, up_attention=layout.up_attention
                )
                return [Target("unet", unet_key)]
            if part == "controlnet":
                return [Target("controlnet", map_controlnet_key(rest, layers_per_block=lpb))]
            if part == "vae":
                new, squeeze = map_vae_key(rest, num_levels=layout.vae_levels)
                return [Target("vae", new, squeeze=squeeze)]
            return map_clip_key(rest, num_layers=layout.clip_layers)
    raise KeyError(key)


def convert_state_dict(
    section: str,
    tensors: Mapping[str, torch.Tensor],
    layout: CheckpointLayout = PUBLISHED_LAYOUT,
) -> dict[str, dict[str, torch.Tensor]]:
    """Rename one published state dict into per-component state dicts.

    Tied aliases of the spotter arrive under every published name and are kept under
    every one of ours (the loader accepts either). Unused tensors are dropped.

    :raises KeyError: naming every key the layout does not know.
    """
    out: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in tensors.items():
        try:
            targets = map_key(section, key, layout)
        except KeyError:
            unknown.append(key)
            continue
        for target in targets:
            out.setdefault(target.component, {})[target.key] = target.take(tensor)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise KeyError(f"{len(unknown)} unexpected keys in {section}: {shown}")
    return out
