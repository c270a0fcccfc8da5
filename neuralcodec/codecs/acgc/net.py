"""Training network of the ACGC entropy model on the mean-scale hyperprior (the declaration:
:mod:`neuralcodec.codecs.acgc`; the networks: :mod:`neuralcodec.codecs.stages.acgc`).

The hyperprior's transforms and hyper-transforms are kept as they are, so a shipped hyperprior of the same λ
warm-starts all of them. Slices are coded in order, each in two checkerboard passes; every context sees the
earlier slices and the slice's anchors as the decoder will: quantized around their own means (straight-through
rounding).
"""

from __future__ import annotations

import torch
from compressai.ops import quantize_ste
from torch import Tensor, nn

from neuralcodec.codecs.checkerboard.net import TwoPassContextNet
from neuralcodec.codecs.stages.acgc import acgc_networks, linear_attention, slice_bounds, slice_hyper
from neuralcodec.codecs.stages.checkerboard import (
    ANCHOR_PHASES,
    NON_ANCHOR_PHASES,
    anchor_mask,
    context_at_non_anchors,
    interleave,
    keep,
    phases,
)


def phase_parameters(net: nn.Module, hyper: Tensor, extra: list[Tensor], which: tuple[tuple[int, int], ...],
                     spatial: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """(hyper parameters, ``net``'s correction) on each phase grid of ``which``, given the full-grid hyper
    parameters and inter-slice contexts and the spatial context of each grid; one network call for all grids."""
    hyper_grids = phases(hyper, which)
    extra_grids = [phases(e, which) for e in extra]
    inputs = [torch.cat([h, s, *(e[k] for e in extra_grids)], dim=1)
              for k, (h, s) in enumerate(zip(hyper_grids, spatial, strict=True))]
    deltas = net(torch.cat(inputs, dim=0)).chunk(len(which), 0)
    return list(zip(hyper_grids, deltas, strict=True))


class AcgcNet(TwoPassContextNet):
    """Mean-scale hyperprior + the ACGC entropy model (slices, checkerboard, channel and global context)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        for name, module in acgc_networks(M).items():
            setattr(self, name, module)
        self.bounds = slice_bounds(M)

    def inter_slice_context(self, index: int, hyper: Tensor, decoded: list[Tensor]) -> list[Tensor]:
        """[channel context, global context] of slice ``index`` (full grid) from its hyper parameters and the
        decoded earlier slices; ``[]`` for the first slice."""
        if index == 0:
            return []
        earlier = torch.cat(decoded, dim=1)
        channel = self.channel_context[str(index)](earlier)
        q, k, v = self.global_context[str(index)](torch.cat([hyper, earlier], dim=1)).chunk(3, 1)
        return [channel, linear_attention(q, k, v)]

    def _latent_rate_dense(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` over the whole grid (any size): each slice's two passes as full-size networks.
        The straightforward form of the model; the reference the phase-grid path is tested against."""
        anchors = anchor_mask(y.shape[2], y.shape[3]).to(y.device)
        decoded, scales, means = [], [], []
        for i, (first, end) in enumerate(self.bounds):
            hyper = slice_hyper(params, first, end)
            extra = self.inter_slice_context(i, hyper, decoded)
            net = self.slice_parameters[i]
            anchor_means = (hyper + net(torch.cat([hyper, torch.zeros_like(hyper), *extra], dim=1))).chunk(2, 1)[1]
            y_slice = y[:, first:end]
            y_anchors = quantize_ste(y_slice - anchor_means) + anchor_means
            spatial = keep(self.spatial_context[i](keep(y_anchors, anchors)), ~anchors)
            slice_scales, slice_means = (hyper + net(torch.cat([hyper, spatial, *extra], dim=1))).chunk(2, 1)
            decoded.append(quantize_ste(y_slice - slice_means) + slice_means)
            scales.append(slice_scales)
            means.append(slice_means)
        return self._rate_of(y, scales, means)

    def _latent_rate_by_phases(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` on the 2×2 phase grids (even sizes): the parameter networks run once per position,
        the spatial context only at non-anchors from anchors; the same numbers as the dense passes."""
        decoded, scales, means = [], [], []
        for i, (first, end) in enumerate(self.bounds):
            hyper = slice_hyper(params, first, end)
            extra = self.inter_slice_context(i, hyper, decoded)
            net = self.slice_parameters[i]
            y_slice = y[:, first:end]
            out: dict[tuple[int, int], Tensor] = {}
            anchor_grids = []
            zeros = [torch.zeros_like(h) for h in phases(hyper, ANCHOR_PHASES)]
            anchor_out = phase_parameters(net, hyper, extra, ANCHOR_PHASES, zeros)
            for phase, (h, delta), y_phase in zip(ANCHOR_PHASES, anchor_out, phases(y_slice, ANCHOR_PHASES),
                                                  strict=True):
                out[phase] = h + delta
                mu = out[phase].chunk(2, 1)[1]
                anchor_grids.append(quantize_ste(y_phase - mu) + mu)
            spatial = context_at_non_anchors(self.spatial_context[i][0], anchor_grids)
            other_out = phase_parameters(net, hyper, extra, NON_ANCHOR_PHASES, spatial)
            for phase, (h, delta) in zip(NON_ANCHOR_PHASES, other_out, strict=True):
                out[phase] = h + delta
            slice_scales, slice_means = interleave(out, y.shape[2], y.shape[3]).chunk(2, 1)
            decoded.append(quantize_ste(y_slice - slice_means) + slice_means)
            scales.append(slice_scales)
            means.append(slice_means)
        return self._rate_of(y, scales, means)
