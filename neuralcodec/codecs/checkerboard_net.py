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

from neuralcodec.codecs.hyperprior_net import MeanScaleHyperpriorNet
from neuralcodec.codecs.stages.checkerboard import anchor_mask, context_networks, keep


class CheckerboardHyperpriorNet(MeanScaleHyperpriorNet):
    """Mean-scale hyperprior + checkerboard context (see the module docstring)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction, self.entropy_parameters = context_networks(M)

    def conditional_parameters(self, params: Tensor, y_anchors: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) of every latent from the hyper parameters and the (quantized) anchor values.

        Both passes in one: anchors see context 0, non-anchors the context of the anchors around them.
        """
        anchors = anchor_mask(params.shape[2], params.shape[3]).to(params.device)
        ctx = keep(self.context_prediction(keep(y_anchors, anchors)), ~anchors)
        out = params + self.entropy_parameters(torch.cat([params, ctx], dim=1))
        scales, means = out.chunk(2, 1)
        return scales, means

    def latent_rate(self, y: Tensor, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Likelihoods of y (training noise) and the means, for a given decoded hyper-latent."""
        params = self.h_s(z_hat)
        anchors_scales, anchors_means = self.conditional_parameters(params, torch.zeros_like(y))
        # the context sees anchors as the decoder will: quantized around their own means
        y_anchors = quantize_ste(y - anchors_means) + anchors_means
        scales, means = self.conditional_parameters(params, y_anchors)
        _, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return likelihoods, means

    def forward_latent(self, y: Tensor) -> dict[str, Tensor]:
        """Rate of a given latent (cached ``g_a`` output) with the hyper-latent quantized as in coding.

        For training the context networks with every transform frozen (``CodecLitModule.trainable``).
        """
        with torch.no_grad():
            z = self.h_a(y)
            z_hat = self.entropy_bottleneck.quantize(z, "dequantize", self.entropy_bottleneck._get_medians())
        likelihoods, _ = self.latent_rate(y, z_hat)
        return {"likelihoods": {"y": likelihoods}}

    def forward(self, x: Tensor, autocast_bf16: bool = False) -> dict[str, Tensor]:
        """Training/validation pass: ``x_hat`` and the likelihoods of ``y`` and ``z``.

        The context networks run in float32 (they choose probability tables and are small).
        """
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            y = self.g_a(x)
        y = y.float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            z = self.h_a(y)
        z_tilde, z_likelihoods = self.entropy_bottleneck(z.float())
        y_likelihoods, means = self.latent_rate(y, z_tilde)
        y_hat = quantize_ste(y - means) + means
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat.float(), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}
