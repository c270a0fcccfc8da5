"""The checkerboard split of a latent (He et al. 2021): anchors, then non-anchors conditioned on them.

Anchors are the positions whose row + column is even; each non-anchor's four nearest neighbours are
anchors. A context network sees only decoded anchors (non-anchor positions zeroed) and is used only at
non-anchor positions, so decoding takes exactly two passes over the latent, whatever its size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neuralcodec.codecs.layers import LEAKY_SLOPE


def anchor_mask(height: int, width: int) -> Tensor:
    """bool (height, width): True at anchors ((row + column) even)."""
    rows = torch.arange(height).view(-1, 1)
    cols = torch.arange(width).view(1, -1)
    return (rows + cols) % 2 == 0


def gather(x: Tensor, mask: Tensor) -> Tensor:
    """(1, C, H, W) → (1, C, N, 1): the positions where ``mask`` is True, in raster order."""
    return x[:, :, mask].unsqueeze(-1)


def scatter(values: Tensor, mask: Tensor, out: Tensor) -> Tensor:
    """Write (1, C, N, 1) ``values`` into ``out`` (1, C, H, W) at the positions of ``mask``; returns ``out``."""
    out[:, :, mask] = values.squeeze(-1).to(out.dtype)
    return out


def keep(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with every position outside ``mask`` set to zero."""
    return x * mask.to(x.dtype)


class CheckerboardContextConv(nn.Conv2d):
    """k×k convolution that sees only anchors around a non-anchor position (a checkerboard-masked kernel).

    The kernel taps at odd (dy + dx) offsets are kept: those are anchors when the centre is a non-anchor.
    The mask is a buffer derived from the kernel size, not saved (it would be as large as the weights); the
    stored int8 weights have it applied.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        offsets = torch.arange(kernel_size) - kernel_size // 2
        taps = (offsets.view(-1, 1) + offsets.view(1, -1)) % 2 == 1
        self.register_buffer("mask", taps.float().expand_as(self.weight).clone(), persistent=False)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        state_dict.pop(prefix + "mask", None)  # checkpoints written before the mask stopped being saved
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def context_networks(M: int) -> tuple[nn.Sequential, nn.Sequential]:
    """``context_prediction`` (5×5 checkerboard-masked, M → 2M) and ``entropy_parameters`` (1×1 convolutions,
    (hyper parameters, context) 4M → 2M, a correction to the hyper parameters; its last layer starts at zero)."""
    context_prediction = nn.Sequential(CheckerboardContextConv(M, 2 * M, 5))
    entropy_parameters = nn.Sequential(
        nn.Conv2d(4 * M, 2 * M, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        nn.Conv2d(2 * M, 2 * M, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        nn.Conv2d(2 * M, 2 * M, 1),
    )
    nn.init.zeros_(entropy_parameters[-1].weight)
    nn.init.zeros_(entropy_parameters[-1].bias)
    return context_prediction, entropy_parameters
