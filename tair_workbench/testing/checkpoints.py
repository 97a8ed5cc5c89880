"""Synthetic checkpoints in the *published* layout, for converter tests and benchmarks.

The inverse of :mod:`tair_workbench.conversion.key_mapping`, written independently of
it: our modules' state dicts are renamed back to the ldm/OpenCLIP names of the released files
(``input_blocks.4.1.proj_in``, fused ``attn.in_proj_weight``, 1×1-conv VAE attention)
and saved in the released containers (``{"cldm", "swinir", "testr"}``,
``{"state_dict": ...}``, a bare ControlNet dict, a ``module.``-prefixed SwinIR dict).
Converting these files must give back the modules they came from.

The runtime (:mod:`tair_ocr`) never uses this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tair_ocr.models.configs import build_component

__all__ = [
    "published_checkpoints",
    "random_components",
    "write_published_checkpoints",
]

MODEL_COMPONENTS = ("cleaner", "vae", "unet", "controlnet", "text_encoder", "spotter")

_RESNET_BACK = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def random_components(
    configs: Mapping[str, Mapping[str, Any]], seed: int = 0
) -> dict[str, torch.nn.Module]:
    """The model components of ``configs`` with seeded random weights; zero-initialised
    tensors (ControlNet zero convs, biases) get random values too, so that a tensor
    landing in the wrong place changes the output."""
    parts = {}
    for index, name in enumerate(MODEL_COMPONENTS):
        torch.manual_seed(seed * 100 + index)
        module = build_component(name, dict(configs[name])).eval().requires_grad_(False)
        generator = torch.Generator().manual_seed(seed * 100 + index)
        for param in module.parameters():
            if not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
        parts[name] = module
    return parts


def _resnet_back(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_RESNET_BACK[name]}.{tail}"


def _encoder_back(key: str, lpb: int) -> str | None:
    """Our U-Net/ControlNet encoder key → ldm key (None: not an encoder key)."""
    if m := re.fullmatch(r"time_embedding\.linear_([12])\.(.+)", key):
        return f"time_embed.{0 if m[1] == '1' else 2}.{m[2]}"
    if m := re.fullmatch(r"conv_in\.(.+)", key):
        return f"input_blocks.0.0.{m[1]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        index = 1 + int(m[1]) * (lpb + 1) + int(m[3])
        if m[2] == "resnets":
            return f"input_blocks.{index}.0.{_resnet_back(m[4])}"
        return f"input_blocks.{index}.1.{m[4]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * (lpb + 1) + lpb}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"mid_block\.resnets\.([01])\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet_back(m[2])}"
    return None


def _unet_back(key: str, lpb: int, up_attention: Sequence[bool]) -> str:
    if (old := _encoder_back(key, lpb)) is not None:
        return old
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        index = int(m[1]) * (lpb + 1) + int(m[3])
        if m[2] == "resnets":
            return f"output_blocks.{index}.0.{_resnet_back(m[4])}"
        return f"output_blocks.{index}.1.{m[4]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        level = int(m[1])
        part = 2 if up_attention[level] else 1
        return f"output_blocks.{level * (lpb + 1) + lpb}.{part}.conv.{m[2]}"
    if m := re.fullmatch(r"conv_(norm_out|out)\.(.+)", key):
        return f"out.{0 if m[1] == 'norm_out' else 2}.{m[2]}"
    raise KeyError(key)


def _controlnet_back(key: str, lpb: int) -> str:
    if (old := _encoder_back(key, lpb)) is not None:
        return old
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(.+)", key):
        return f"zero_convs.{m[1]}.0.{m[2]}"
    if m := re.fullmatch(r"controlnet_mid_block\.(.+)", key):
        return f"middle_block_out.0.{m[1]}"
    raise KeyError(key)


_VAE_ATTENTION_BACK = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _vae_back(key: str, tensor: torch.Tensor, levels: int) -> tuple[str, torch.Tensor]:
    key = key.replace("conv_shortcut", "nin_shortcut")
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        name = _VAE_ATTENTION_BACK[m[2]]
        if name != "norm" and m[3] == "weight":
            tensor = tensor[:, :, None, None]  # Linear → 1×1 conv
        return f"{m[1]}.mid.attn_1.{name}.{m[3]}", tensor
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.([01])\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}", tensor
    if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out\.(.+)", key):
        return f"{m[1]}.norm_out.{m[2]}", tensor
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}", tensor
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}", tensor
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{m[3]}", tensor
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}", tensor
    return key, tensor  # conv_in/conv_out, quant_conv, post_quant_conv


_CLIP_BACK = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _clip_back(state: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Our 23-of-24-layer ``CLIPTextModel`` → the full OpenCLIP text tower: fused q/k/v,
    plus the block, projection and logit scale the penultimate-layer encoder skips
    (random)."""
    out: dict[str, torch.Tensor] = {
        "token_embedding.weight": state["embeddings.token_embedding.weight"],
        "positional_embedding": state["embeddings.position_embedding.weight"],
        "ln_final.weight": state["final_layer_norm.weight"],
        "ln_final.bias": state["final_layer_norm.bias"],
    }
    layers = sorted({int(m[1]) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
    for layer in layers:
        prefix, old = f"encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            out[f"{old}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{prefix}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            )
        for key, tensor in state.items():
            module, _, kind = key.removeprefix(prefix).rpartition(".")
            if key.startswith(prefix) and module in _CLIP_BACK:
                out[f"{old}{_CLIP_BACK[module]}.{kind}"] = tensor
    generator = torch.Generator().manual_seed(seed)
    unused = len(layers)
    for key in [k for k in out if k.startswith("transformer.resblocks.0.")]:
        extra = key.replace("resblocks.0.", f"resblocks.{unused}.")
        out[extra] = torch.randn(out[key].shape, generator=generator)
    width = state["final_layer_norm.weight"].shape[0]
    out["text_projection"] = torch.randn(width, width, generator=generator)
    out["logit_scale"] = torch.tensor(4.6052)
    return out


def published_checkpoints(
    components: Mapping[str, torch.nn.Module],
    configs: Mapping[str, Mapping[str, Any]],
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The four published files (role → object to ``torch.save``) for ``components``.

    ``sd`` holds U-Net, VAE and text tower (plus two schedule buffers the loader
    ignores), ``diffbir`` the ControlNet, ``swinir`` the cleaner (wrapped and
    ``module.``-prefixed), ``terediff`` all of them in the stage-3 layout.
    """
    unet_config = configs["unet"]
    lpb = int(unet_config["layers_per_block"])
    up_attention = [("CrossAttn" in t) for t in unet_config["up_block_types"]]
    levels = len(configs["vae"]["block_out_channels"])

    def state(name: str) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in components[name].state_dict().items()}

    unet = {_unet_back(k, lpb, up_attention): v for k, v in state("unet").items()}
    vae = dict(_vae_back(k, v, levels) for k, v in state("vae").items())
    clip = _clip_back(state("text_encoder"), seed)
    controlnet = {_controlnet_back(k, lpb): v for k, v in state("controlnet").items()}
    cleaner = state("cleaner")
    testr = {f"testr.{k}": v for k, v in state("spotter").items()}

    def prefixed(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {prefix + k: v for k, v in tensors.items()}

    sd = {
        **prefixed("model.diffusion_model.", unet),
        **prefixed("first_stage_model.", vae),
        **prefixed("cond_stage_model.model.", clip),
        "betas": torch.linspace(1e-4, 2e-2, 1000),
        "alphas_cumprod": torch.cumprod(1 - torch.linspace(1e-4, 2e-2, 1000), 0),
    }
    cldm = {
        **prefixed("unet.", unet),
        **prefixed("vae.", vae),
        **prefixed("clip.model.", clip),
        **prefixed("controlnet.", controlnet),
    }
    return {
        "sd": {"state_dict": sd, "global_step": 1},
        "diffbir": controlnet,
        "swinir": {"state_dict": prefixed("module.", cleaner)},
        "terediff": {"cldm": cldm, "swinir": cleaner, "testr": testr},
    }


FILE_NAMES = {
    "sd": "sd2.1-base-zsnr-laionaes5.ckpt",
    "diffbir": "DiffBIR_v2.1.pt",
    "swinir": "realesrgan_s4_swinir_100k.pth",
    "terediff": "terediff_stage3.pt",
}


def write_published_checkpoints(
    folder: str | Path,
    components: Mapping[str, torch.nn.Module],
    configs: Mapping[str, Mapping[str, Any]],
    *,
    roles: Sequence[str] = ("sd", "diffbir", "swinir", "terediff"),
    seed: int = 0,
) -> dict[str, Path]:
    """Save :func:`published_checkpoints` under the published file names; role → path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = published_checkpoints(components, configs, seed=seed)
    paths = {}
    for role in roles:
        paths[role] = folder / FILE_NAMES[role]
        torch.save(files[role], paths[role])
    return paths
