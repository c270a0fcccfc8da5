"""Training network of the ACGC entropy model on the mean-scale hyperprior (the declaration:
:mod:`neuralcodec.codecs.acgc`; the networks: :mod:`neuralcodec.codecs.stages.acgc`).

The hyperprior's transforms and hyper-transforms are kept as they are, so a shipped hyperprior of the same λ
warm-starts all of them. Slices are coded in order, each in two checkerboard passes (the training twin of the
sliced-checkerboard stage, :class:`~neuralcodec.codecs.stages.sliced_checkerboard.SlicedCheckerboardTwin`); every
context sees the earlier slices and the slice's anchors as the decoder will: quantized around their own means
(straight-through rounding).
"""

from __future__ import annotations

import torch
from torch import Tensor

from neuralcodec.codecs.checkerboard.net import TwoPassContextNet
from neuralcodec.codecs.stages.acgc import acgc_networks, linear_attention, slice_bounds
from neuralcodec.codecs.stages.sliced_checkerboard import SlicedCheckerboardTwin


class AcgcNet(TwoPassContextNet):
    """Mean-scale hyperprior + the ACGC entropy model (slices, checkerboard, channel and global context)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        for name, module in acgc_networks(M).items():
            setattr(self, name, module)
        self.bounds = slice_bounds(M)

    def context_stage(self) -> SlicedCheckerboardTwin:
        """The 5 slices, each with its spatial context and parameter network, and the inter-slice contexts."""
        return SlicedCheckerboardTwin(self.bounds, self.spatial_context, self.slice_parameters,
                                      self.inter_slice_context)

    def inter_slice_context(self, index: int, hyper: Tensor, decoded: list[Tensor]) -> list[Tensor]:
        """[channel context, global context] of slice ``index`` (full grid) from its hyper parameters and the
        decoded earlier slices; ``[]`` for the first slice."""
        if index == 0:
            return []
        earlier = torch.cat(decoded, dim=1)
        channel = self.channel_context[str(index)](earlier)
        q, k, v = self.global_context[str(index)](torch.cat([hyper, earlier], dim=1)).chunk(3, 1)
        return [channel, linear_attention(q, k, v)]
