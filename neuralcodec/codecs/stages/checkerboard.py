"""The checkerboard split of a latent (He et al. 2021): anchors, then non-anchors conditioned on them.

Anchors are the positions whose row + column is even; each non-anchor's four nearest neighbours are
anchors. A context network sees only decoded anchors (non-anchor positions zeroed) and is used only at
non-anchor positions, so decoding takes exactly two passes over the latent, whatever its size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.codecs.stages.layers import LEAKY_SLOPE


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


# The 2×2 phases of a latent: anchors are phases (0, 0) and (1, 1), non-anchors (0, 1) and (1, 0).
ANCHOR_PHASES = ((0, 0), (1, 1))
NON_ANCHOR_PHASES = ((0, 1), (1, 0))


def phases(x: Tensor, which: tuple[tuple[int, int], ...]) -> list[Tensor]:
    """The sub-grids ``x[..., a::2, b::2]`` of the given phases (each H/2 × W/2 for even H, W)."""
    return [x[:, :, a::2, b::2] for a, b in which]


def interleave(grids: dict[tuple[int, int], Tensor], height: int, width: int) -> Tensor:
    """Inverse of :func:`phases` over all four phases: one (B, C, height, width) tensor."""
    first = next(iter(grids.values()))
    out = first.new_empty(first.shape[0], first.shape[1], height, width)
    for (a, b), grid in grids.items():
        out[:, :, a::2, b::2] = grid
    return out


def context_at_non_anchors(conv: CheckerboardContextConv, anchor_grids: list[Tensor]) -> list[Tensor]:
    """``conv`` over a latent whose non-anchors are zero, evaluated only at the non-anchors: one output grid
    per :data:`NON_ANCHOR_PHASES`, from the grids of :data:`ANCHOR_PHASES` (even latent sizes).

    The same numbers as the dense masked convolution at those positions, with ≈ 1/4 of its work: half of
    its taps see non-anchors (zero), and half of its outputs (the anchors') are never used. Used in training,
    where this convolution dominates a step; the exact runtime codec runs the dense masked kernel.
    """
    weight = conv.weight * conv.mask
    r = weight.shape[-1] // 2
    outputs = []
    for ao, bo in NON_ANCHOR_PHASES:
        total = None
        for (ai, bi), grid in zip(ANCHOR_PHASES, anchor_grids, strict=True):
            # tap (dy, dx) of output (2i + ao, 2j + bo) reads input phase (ai, bi) at grid offset (oy, ox)
            taps = [(dy, dx, (ao + dy - ai) // 2, (bo + dx - bi) // 2)
                    for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                    if (ao + dy - ai) % 2 == 0 and (bo + dx - bi) % 2 == 0]
            oy0, oy1 = min(t[2] for t in taps), max(t[2] for t in taps)
            ox0, ox1 = min(t[3] for t in taps), max(t[3] for t in taps)
            kernel = weight.new_zeros(weight.shape[0], weight.shape[1], oy1 - oy0 + 1, ox1 - ox0 + 1)
            for dy, dx, oy, ox in taps:
                kernel[:, :, oy - oy0, ox - ox0] = weight[:, :, dy + r, dx + r]
            part = F.conv2d(F.pad(grid, (-ox0, ox1, -oy0, oy1)), kernel)
            total = part if total is None else total + part
        outputs.append(total + conv.bias.view(1, -1, 1, 1))
    return outputs
