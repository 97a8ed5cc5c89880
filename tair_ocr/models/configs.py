"""The published TeReDiff configuration, as data, and a builder for its components.

Every number here comes from ``shared/reference/terediff-facts.md`` (the released
configs of cvlab-kaist/TAIR at 5f0365f): SD-2.1-base U-Net and VAE, the OpenCLIP
ViT-H text tower (penultimate layer), DiffBIR v2.1's latent ControlNet, the SwinIR
cleaner and the TESTR spotter on U-Net features.

:func:`build_components` turns a set of configs into modules; with
``torch.device("meta")`` as context it allocates nothing, which is how the manifest
test checks the published shapes.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

__all__ = [
    "COMPONENT_CLASSES",
    "PUBLISHED_CONFIGS",
    "build_component",
    "build_components",
    "controlnet_config_from_unet",
]

#: SD-2.1-base U-Net (ldm naming in the checkpoint; diffusers layout here).
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    # diffusers' historical misnomer: these are numbers of heads (64 channels each).
    "attention_head_dim": [5, 10, 20, 20],
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "downsample_padding": 1,
    "upcast_attention": False,
}

#: SD KL-f8 autoencoder; the condition latent is its posterior mode × 0.18215.
VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

#: OpenCLIP ViT-H/14 text tower up to its penultimate block (CLIPTextConfig kwargs).
TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "projection_dim": 1024,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "pad_token_id": 0,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
}

#: SwinIR cleaner (``realesrgan_s4_swinir_100k``).
SWINIR_CONFIG: dict[str, Any] = {
    "img_size": 64,
    "in_chans": 3,
    "embed_dim": 180,
    "depths": [6] * 8,
    "num_heads": [6] * 8,
    "window_size": 8,
    "mlp_ratio": 2.0,
    "unshuffle_scale": 8,
    "num_feat": 64,
}

#: TESTR on U-Net decoder features (TeReDiff's spotter).
SPOTTER_CONFIG: dict[str, Any] = {
    "feature_channels": [1280, 1280, 640, 320],
    "d_model": 256,
    "n_heads": 8,
    "num_encoder_layers": 6,
    "num_decoder_layers": 6,
    "dim_feedforward": 1024,
    "enc_n_points": 4,
    "dec_n_points": 4,
    "num_proposals": 100,
    "num_ctrl_points": 16,
    "max_text_len": 25,
    "voc_size": 96,
    "proj_groups": 32,
}

#: The training schedule: ldm "linear" betas (= diffusers "scaled_linear"), rescaled to
#: zero terminal SNR, v-prediction; the sampler is DDPM ancestral with the posterior
#: ("fixed small") variance and no clipping. Timesteps are set explicitly
#: (:func:`tair_ocr.models.scheduling.respaced_timesteps`).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "rescale_betas_zero_snr": True,
    "prediction_type": "v_prediction",
    "variance_type": "fixed_small",
    "clip_sample": False,
    "thresholding": False,
    "timestep_spacing": "linspace",
}


def controlnet_config_from_unet(unet_config: dict[str, Any]) -> dict[str, Any]:
    """The ControlNet copies the U-Net encoder: same levels, heads and widths."""
    keys = (
        "down_block_types",
        "block_out_channels",
        "layers_per_block",
        "attention_head_dim",
        "cross_attention_dim",
        "use_linear_projection",
        "norm_num_groups",
        "norm_eps",
        "flip_sin_to_cos",
        "freq_shift",
        "downsample_padding",
        "upcast_attention",
    )
    config = {k: copy.deepcopy(unet_config[k]) for k in keys if k in unet_config}
    config["in_channels"] = unet_config.get("in_channels", 4)
    config["condition_channels"] = unet_config.get("in_channels", 4)
    return config


#: The published configuration of every model component, by component name.
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "cleaner": SWINIR_CONFIG,
    "vae": VAE_CONFIG,
    "unet": UNET_CONFIG,
    "controlnet": controlnet_config_from_unet(UNET_CONFIG),
    "text_encoder": TEXT_ENCODER_CONFIG,
    "spotter": SPOTTER_CONFIG,
    "scheduler": SCHEDULER_CONFIG,
}

#: (library, class name) of each component, as written to ``model_index.json``.
COMPONENT_CLASSES: dict[str, tuple[str, str]] = {
    "cleaner": ("tair_ocr.models.swinir", "SwinIR"),
    "vae": ("diffusers", "AutoencoderKL"),
    "unet": ("diffusers", "UNet2DConditionModel"),
    "controlnet": ("tair_ocr.models.controlnet", "LatentControlNet"),
    "text_encoder": ("transformers", "CLIPTextModel"),
    "tokenizer": ("transformers", "CLIPTokenizer"),
    "spotter": ("tair_ocr.models.spotter", "TextSpotter"),
    "scheduler": ("diffusers", "DDPMScheduler"),
}


def build_component(name: str, config: dict[str, Any]) -> Any:
    """Instantiate component ``name`` from its config (random init; honours the
    ambient ``torch.device`` context, e.g. ``meta``)."""
    if name == "cleaner":
        from tair_ocr.models.swinir import SwinIR

        return SwinIR.from_config(config)
    if name == "vae":
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_config(config)
    if name == "unet":
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel.from_config(config)
    if name == "controlnet":
        from tair_ocr.models.controlnet import LatentControlNet

        return LatentControlNet.from_config(config)
    if name == "text_encoder":
        from transformers import CLIPTextConfig, CLIPTextModel

        return CLIPTextModel(CLIPTextConfig(**config))
    if name == "spotter":
        from tair_ocr.models.spotter import TextSpotter

        return TextSpotter.from_config(config)
    if name == "scheduler":
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(config)
    raise ValueError(f"unknown TeReDiff component {name!r}")


def build_components(configs: dict[str, dict[str, Any]] | None = None) -> dict[str, nn.Module]:
    """All model components (not the tokenizer) from ``configs`` (default: published)."""
    configs = configs or PUBLISHED_CONFIGS
    return {name: build_component(name, config) for name, config in configs.items()}
