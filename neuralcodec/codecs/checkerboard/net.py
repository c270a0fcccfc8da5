"""Training network of the checkerboard context model on the mean-scale hyperprior (He et al., CVPR 2021).

The hyperprior's transforms and hyper-transforms are kept as they are (so a shipped hyperprior warm-starts
all of them); two networks are added:

- ``context_prediction``: a 5×5 checkerboard-masked convolution over the decoded anchors (M → 2M);
- ``entropy_parameters``: 1×1 convolutions from (hyper parameters, context) to a *correction* of the hyper
  parameters: (scales, means) = h_s(ẑ) + entropy_parameters(h_s(ẑ), context). Its last layer starts at zero,
  so an untrained context model codes exactly as the hyperprior it was warm-started from.

Anchors get context 0. Unlike He et al., who predict (means, scales) from scratch, the correction keeps the
hyperprior's solution as the starting point, which matters when training time is short.
"""

from __future__ import annotations

import torch
from compressai.ops import quantize_ste
from torch import Tensor

from neuralcodec.codecs.hyperprior.net import MeanScaleHyperpriorNet
from neuralcodec.codecs.stages.checkerboard import (
    ANCHOR_PHASES,
    NON_ANCHOR_PHASES,
    anchor_mask,
    context_at_non_anchors,
    context_networks,
    interleave,
    keep,
    phases,
)


class TwoPassContextNet(MeanScaleHyperpriorNet):
    """A hyperprior whose latent is coded in checkerboard passes (anchors, then non-anchors): y's rate is
    computed on the 2×2 phase grids for even latent sizes (each network only where its output is used) and on
    the whole grid otherwise; a family implements both, and tests hold them equal."""

    def latent_rate(self, y: Tensor, z_hat: Tensor, autocast_bf16: bool = False) -> tuple[Tensor, Tensor]:
        """Likelihoods of y (training noise) and the means, for a given decoded hyper-latent.

        Runs in float32 whatever ``autocast_bf16`` says: these networks choose probability tables."""
        params = self.h_s(z_hat)
        if y.shape[2] % 2 == 0 and y.shape[3] % 2 == 0:
            return self._latent_rate_by_phases(y, params)
        return self._latent_rate_dense(y, params)

    def _latent_rate_dense(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _latent_rate_by_phases(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _rate_of(self, y: Tensor, scales: list[Tensor] | Tensor,
                 means: list[Tensor] | Tensor) -> tuple[Tensor, Tensor]:
        """Likelihoods of y under (scales, means), given whole or as channel slices in order, and the means."""
        if isinstance(means, list):
            scales, means = torch.cat(scales, dim=1), torch.cat(means, dim=1)
        _, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return likelihoods, means


class CheckerboardHyperpriorNet(TwoPassContextNet):
    """Mean-scale hyperprior + checkerboard context (see the module docstring)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction, self.entropy_parameters = context_networks(M)

    def conditional_parameters(self, params: Tensor, y_anchors: Tensor | None) -> tuple[Tensor, Tensor]:
        """(scales, means) of every latent from the hyper parameters and the (quantized) anchor values.

        Both passes in one: anchors see context 0, non-anchors the context of the anchors around them.
        ``y_anchors=None`` gives every position context 0 (all that the anchors' parameters need; it skips
        the context convolution, the costliest layer of a training step).
        """
        if y_anchors is None:
            ctx = torch.zeros_like(params)
        else:
            anchors = anchor_mask(params.shape[2], params.shape[3]).to(params.device)
            ctx = keep(self.context_prediction(keep(y_anchors, anchors)), ~anchors)
        out = params + self.entropy_parameters(torch.cat([params, ctx], dim=1))
        scales, means = out.chunk(2, 1)
        return scales, means

    def _latent_rate_dense(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` over the whole grid (any size): both passes as full-size convolutions."""
        _, anchors_means = self.conditional_parameters(params, None)
        # the context sees anchors as the decoder will: quantized around their own means
        y_anchors = quantize_ste(y - anchors_means) + anchors_means
        scales, means = self.conditional_parameters(params, y_anchors)
        return self._rate_of(y, scales, means)

    def _latent_rate_by_phases(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` on the 2×2 phase grids (even sizes): each network runs only where its output is
        used — the entropy parameters once per position, the context convolution at non-anchors from anchors
        (``context_at_non_anchors``) — ≈ 3× less work per training step than the dense passes, same numbers."""
        out: dict[tuple[int, int], Tensor] = {}
        anchor_params = phases(params, ANCHOR_PHASES)
        anchor_out = self.entropy_parameters(torch.cat(
            [torch.cat([p, torch.zeros_like(p)], dim=1) for p in anchor_params], dim=0))
        y_anchors = []
        for phase, p, delta, y_phase in zip(ANCHOR_PHASES, anchor_params, anchor_out.chunk(2, 0),
                                            phases(y, ANCHOR_PHASES), strict=True):
            out[phase] = p + delta
            means = out[phase].chunk(2, 1)[1]
            # the context sees anchors as the decoder will: quantized around their own means
            y_anchors.append(quantize_ste(y_phase - means) + means)
        contexts = context_at_non_anchors(self.context_prediction[0], y_anchors)
        other_params = phases(params, NON_ANCHOR_PHASES)
        other_out = self.entropy_parameters(torch.cat(
            [torch.cat([p, c], dim=1) for p, c in zip(other_params, contexts, strict=True)], dim=0))
        for phase, p, delta in zip(NON_ANCHOR_PHASES, other_params, other_out.chunk(2, 0), strict=True):
            out[phase] = p + delta
        scales, means = interleave(out, y.shape[2], y.shape[3]).chunk(2, 1)
        return self._rate_of(y, scales, means)
