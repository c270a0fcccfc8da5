"""Distortion metrics on uint8 RGB tensors (3, H, W)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def psnr_rgb(a: Tensor, b: Tensor) -> float:
    """PSNR in dB over all RGB samples (peak 255); ``inf`` for identical images."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def bpp_of(num_bytes: int, image: Tensor) -> float:
    """Bits per pixel of a file of ``num_bytes`` for this image."""
    return 8.0 * num_bytes / (image.shape[-2] * image.shape[-1])
