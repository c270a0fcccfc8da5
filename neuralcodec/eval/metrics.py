"""Distortion and realism metrics on uint8 RGB tensors (3, H, W). Definitions in ``docs/metrics.md``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-R BT.601 luma weights on full-range R'G'B' (the Y of JPEG/JFIF)
_BT601 = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)


def bpp_of(num_bytes: int, image: Tensor) -> float:
    """Bits per pixel of a file of ``num_bytes`` for this image."""
    return 8.0 * num_bytes / (image.shape[-2] * image.shape[-1])


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def psnr_rgb(a: Tensor, b: Tensor) -> float:
    """PSNR in dB over all RGB samples (peak 255)."""
    return _psnr(torch.mean((a.double() - b.double()) ** 2).item())


def psnr_y(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B, full range, peak 255)."""
    ya = torch.einsum("c,chw->hw", _BT601, a.double())
    yb = torch.einsum("c,chw->hw", _BT601, b.double())
    return _psnr(torch.mean((ya - yb) ** 2).item())


def ms_ssim(a: Tensor, b: Tensor) -> float | None:
    """MS-SSIM (pytorch-msssim, 5 scales, data range 255); ``None`` for images under 161 px a side."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(a.shape[-2:]) < 161:  # 5 scales of an 11-tap window need > 160 px
        return None
    return float(_ms_ssim(a[None].double(), b[None].double(), data_range=255.0).item())


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on a dB scale: −10·log10(1 − MS-SSIM)."""
    if value is None:
        return None
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


def _laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """Laplacian pyramid of (1, 3, H, W) with the 5-tap binomial filter (as Karras et al.)."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype)
    kernel = (k[:, None] * k[None, :] / 256.0).expand(3, 1, 5, 5).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="reflect"), kernel, groups=3)

    pyramid, current = [], x
    for _ in range(levels - 1):
        down = blur(current)[:, :, ::2, ::2]
        up = F.interpolate(down, size=current.shape[-2:], mode="nearest")
        pyramid.append(current - blur(up))
        current = down
    pyramid.append(current)
    return pyramid


def patch_swd(a: Tensor, b: Tensor, patch: int = 7, patches_per_level: int = 2048, projections: int = 256,
              levels: int = 4, seed: int = 0) -> float:
    """Sliced Wasserstein distance between Laplacian-pyramid patch distributions of two images.

    Karras et al., ICLR 2018 (progressive GANs): per pyramid level, ``patches_per_level`` random 7×7×3
    patches from each image, normalised per channel with the original's patch statistics, compared by the
    SWD over ``projections`` random unit directions; the result is the mean over levels × 10³. Levels
    stop early when an image gets smaller than 16 px. Deterministic for a fixed ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    xa, xb = a[None].float() / 255.0, b[None].float() / 255.0
    distances = []
    for la, lb in zip(_laplacian_pyramid(xa, levels), _laplacian_pyramid(xb, levels), strict=True):
        h, w = la.shape[-2:]
        if min(h, w) < max(16, patch):
            break
        rows = torch.randint(0, h - patch + 1, (patches_per_level,), generator=gen)
        cols = torch.randint(0, w - patch + 1, (patches_per_level,), generator=gen)
        offsets = torch.arange(patch)
        r = (rows[:, None] + offsets[None, :])[:, :, None]
        c = (cols[:, None] + offsets[None, :])[:, None, :]
        pa = la[0][:, r, c].permute(1, 0, 2, 3).reshape(patches_per_level, 3, -1)
        pb = lb[0][:, r, c].permute(1, 0, 2, 3).reshape(patches_per_level, 3, -1)
        mean = pa.mean(dim=(0, 2), keepdim=True)
        std = pa.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        pa = ((pa - mean) / std).reshape(patches_per_level, -1)
        pb = ((pb - mean) / std).reshape(patches_per_level, -1)
        dirs = torch.randn(pa.shape[1], projections, generator=gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        proj_a, _ = torch.sort(pa @ dirs, dim=0)
        proj_b, _ = torch.sort(pb @ dirs, dim=0)
        distances.append(float((proj_a - proj_b).abs().mean()))
    return 1e3 * sum(distances) / len(distances) if distances else math.nan
