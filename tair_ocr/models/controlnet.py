"""The latent-condition ControlNet of TeReDiff (DiffBIR v2.1's "IRControlNet").

A trainable copy of the SD-2.1 U-Net encoder that steers the frozen-layout U-Net.
Unlike :class:`diffusers.ControlNetModel`, whose hint is an *image* passed through a
pixel-space embedding stack and *added* after ``conv_in``, this branch takes the
condition as a *latent* (the VAE encoding of the cleaned image, already scaled by
0.18215) and *concatenates* it to the noisy latent before ``conv_in``: 4 + 4 = 8
input channels, no hint embedding at all.

Outputs are the usual ControlNet residuals: one per encoder skip (12 for SD-2.1)
plus one for the middle block, each through a 1×1 "zero conv" and multiplied by its
control scale. They are handed to :class:`diffusers.UNet2DConditionModel` as
``down_block_additional_residuals`` / ``mid_block_additional_residual``; neither
model imports the other.

Blocks are diffusers' own (``get_down_block``, ``UNetMidBlock2DCrossAttn``), so the
parameter names are those of ``diffusers.ControlNetModel`` minus its
``controlnet_cond_embedding``. The published ldm-named keys (``input_blocks.*``,
``zero_convs.*``, ``middle_block_out.*``) map onto them with
``map_controlnet_key`` of the workbench's checkpoint converter
(``tair_workbench.conversion.key_mapping``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2DCrossAttn, get_down_block
from diffusers.utils import BaseOutput
from torch import nn

__all__ = ["LatentControlNet", "LatentControlNetOutput"]


@dataclass
class LatentControlNetOutput(BaseOutput):
    """Residuals for the U-Net.

    :ivar down_block_res_samples: one tensor per encoder skip, in U-Net order
        (conv_in output first), already multiplied by the control scales.
    :ivar mid_block_res_sample: the residual added to the U-Net middle-block output.
    """

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


class LatentControlNet(ModelMixin, ConfigMixin):
    """ControlNet whose condition is a latent concatenated to the noisy latent.

    The encoder hyper-parameters mirror :class:`diffusers.UNet2DConditionModel` and
    must equal the U-Net's (the residual shapes have to match its skips).

    :param in_channels: channels of the noisy latent (4).
    :param condition_channels: channels of the condition latent (4); ``conv_in``
        takes ``in_channels + condition_channels``.
    :param down_block_types: diffusers down-block names, one per resolution.
    :param block_out_channels: channels per resolution level.
    :param layers_per_block: ResNet (+ attention) layers per level.
    :param attention_head_dim: diffusers' (mis)named *number of heads* per level;
        SD-2.1 uses ``[5, 10, 20, 20]`` (64 channels per head).
    :param cross_attention_dim: width of the text states (1024 for OpenCLIP ViT-H).
    :param use_linear_projection: Linear (True, SD-2.x) or 1×1-conv ``proj_in/out``.
    :param norm_num_groups: GroupNorm groups.
    :param norm_eps: GroupNorm epsilon.
    :param flip_sin_to_cos: timestep embedding order (True: cos first, as ldm).
    :param freq_shift: timestep embedding frequency shift (0 for ldm).
    :param downsample_padding: padding of the downsampling convs.
    :param upcast_attention: compute attention scores in fp32.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        condition_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int | tuple[int, ...] = (5, 10, 20, 20),
        cross_attention_dim: int = 1024,
        use_linear_projection: bool = True,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        downsample_padding: int = 1,
        upcast_attention: bool = False,
    ) -> None:
        super().__init__()
        if len(block_out_channels) != len(down_block_types):
            raise ValueError("block_out_channels and down_block_types must have the same length")
        heads = (
            (attention_head_dim,) * len(down_block_types)
            if isinstance(attention_head_dim, int)
            else tuple(attention_head_dim)
        )
        time_dim = block_out_channels[0] * 4

        self.conv_in = nn.Conv2d(
            in_channels + condition_channels, block_out_channels[0], kernel_size=3, padding=1
        )
        self.time_proj = Timesteps(block_out_channels[0], flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_dim)

        # One zero conv per skip tensor the U-Net will concatenate in its decoder.
        self.controlnet_down_blocks = nn.ModuleList([_zero_conv(block_out_channels[0])])
        self.down_blocks = nn.ModuleList()
        channels = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            out_channels = block_out_channels[i]
            is_final = i == len(block_out_channels) - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    in_channels=channels,
                    out_channels=out_channels,
                    temb_channels=time_dim,
                    add_downsample=not is_final,
                    resnet_eps=norm_eps,
                    resnet_act_fn="silu",
                    resnet_groups=norm_num_groups,
                    cross_attention_dim=cross_attention_dim,
                    num_attention_heads=heads[i],
                    attention_head_dim=heads[i],
                    downsample_padding=downsample_padding,
                    use_linear_projection=use_linear_projection,
                    upcast_attention=upcast_attention,
                )
            )
            for _ in range(layers_per_block + (0 if is_final else 1)):
                self.controlnet_down_blocks.append(_zero_conv(out_channels))
            channels = out_channels

        self.mid_block = UNetMidBlock2DCrossAttn(
            in_channels=block_out_channels[-1],
            temb_channels=time_dim,
            resnet_eps=norm_eps,
            resnet_act_fn="silu",
            output_scale_factor=1.0,
            cross_attention_dim=cross_attention_dim,
            num_attention_heads=heads[-1],
            resnet_groups=norm_num_groups,
            use_linear_projection=use_linear_projection,
            upcast_attention=upcast_attention,
        )
        self.controlnet_mid_block = _zero_conv(block_out_channels[-1])

    @property
    def num_residuals(self) -> int:
        """Number of residuals :meth:`forward` returns (down skips + 1 middle)."""
        return len(self.controlnet_down_blocks) + 1

    def forward(
        self,
        sample: torch.Tensor,
        condition: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        control_scales: float | list[float] = 1.0,
    ) -> LatentControlNetOutput:
        """Compute the residuals for one denoising step.

        :param sample: noisy latent, B×4×h×w.
        :param condition: condition latent, B×4×h×w (VAE mode × 0.18215).
        :param timestep: the *original* (not respaced) timestep index, scalar or (B,).
        :param encoder_hidden_states: text states, B×77×``cross_attention_dim``.
        :param control_scales: one factor for all residuals, or one per residual
            (down skips in order, then the middle), as ldm's ``control_scales``.
        """
        scales = (
            [float(control_scales)] * self.num_residuals
            if isinstance(control_scales, (int, float))
            else list(control_scales)
        )
        if len(scales) != self.num_residuals:
            raise ValueError(f"expected {self.num_residuals} control scales, got {len(scales)}")

        timesteps = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        timesteps = timesteps.expand(sample.shape[0])
        # Sinusoidal features are fp32; the embedding MLP runs in the model dtype.
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=sample.dtype))

        hidden = self.conv_in(torch.cat([sample, condition], dim=1))
        skips: list[torch.Tensor] = [hidden]
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                hidden, res = block(
                    hidden_states=hidden, temb=emb, encoder_hidden_states=encoder_hidden_states
                )
            else:
                hidden, res = block(hidden_states=hidden, temb=emb)
            skips.extend(res)
        hidden = self.mid_block(hidden, emb, encoder_hidden_states=encoder_hidden_states)

        down = tuple(
            conv(skip) * scale
            for conv, skip, scale in zip(
                self.controlnet_down_blocks, skips, scales[:-1], strict=True
            )
        )
        mid = self.controlnet_mid_block(hidden) * scales[-1]
        return LatentControlNetOutput(down_block_res_samples=down, mid_block_res_sample=mid)


def _zero_conv(channels: int) -> nn.Conv2d:
    """A 1×1 conv initialised to zero (a fresh ControlNet starts as a no-op)."""
    conv = nn.Conv2d(channels, channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
