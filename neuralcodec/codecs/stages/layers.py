"""Inference layers of the transforms, without CompressAI: ``codec encode`` / ``decode`` start fast.

``GDN`` has CompressAI's state-dict layout (``beta``, ``gamma`` and the non-negative reparametrizations'
``pedestal`` and ``lower_bound.bound`` buffers) and computes the same values in the same order, so a model
file trained with CompressAI's layer loads and codes identically (``tests/test_layers.py``). It is for
inference: the lower bound has no straight-through gradient; training keeps CompressAI's layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import conv2d

# The hyper-synthesis LeakyReLU slope: a power of two keeps the fixed-point hyper-decoder exact.
LEAKY_SLOPE = 1.0 / 128.0


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """Strided convolution with "same" padding (CompressAI's ``conv``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the size by ``stride`` (CompressAI's ``deconv``)."""
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, output_padding=stride - 1,
                              padding=kernel_size // 2)


class _LowerBound(nn.Module):
    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.Tensor([float(bound)]))


class _NonNegative(nn.Module):
    """``max(x, bound)² − pedestal``, with CompressAI's ``NonNegativeParametrizer`` buffers."""

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.register_buffer("pedestal", torch.Tensor([reparam_offset**2]))
        self.lower_bound = _LowerBound((minimum + reparam_offset**2) ** 0.5)

    def forward(self, x: Tensor) -> Tensor:
        return torch.max(x, self.lower_bound.bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016); ``inverse=True`` is IGDN."""

    def __init__(self, in_channels: int, inverse: bool = False, beta_min: float = 1e-6) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_reparam = _NonNegative(minimum=beta_min)
        self.beta = nn.Parameter(torch.ones(in_channels))
        self.gamma_reparam = _NonNegative()
        self.gamma = nn.Parameter(torch.eye(in_channels))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(channels, channels, 1, 1)
        norm = conv2d(x**2, gamma, beta)
        norm = torch.sqrt(norm) if self.inverse else torch.rsqrt(norm)
        return x * norm
