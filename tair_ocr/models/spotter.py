"""TeReDiff's text spotter: TESTR reading features tapped from the diffusion U-Net.

TESTR (Zhang et al., CVPR 2022) is a two-stage deformable DETR for text spotting.
TeReDiff replaces its ResNet backbone with the U-Net decoder: the four tapped decoder
maps (1280@h/4, 1280@h/2, 640@h, 320@h for a latent of side h) each go through a
light conv stack (``diff_feat_proj``: 1×1 conv, GN, GELU, 3×3 conv, GN, GELU) to
256 channels, then into the deformable transformer:

1. **Encoder**: 6 layers of multi-scale deformable self-attention over all tokens.
2. **Proposals**: every encoder token proposes a box (prior: its centre, size
   0.05·2^level); a linear head scores it. The 100 best boxes become fixed
   reference boxes for the decoder, and a sine embedding of each box its query
   position.
3. **Decoder**: 6 composite layers over two query sets per proposal, 16 *location*
   queries (polygon control points) and 25 *character* queries. Each set does
   intra-instance self-attention, inter-instance self-attention, deformable
   cross-attention into the encoder memory (sampling around the reference box), and
   an FFN.
4. **Heads**: per point a text/no-text logit and (x, y) relative to the box centre;
   per character slot 97 logits (95 printable ASCII, "unknown", end/pad).

Parameter names follow the published ``terediff_stage3.pt['testr']`` section with its
``testr.`` prefix removed. The published heads are shared modules saved under several
names (``ctrl_point_class.0..5`` are one layer; ``transformer.bbox_embed`` is
``bbox_coord``); the same sharing is built here, so every published key exists.

This is an inference implementation: no dropout, no losses, no auxiliary outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from tair_ocr.models.ms_deform_attn import MSDeformAttn

__all__ = ["CHARSET", "Detection", "SpotterOutput", "TextSpotter", "decode_text"]

#: Characters of class indices 0..94: printable ASCII 0x20..0x7E in code-point order.
#: Index 95 is "unknown", 96 the end/pad marker.
CHARSET: str = "".join(chr(c) for c in range(32, 127))


def decode_text(indices: list[int]) -> str:
    """Characters up to the first index that is not a printable character (≥ 95)."""
    chars = []
    for index in indices:
        if index >= len(CHARSET):
            break
        chars.append(CHARSET[index])
    return "".join(chars)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Logit, clamped so 0 and 1 stay finite."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def sine_position_2d(
    batch: int,
    height: int,
    width: int,
    num_feats: int,
    *,
    device: torch.device,
    temperature: float = 10000.0,
    scale: float = 2 * math.pi,
) -> torch.Tensor:
    """DETR sine position embedding of an unpadded H×W map: B×(2·num_feats)×H×W,
    the y half first. Positions are (index + 0.5) / size · scale."""
    eps = 1e-6
    y = (torch.arange(1, height + 1, device=device, dtype=torch.float32) - 0.5) / (height + eps)
    x = (torch.arange(1, width + 1, device=device, dtype=torch.float32) - 0.5) / (width + eps)
    dim_t = torch.arange(num_feats, device=device, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)

    def embed(pos: torch.Tensor) -> torch.Tensor:
        p = pos[:, None] * scale / dim_t  # n × num_feats
        return torch.stack((p[:, 0::2].sin(), p[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = embed(y)[:, None, :].expand(height, width, num_feats)
    pos_x = embed(x)[None, :, :].expand(height, width, num_feats)
    pos = torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)
    return pos.unsqueeze(0).expand(batch, -1, -1, -1)


class PositionalEncoding1D(nn.Module):
    """Sine encoding of slots 1..n, normalised to (0, scale]: sin half, then cos half."""

    def __init__(self, channels: int, temperature: float = 10000.0, scale: float = 2 * math.pi):
        super().__init__()
        self.channels = channels
        self.scale = scale
        inv_freq = 1.0 / (temperature ** (torch.arange(0, channels, 2).float() / channels))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, length: int) -> torch.Tensor:
        """Encodings of ``length`` slots: length × channels (fp32)."""
        pos = torch.arange(1, length + 1, device=self.inv_freq.device, dtype=torch.float32)
        pos = pos / (pos[-1:] + 1e-6) * self.scale
        angles = pos[:, None] * self.inv_freq.float()[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)[:, : self.channels]


class MLP(nn.Module):
    """Stack of Linear layers with ReLU between them (DETR's box head)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (num_layers - 1)
        outs = [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, outs, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class EncoderLayer(nn.Module):
    """Post-norm deformable self-attention + ReLU FFN."""

    def __init__(self, d_model: int, dim_ff: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        src = self.norm1(src + self.self_attn(src + pos, reference_points, src, spatial_shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class Encoder(nn.Module):
    """A stack of :class:`EncoderLayer`; reference points are the token centres."""

    def __init__(self, num_layers: int, **layer_kwargs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(**layer_kwargs) for _ in range(num_layers))

    @staticmethod
    def reference_points(
        spatial_shapes: list[tuple[int, int]], batch: int, device: torch.device
    ) -> torch.Tensor:
        """N×S×L×2 normalised token centres (the same point on every level)."""
        points = []
        for h, w in spatial_shapes:
            ref_y, ref_x = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, device=device) / h,
                torch.linspace(0.5, w - 0.5, w, device=device) / w,
                indexing="ij",
            )
            points.append(torch.stack((ref_x.reshape(-1), ref_y.reshape(-1)), -1))
        ref = torch.cat(points, 0)[None, :, None, :]
        return ref.expand(batch, -1, len(spatial_shapes), -1)

    def forward(
        self, src: torch.Tensor, pos: torch.Tensor, spatial_shapes: list[tuple[int, int]]
    ) -> torch.Tensor:
        # Reference points stay float32 (bf16 would shift them by up to 1/256 of the map).
        ref = self.reference_points(spatial_shapes, src.shape[0], src.device)
        for layer in self.layers:
            src = layer(src, pos, ref, spatial_shapes)
        return src


class CompositeDecoderLayer(nn.Module):
    """TESTR's decoder layer: a location branch and a text branch, each doing
    intra-instance self-attention, inter-instance self-attention, deformable
    cross-attention and an FFN (all post-norm)."""

    def __init__(self, d_model: int, dim_ff: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        for suffix in ("", "_text"):
            self.add_module(
                f"attn_cross{suffix}", MSDeformAttn(d_model, n_levels, n_heads, n_points)
            )
            self.add_module(f"norm_cross{suffix}", nn.LayerNorm(d_model))
            self.add_module(
                f"attn_intra{suffix}", nn.MultiheadAttention(d_model, n_heads, batch_first=True)
            )
            self.add_module(f"norm_intra{suffix}", nn.LayerNorm(d_model))
            self.add_module(
                f"attn_inter{suffix}", nn.MultiheadAttention(d_model, n_heads, batch_first=True)
            )
            self.add_module(f"norm_inter{suffix}", nn.LayerNorm(d_model))
            self.add_module(f"linear1{suffix}", nn.Linear(d_model, dim_ff))
            self.add_module(f"linear2{suffix}", nn.Linear(dim_ff, d_model))
            self.add_module(f"norm3{suffix}", nn.LayerNorm(d_model))

    def _branch(
        self,
        suffix: str,
        tgt: torch.Tensor,
        pos: torch.Tensor,
        reference_boxes: torch.Tensor,
        memory: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """One branch on queries ``tgt`` (N×Q×P×C, Q instances of P slots)."""
        m = self._modules
        n, q, p, c = tgt.shape
        # Intra-instance: the P slots of one instance attend to each other.
        qk = (tgt + pos).flatten(0, 1)
        out = m[f"attn_intra{suffix}"](qk, qk, tgt.flatten(0, 1), need_weights=False)[0]
        tgt = m[f"norm_intra{suffix}"](tgt + out.view(n, q, p, c))
        # Inter-instance: slot k of every instance attends to slot k of the others.
        inter = tgt.transpose(1, 2).flatten(0, 1)
        out = m[f"attn_inter{suffix}"](inter, inter, inter, need_weights=False)[0]
        tgt = m[f"norm_inter{suffix}"](tgt + out.view(n, p, q, c).transpose(1, 2))
        # Cross: every slot samples around its instance's reference box.
        ref = reference_boxes[:, :, None].expand(-1, -1, p, -1, -1).flatten(1, 2)
        out = m[f"attn_cross{suffix}"]((tgt + pos).flatten(1, 2), ref, memory, spatial_shapes)
        tgt = m[f"norm_cross{suffix}"](tgt + out.view(n, q, p, c))
        # FFN.
        ffn = m[f"linear2{suffix}"](F.relu(m[f"linear1{suffix}"](tgt)))
        return m[f"norm3{suffix}"](tgt + ffn)

    def forward(
        self,
        tgt: torch.Tensor,
        pos: torch.Tensor,
        tgt_text: torch.Tensor,
        pos_text: torch.Tensor,
        reference_boxes: torch.Tensor,
        memory: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``reference_boxes``: N×Q×L×4 (cx, cy, w, h), one box per instance."""
        tgt = self._branch("", tgt, pos, reference_boxes, memory, spatial_shapes)
        tgt_text = self._branch(
            "_text", tgt_text, pos_text, reference_boxes, memory, spatial_shapes
        )
        return tgt, tgt_text


class Decoder(nn.Module):
    """A stack of :class:`CompositeDecoderLayer` with fixed reference boxes."""

    def __init__(self, num_layers: int, **layer_kwargs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CompositeDecoderLayer(**layer_kwargs) for _ in range(num_layers)
        )

    def forward(
        self,
        tgt: torch.Tensor,
        pos: torch.Tensor,
        tgt_text: torch.Tensor,
        pos_text: torch.Tensor,
        reference_boxes: torch.Tensor,
        memory: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both query sets through every layer (see :class:`CompositeDecoderLayer`)."""
        for layer in self.layers:
            tgt, tgt_text = layer(
                tgt, pos, tgt_text, pos_text, reference_boxes, memory, spatial_shapes
            )
        return tgt, tgt_text


class DeformableTransformer(nn.Module):
    """Encoder, top-k proposal selection and composite decoder of TESTR."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        dim_feedforward: int,
        num_feature_levels: int,
        enc_n_points: int,
        dec_n_points: int,
        num_proposals: int,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.num_proposals = num_proposals
        self.encoder = Encoder(
            num_encoder_layers,
            d_model=d_model,
            dim_ff=dim_feedforward,
            n_levels=num_feature_levels,
            n_heads=n_heads,
            n_points=enc_n_points,
        )
        self.decoder = Decoder(
            num_decoder_layers,
            d_model=d_model,
            dim_ff=dim_feedforward,
            n_levels=num_feature_levels,
            n_heads=n_heads,
            n_points=dec_n_points,
        )
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        self.enc_output = nn.Linear(d_model, d_model)
        self.enc_output_norm = nn.LayerNorm(d_model)
        self.pos_trans = nn.Linear(d_model, d_model)
        self.pos_trans_norm = nn.LayerNorm(d_model)
        # Set by TextSpotter: the proposal heads, shared with it (as published).
        self.bbox_class_embed: nn.Module | None = None
        self.bbox_embed: nn.Module | None = None
        nn.init.normal_(self.level_embed)

    def proposal_pos_embed(self, proposals: torch.Tensor) -> torch.Tensor:
        """Sine embedding of logit-space boxes N×Q×4 → N×Q×d_model (d_model/4 per coordinate)."""
        num_feats = self.d_model // 4
        dim_t = torch.arange(num_feats, device=proposals.device, dtype=torch.float32)
        dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
        pos = proposals.float().sigmoid()[:, :, :, None] * (2 * math.pi) / dim_t
        return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=4).flatten(2)

    def encoder_proposals(
        self, memory: torch.Tensor, spatial_shapes: list[tuple[int, int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token prior boxes in logit space (inf where outside (0.01, 0.99)) and
        the normalised memory they are scored from."""
        n = memory.shape[0]
        priors = []
        for level, (h, w) in enumerate(spatial_shapes):
            grid_y, grid_x = torch.meshgrid(
                torch.arange(h, device=memory.device, dtype=torch.float32),
                torch.arange(w, device=memory.device, dtype=torch.float32),
                indexing="ij",
            )
            centre = torch.stack(((grid_x + 0.5) / w, (grid_y + 0.5) / h), -1).view(-1, 2)
            size = torch.full_like(centre, 0.05 * (2.0**level))
            priors.append(torch.cat((centre, size), -1))
        proposals = torch.cat(priors, 0)[None].expand(n, -1, -1)
        valid = ((proposals > 0.01) & (proposals < 0.99)).all(-1, keepdim=True)
        proposals = torch.log(proposals / (1 - proposals)).masked_fill(~valid, float("inf"))
        memory = memory.masked_fill(~valid, 0.0)
        return self.enc_output_norm(self.enc_output(memory)), proposals

    def forward(
        self,
        srcs: list[torch.Tensor],
        ctrl_queries: torch.Tensor,
        text_queries: torch.Tensor,
        text_pos: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Run encoder, proposal selection and decoder.

        :param srcs: per level N×C×H×W projected features.
        :param ctrl_queries: P×C location-query contents (shared by all instances).
        :param text_queries: T×C character-query contents.
        :param text_pos: T×C character-slot positions.
        """
        n = srcs[0].shape[0]
        shapes = [(s.shape[2], s.shape[3]) for s in srcs]
        tokens, pos = [], []
        for level, src in enumerate(srcs):
            h, w = src.shape[2:]
            tokens.append(src.flatten(2).transpose(1, 2))
            embed = sine_position_2d(n, h, w, self.d_model // 2, device=src.device)
            embed = embed.to(src.dtype).flatten(2).transpose(1, 2)
            pos.append(embed + self.level_embed[level].view(1, 1, -1))
        memory = self.encoder(torch.cat(tokens, 1), torch.cat(pos, 1), shapes)

        # Two-stage: encoder tokens propose boxes; the best ones seed the decoder.
        output_memory, proposals = self.encoder_proposals(memory, shapes)
        enc_logits = self.bbox_class_embed(output_memory)
        enc_boxes_unact = self.bbox_embed(output_memory) + proposals
        k = min(self.num_proposals, enc_logits.shape[1])
        top = torch.topk(enc_logits[..., 0], k, dim=1)[1]
        top_boxes_unact = torch.gather(enc_boxes_unact, 1, top[..., None].expand(-1, -1, 4))
        reference = top_boxes_unact.sigmoid()
        query_pos = self.pos_trans_norm(
            self.pos_trans(self.proposal_pos_embed(top_boxes_unact).to(memory.dtype))
        )

        p, t = ctrl_queries.shape[0], text_queries.shape[0]
        tgt = ctrl_queries[None, None].expand(n, k, -1, -1)
        pos_loc = query_pos[:, :, None].expand(-1, -1, p, -1)
        tgt_text = text_queries[None, None].expand(n, k, -1, -1)
        pos_text = text_pos[None, None].expand(n, k, t, -1).to(memory.dtype)
        reference_levels = reference[:, :, None].expand(-1, -1, len(shapes), -1)
        hs, hs_text = self.decoder(
            tgt, pos_loc, tgt_text, pos_text, reference_levels, memory, shapes
        )
        return {
            "hs": hs,
            "hs_text": hs_text,
            "reference": reference,
            "enc_logits": enc_logits,
            "enc_boxes": enc_boxes_unact.sigmoid(),
        }


@dataclass
class SpotterOutput(BaseOutput):
    """Raw spotter outputs for a batch (Q proposals, P points, T character slots).

    :ivar pred_logits: N×Q×P×1 text/no-text logit per control point.
    :ivar pred_ctrl_points: N×Q×P×2 normalised (x, y) control points.
    :ivar pred_texts: N×Q×T×(voc_size+1) character logits.
    :ivar enc_logits: N×S×1 encoder proposal logits.
    :ivar enc_boxes: N×S×4 encoder proposal boxes (cx, cy, w, h), normalised.
    """

    pred_logits: torch.Tensor
    pred_ctrl_points: torch.Tensor
    pred_texts: torch.Tensor
    enc_logits: torch.Tensor
    enc_boxes: torch.Tensor


@dataclass
class Detection:
    """One word a spotter read, in pixels of the image it was given."""

    text: str
    score: float
    #: Control points (x, y) in pixels, in the order the model predicts them.
    polygon: list[tuple[float, float]]


class TextSpotter(ModelMixin, ConfigMixin):
    """TESTR on U-Net decoder features (TeReDiff's text-spotting module).

    :param feature_channels: channels of the four tapped U-Net decoder maps, in tap
        order (``(1280, 1280, 640, 320)`` for SD-2.1).
    :param d_model: transformer width (256).
    :param n_heads: attention heads (8).
    :param num_encoder_layers: deformable encoder layers (6).
    :param num_decoder_layers: composite decoder layers (6); also the number of
        (shared) prediction heads saved in the published file.
    :param dim_feedforward: FFN width (1024).
    :param enc_n_points: sampling points per head and level in the encoder (4).
    :param dec_n_points: same in the decoder cross-attention (4).
    :param num_proposals: instances the decoder reads (100).
    :param num_ctrl_points: polygon control points per instance (16).
    :param max_text_len: character slots per instance (25).
    :param voc_size: character classes without the end class (96).
    :param proj_groups: GroupNorm groups of the feature projection (32).
    """

    @register_to_config
    def __init__(
        self,
        feature_channels: tuple[int, ...] = (1280, 1280, 640, 320),
        d_model: int = 256,
        n_heads: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 1024,
        enc_n_points: int = 4,
        dec_n_points: int = 4,
        num_proposals: int = 100,
        num_ctrl_points: int = 16,
        max_text_len: int = 25,
        voc_size: int = 96,
        proj_groups: int = 32,
    ) -> None:
        super().__init__()
        levels = len(feature_channels)
        self.text_pos_embed = PositionalEncoding1D(d_model)
        self.transformer = DeformableTransformer(
            d_model=d_model,
            n_heads=n_heads,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward,
            num_feature_levels=levels,
            enc_n_points=enc_n_points,
            dec_n_points=dec_n_points,
            num_proposals=num_proposals,
        )
        point_class = nn.Linear(d_model, 1)
        point_coord = MLP(d_model, d_model, 2, 3)
        # One head per decoder layer in the published file, all the same module.
        self.ctrl_point_class = nn.ModuleList([point_class] * num_decoder_layers)
        self.ctrl_point_coord = nn.ModuleList([point_coord] * num_decoder_layers)
        self.bbox_coord = MLP(d_model, d_model, 4, 3)
        self.bbox_class = nn.Linear(d_model, 1)
        self.text_class = nn.Linear(d_model, voc_size + 1)
        self.ctrl_point_embed = nn.Embedding(num_ctrl_points, d_model)
        self.text_embed = nn.Embedding(max_text_len, d_model)
        self.transformer.bbox_class_embed = self.bbox_class
        self.transformer.bbox_embed = self.bbox_coord
        self.diff_feat_proj = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, d_model, kernel_size=1),
                nn.GroupNorm(proj_groups, d_model),
                nn.GELU(),
                nn.Conv2d(d_model, d_model, kernel_size=3, padding=1),
                nn.GroupNorm(proj_groups, d_model),
                nn.GELU(),
            )
            for channels in feature_channels
        )

    def forward(self, features: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> SpotterOutput:
        """Read the tapped U-Net decoder ``features`` (tap order, N×C×H×W each)."""
        if len(features) != len(self.diff_feat_proj):
            raise ValueError(
                f"expected {len(self.diff_feat_proj)} feature maps, got {len(features)}"
            )
        srcs = [proj(f) for proj, f in zip(self.diff_feat_proj, features, strict=True)]
        out = self.transformer(
            srcs,
            self.ctrl_point_embed.weight,
            self.text_embed.weight,
            self.text_pos_embed(self.config.max_text_len),
        )
        # Only the last decoder layer is read at inference.
        reference = inverse_sigmoid(out["reference"].float())
        coords = self.ctrl_point_coord[-1](out["hs"]).float() + reference[:, :, None, :2]
        return SpotterOutput(
            pred_logits=self.ctrl_point_class[-1](out["hs"]),
            pred_ctrl_points=coords.sigmoid(),
            pred_texts=self.text_class(out["hs_text"]),
            enc_logits=out["enc_logits"],
            enc_boxes=out["enc_boxes"],
        )

    @staticmethod
    def postprocess(
        output: SpotterOutput, image_size: tuple[int, int], threshold: float = 0.5
    ) -> list[list[Detection]]:
        """Words per image: instances whose score (sigmoid of the mean point logit)
        reaches ``threshold``, in query order, with polygons in pixels of an image of
        ``image_size`` = (height, width) and the argmax transcription."""
        height, width = image_size
        scores = output.pred_logits.float().mean(dim=(-2, -1)).sigmoid()  # N×Q
        points = output.pred_ctrl_points.float() * torch.tensor(
            [width, height], dtype=torch.float32, device=scores.device
        )
        chars = output.pred_texts.argmax(-1)  # N×Q×T
        results = []
        for i in range(scores.shape[0]):
            keep = (scores[i] >= threshold).nonzero().flatten().tolist()
            results.append(
                [
                    Detection(
                        text=decode_text(chars[i, q].tolist()),
                        score=float(scores[i, q]),
                        polygon=[(float(x), float(y)) for x, y in points[i, q].tolist()],
                    )
                    for q in keep
                ]
            )
        return results
