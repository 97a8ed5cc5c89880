"""Multi-scale deformable attention (Deformable DETR), in pure PyTorch.

Each query looks at a few learned sampling points around its reference point on every
feature level, instead of at all tokens. The published TESTR uses a compiled CUDA
kernel; this module computes the same thing with :func:`torch.nn.functional.grid_sample`
(bilinear, zero padding, ``align_corners=False``), which matches the kernel's sampling
convention (pixel = location · size − 0.5) and runs on any device, CPU included.

Parameter names (``sampling_offsets``, ``attention_weights``, ``value_proj``,
``output_proj``) follow Deformable DETR, so published weights load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MSDeformAttn", "ms_deform_attn_core"]


def ms_deform_attn_core(
    value: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Sample and mix multi-level values.

    :param value: N×S×M×D, the flattened levels (S = Σ H·W), M heads of width D.
    :param spatial_shapes: (H, W) of each level, in the order they are flattened.
    :param sampling_locations: N×Q×M×L×P×2, normalised (x, y) in [0, 1].
    :param attention_weights: N×Q×M×L×P, softmaxed over L·P.
    :returns: N×Q×(M·D).
    """
    n, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample wants [-1, 1]
    sampled = []
    for level, (h, w) in enumerate(spatial_shapes):
        # (N·M)×D×H×W feature map of this level, one per head.
        feature = per_level[level].flatten(2).transpose(1, 2).reshape(n * heads, dim, h, w)
        # (N·M)×Q×P×2 sampling grid of this level.
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled.append(
            F.grid_sample(
                feature,
                grid.to(feature.dtype),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
        )  # (N·M)×D×Q×P
    weights = attention_weights.transpose(1, 2).reshape(n * heads, 1, queries, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights.to(value.dtype)).sum(-1)
    return out.view(n, heads * dim, queries).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention.

    :param d_model: query/value width.
    :param n_levels: number of feature levels.
    :param n_heads: attention heads.
    :param n_points: sampling points per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Deformable DETR's start: offsets fan out in 8 directions, growing with the
        # point index; uniform attention. Only matters for training from scratch.
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` (N×Q×C) into the flattened levels ``value`` (N×S×C).

        :param reference_points: N×Q×L×2 normalised (x, y) points, or N×Q×L×4 boxes
            (cx, cy, w, h); with boxes the offsets are scaled by half the box size
            divided by ``n_points``.
        :param padding_mask: N×S, True where ``value`` is padding.
        """
        n, queries, _ = query.shape
        v = self.value_proj(value)
        if padding_mask is not None:
            v = v.masked_fill(padding_mask[..., None], 0.0)
        v = v.view(n, v.shape[1], self.n_heads, self.d_model // self.n_heads)

        offsets = self.sampling_offsets(query).view(
            n, queries, self.n_heads, self.n_levels, self.n_points, 2
        )
        weights = self.attention_weights(query).view(
            n, queries, self.n_heads, self.n_levels * self.n_points
        )
        weights = weights.softmax(-1).view(n, queries, self.n_heads, self.n_levels, self.n_points)

        if reference_points.shape[-1] == 2:
            # Offsets are in pixels of each level: normalise by (W, H).
            normaliser = torch.tensor(
                [[w, h] for h, w in spatial_shapes], device=query.device, dtype=offsets.dtype
            )
            locations = (
                reference_points[:, :, None, :, None, :]
                + offsets / normaliser[None, None, None, :, None, :]
            )
        elif reference_points.shape[-1] == 4:
            locations = (
                reference_points[:, :, None, :, None, :2]
                + offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        else:
            raise ValueError(
                f"reference_points must end in 2 or 4 values, got {reference_points.shape[-1]}"
            )
        out = ms_deform_attn_core(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
