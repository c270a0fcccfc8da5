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

from torch import Tensor

from neuralcodec.codecs.hyperprior.net import MeanScaleHyperpriorNet
from neuralcodec.codecs.stages.checkerboard import context_networks
from neuralcodec.codecs.stages.sliced_checkerboard import SlicedCheckerboardTwin


class TwoPassContextNet(MeanScaleHyperpriorNet):
    """A hyperprior whose latent is coded by a sliced-checkerboard stage (slices, each in checkerboard passes:
    anchors, then non-anchors); a family gives the stage's training twin (:meth:`context_stage`). y's rate is
    computed on the 2×2 phase grids for even latent sizes (each network only where its output is used) and on
    the whole grid otherwise; tests hold the two equal."""

    def context_stage(self) -> SlicedCheckerboardTwin:
        """The training twin of this family's stage, on this net's context networks."""
        raise NotImplementedError

    def latent_rate(self, y: Tensor, z_hat: Tensor, autocast_bf16: bool = False) -> tuple[Tensor, Tensor]:
        """Likelihoods of y (training noise) and the means, for a given decoded hyper-latent.

        Runs in float32 whatever ``autocast_bf16`` says: these networks choose probability tables."""
        return self._rate_of(y, *self.context_stage()(y, self.h_s(z_hat)))

    def _latent_rate_dense(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` over the whole grid (any size): the stage's dense passes."""
        return self._rate_of(y, *self.context_stage().dense(y, params))

    def _latent_rate_by_phases(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_rate` on the 2×2 phase grids (even sizes): the same numbers as the dense passes."""
        return self._rate_of(y, *self.context_stage().by_phases(y, params))

    def _rate_of(self, y: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
        """Likelihoods of y under (scales, means), and the means."""
        _, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return likelihoods, means


class CheckerboardHyperpriorNet(TwoPassContextNet):
    """Mean-scale hyperprior + checkerboard context (see the module docstring): the sliced-checkerboard stage with
    one slice of all M channels and no inter-slice context."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction, self.entropy_parameters = context_networks(M)

    def context_stage(self) -> SlicedCheckerboardTwin:
        """One slice: anchors see context 0, non-anchors ``context_prediction`` of the anchors around them."""
        return SlicedCheckerboardTwin([(0, self.M)], [self.context_prediction], [self.entropy_parameters])
