"""The conditional denoiser of the ``diffusion`` decoder and its noise schedule.

A small UNet that sees the noisy image ``x_t``, the base codec's decoding ``c`` and the timestep ``t`` and
predicts the clean image (as a residual on ``c``). It works at half resolution (pixel-unshuffle in, pixel-shuffle
out: four times fewer positions than pixels, so a 768×512 step costs ≈ 27 GMAC) with three levels of residual
blocks; ``t`` enters every block as a per-channel bias (Ho et al. 2020). Its normalisation is per position
(:class:`ChannelNorm`) and its receptive field ±``RECEPTIVE_FIELD`` pixels, so it can run on overlapping tiles.
Images are in [-1, 1].

Schedule: the cosine schedule of Nichol & Dhariwal (2021) over ``TIMESTEPS`` steps; ``alpha_bar(t)`` is the
signal share of ``x_t = sqrt(ᾱ) x₀ + sqrt(1 − ᾱ) ε``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TIMESTEPS = 1000
# Pixels on each side that affect an output pixel, for the default three levels (3×3 convolutions at 1/2, 1/4 and
# 1/8 resolution on the way down and up): the tile margin must be at least this.
RECEPTIVE_FIELD = 80


def alpha_bar(t: Tensor | float) -> Tensor:
    """Signal share ᾱ(t) of the cosine schedule, t in [0, TIMESTEPS] (float64 for a scalar)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    s = 0.008
    f = torch.cos((t / TIMESTEPS + s) / (1 + s) * math.pi / 2) ** 2
    return (f / math.cos(s / (1 + s) * math.pi / 2) ** 2).clamp(1e-5, 1.0)


def timestep_for_noise(variance_ratio: float) -> int:
    """The timestep whose noise-to-signal variance ratio (1 − ᾱ)/ᾱ is closest to ``variance_ratio``."""
    ts = torch.arange(TIMESTEPS + 1)
    a = alpha_bar(ts)
    return int(((1 - a) / a - variance_ratio).abs().argmin())


def _embed_timestep(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class ChannelNorm(nn.Module):
    """Layer normalisation over the channels of each position (no statistics over the image, unlike GroupNorm:
    a tile then computes what the whole image computes there, given enough margin)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


class ResBlock(nn.Module):
    """ChannelNorm–SiLU–conv ×2 with the timestep embedding added in between; 1×1 skip when widths differ."""

    def __init__(self, cin: int, cout: int, temb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = ChannelNorm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb, cout)
        self.norm2, self.conv2 = ChannelNorm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Denoiser(nn.Module):
    """UNet (half resolution, ``widths`` per level) predicting x₀ from (x_t, c, t)."""

    def __init__(self, widths: tuple[int, ...] = (48, 96, 128), temb: int = 128, noise_scale: float = 4.0) -> None:
        super().__init__()
        self.widths, self.temb_dim = tuple(widths), temb
        # rate → timestep: each base family's error variance σ²(q) per rate point (set from the training data,
        # in [-1, 1] units) and the factor by which the start noise exceeds it
        self.error_variance: dict[str, list[float]] = {}
        self.noise_scale = float(noise_scale)
        self.time = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.stem = nn.Conv2d(6 * 4, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i, w in enumerate(widths):
            self.down_blocks.append(ResBlock(w, w, temb))
            if i + 1 < len(widths):
                self.downsamples.append(nn.Conv2d(w, widths[i + 1], 3, stride=2, padding=1))
        self.middle = ResBlock(widths[-1], widths[-1], temb)
        self.upsamples = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            self.upsamples.append(nn.Conv2d(widths[i], widths[i - 1], 3, padding=1))
            self.up_blocks.append(ResBlock(2 * widths[i - 1], widths[i - 1], temb))
        self.out_norm = ChannelNorm(widths[0])
        self.out = nn.Conv2d(widths[0], 3 * 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # starts as the identity on c
        nn.init.zeros_(self.out.bias)

    def get_extra_state(self) -> dict:
        return {"error_variance": {k: list(v) for k, v in self.error_variance.items()}, "noise_scale": self.noise_scale}

    def set_extra_state(self, state: dict) -> None:
        self.error_variance = {k: [float(x) for x in v] for k, v in state["error_variance"].items()}
        self.noise_scale = float(state["noise_scale"])

    def start_timestep(self, family: str, quality: int, strength: float = 1.0) -> int:
        """The timestep decoding starts from for a file of ``family`` at rate point ``quality``."""
        return timestep_for_noise(strength * self.noise_scale * self.error_variance[family][quality])

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (pixel-unshuffle × the downsamplings)."""
        return 2 ** len(self.widths)

    def forward(self, x_t: Tensor, c: Tensor, t: Tensor) -> Tensor:
        """x₀ estimate (B, 3, H, W) in [-1, 1] units; ``t`` (B,) timesteps."""
        temb = self.time(_embed_timestep(t, self.temb_dim))
        h = self.stem(F.pixel_unshuffle(torch.cat([x_t, c], dim=1), 2))
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, temb)
            if i < len(self.downsamples):
                skips.append(h)
                h = self.downsamples[i](h)
        h = self.middle(h, temb)
        for upsample, block in zip(self.upsamples, self.up_blocks, strict=True):
            h = upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
        return c + F.pixel_shuffle(self.out(F.silu(self.out_norm(h))), 2)
