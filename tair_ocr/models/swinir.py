"""SwinIR, the stage-1 cleaner of TeReDiff (DiffBIR's ``realesrgan_s4_swinir_100k``).

A Swin-Transformer image restorer that keeps the image size: the input is folded
into a coarse token grid by pixel-unshuffle (×8), runs through residual Swin
stages, and is brought back to full resolution by three rounds of nearest-neighbour
upsampling and convolution. It removes gross degradation (noise, blur, JPEG) before
the VAE encodes the result into TeReDiff's condition latent.

Parameter and buffer names follow the published checkpoint exactly (``conv_first.1``,
``layers.{i}.residual_group.blocks.{j}.attn.qkv``, ``conv_up1``...), so the released
state dict loads without renaming. The buffers (``relative_position_index``,
``attn_mask``) are computed here; they are also in the file, with the same values.

Size rule: the token grid (image / ``unshuffle_scale``) is split into
``window_size`` windows without padding, so H and W must be multiples of
``unshuffle_scale * window_size`` (64 for the published model). :meth:`SwinIR.forward`
reflect-pads other sizes up and crops the result back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["SwinIR"]


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Split B×H×W×C into (B·nW)×ws×ws×C windows (row-major over the window grid)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    b = windows.shape[0] // ((h // window_size) * (w // window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def relative_position_index(window_size: int) -> torch.Tensor:
    """Index into the (2ws−1)² bias table for every (query, key) pair of a window."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ).flatten(1)  # 2 × ws²
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # ws² × ws² × 2
    relative = relative + (window_size - 1)
    return relative[..., 0] * (2 * window_size - 1) + relative[..., 1]


def shifted_window_mask(height: int, width: int, window_size: int, shift: int) -> torch.Tensor:
    """Attention mask (nW × ws² × ws²; 0 or −100) that keeps the cyclically shifted
    windows from attending across the regions the roll brought together."""
    regions = torch.zeros(1, height, width, 1)
    slices = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    label = 0
    for hs in slices:
        for ws in slices:
            regions[:, hs, ws, :] = label
            label += 1
    windows = window_partition(regions, window_size).view(-1, window_size * window_size)
    mask = windows[:, None, :] - windows[:, :, None]
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative-position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (B·nW)×N×C windows; ``mask``: nW×N×N or None."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask[None, :, None].to(attn)
            attn = attn.view(-1, self.num_heads, n, n)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """Two-layer feed-forward network with GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    """Pre-norm Swin block: (shifted) window attention, then an MLP, both residual.

    ``grid_size`` is the token grid the mask buffer is precomputed for; other grid
    sizes compute their mask on the fly.
    """

    def __init__(
        self,
        dim: int,
        grid_size: int,
        num_heads: int,
        window_size: int,
        shift: int,
        mlp_ratio: float,
    ) -> None:
        super().__init__()
        if grid_size <= window_size:  # one window covers the grid: no shifting
            window_size, shift = grid_size, 0
        self.window_size = window_size
        self.shift = shift
        self.grid_size = grid_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(grid_size, grid_size, window_size, shift) if shift else None
        self.register_buffer("attn_mask", mask)

    def _mask(self, height: int, width: int, device: torch.device) -> torch.Tensor | None:
        if not self.shift:
            return None
        if height == width == self.grid_size and self.attn_mask is not None:
            return self.attn_mask
        return shifted_window_mask(height, width, self.window_size, self.shift).to(device)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        h, w = grid
        b, _, c = x.shape
        ws = self.window_size
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(y, ws).view(-1, ws * ws, c)
        windows = self.attn(windows, mask=self._mask(h, w, x.device))
        y = window_reverse(windows.view(-1, ws, ws, c), ws, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class BasicLayer(nn.Module):
    """A stack of Swin blocks alternating plain and shifted windows."""

    def __init__(
        self,
        dim: int,
        grid_size: int,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                grid_size,
                num_heads,
                window_size,
                shift=0 if i % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio,
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, grid)
        return x


class RSTB(nn.Module):
    """Residual Swin Transformer Block: Swin blocks, a 3×3 conv, a long residual."""

    def __init__(self, dim: int, grid_size: int, depth: int, num_heads: int, **kwargs) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim, grid_size, depth, num_heads, **kwargs)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        y = self.residual_group(x, grid).transpose(1, 2).reshape(b, c, *grid)
        return self.conv(y).flatten(2).transpose(1, 2) + x


class PatchEmbed(nn.Module):
    """Feature map B×C×H×W → tokens B×HW×C, layer-normed (patch size 1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class SwinIR(ModelMixin, ConfigMixin):
    """SwinIR cleaner with pixel-unshuffle input and "nearest+conv" ×8 upsampling.

    :param img_size: token-grid size the shifted-window masks are precomputed for
        (64 = a 512-pixel input with ``unshuffle_scale`` 8).
    :param in_chans: image channels (3).
    :param embed_dim: token width (180).
    :param depths: Swin blocks per residual stage (8 stages of 6).
    :param num_heads: attention heads per stage (6).
    :param window_size: attention window edge in tokens (8).
    :param mlp_ratio: MLP hidden width / ``embed_dim`` (2).
    :param unshuffle_scale: pixel-unshuffle factor of the input (8).
    :param num_feat: channels of the upsampling branch (64).
    :param rgb_mean: mean subtracted before and added after the network.
    """

    @register_to_config
    def __init__(
        self,
        img_size: int = 64,
        in_chans: int = 3,
        embed_dim: int = 180,
        depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6, 6, 6),
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        unshuffle_scale: int = 8,
        num_feat: int = 64,
        rgb_mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040),
    ) -> None:
        super().__init__()
        if unshuffle_scale != 8:
            raise ValueError("only unshuffle_scale 8 (three ×2 upsampling rounds) is implemented")
        self.conv_first = nn.Sequential(
            nn.PixelUnshuffle(unshuffle_scale),
            nn.Conv2d(in_chans * unshuffle_scale**2, embed_dim, 3, 1, 1),
        )
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            RSTB(
                embed_dim,
                img_size,
                depth,
                heads,
                window_size=window_size,
                mlp_ratio=mlp_ratio,
            )
            for depth, heads in zip(depths, num_heads, strict=True)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(
            nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True)
        )
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def size_multiple(self) -> int:
        """H and W of the network input must be multiples of this."""
        return self.config.unshuffle_scale * self.config.window_size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Clean ``image`` (B×3×H×W in [0, 1]); returns the same size, **not** clamped."""
        h, w = image.shape[-2:]
        m = self.size_multiple
        pad_h, pad_w = (math.ceil(h / m) * m - h, math.ceil(w / m) * m - w)
        x = image
        if pad_h or pad_w:
            # Reflect needs the pad to be smaller than the side; tiny inputs replicate.
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
        mean = torch.tensor(self.config.rgb_mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        x = self.conv_first(x - mean)

        grid = (x.shape[2], x.shape[3])
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, grid)
        tokens = self.norm(tokens)
        body = tokens.transpose(1, 2).reshape(x.shape[0], -1, *grid)
        x = self.conv_before_upsample(self.conv_after_body(body) + x)

        for conv in (self.conv_up1, self.conv_up2, self.conv_up3):
            x = self.lrelu(conv(F.interpolate(x, scale_factor=2, mode="nearest")))
        x = self.conv_last(self.lrelu(self.conv_hr(x))) + mean
        return x[:, :, :h, :w]
