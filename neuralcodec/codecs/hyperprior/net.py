"""Training network of the mean-scale hyperprior (Minnen, Ballé, Toderici, NeurIPS 2018, without context model).

The transforms are :class:`~neuralcodec.codecs.hyperprior.transforms.HyperpriorTransforms` with CompressAI's
trainable GDN; CompressAI's entropy models give the training-time likelihoods.
"""

from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.ops import quantize_ste
from torch import Tensor

from neuralcodec.codecs.hyperprior.transforms import HyperpriorTransforms

# Lower bound on Gaussian scales (CompressAI's default); also the first entry of the scale table.
SCALE_MIN = 0.11


class MeanScaleHyperpriorNet(HyperpriorTransforms):
    """Analysis/synthesis transforms, hyper-transforms and training-time entropy models.

    ``forward`` is the differentiable training pass (additive noise for the rate terms, straight-through
    rounding for the synthesis input, as in Minnen & Singh 2020). Real coding lives in
    :class:`neuralcodec.codecs.hyperprior.codec.HyperpriorCodec`, on
    :class:`~neuralcodec.codecs.hyperprior.transforms.HyperpriorTransforms` with the same weights.
    """

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M, gdn=GDN)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None, scale_bound=SCALE_MIN)

    def forward(self, x: Tensor, autocast_bf16: bool = False) -> dict[str, Tensor]:
        """Training/validation pass: returns ``x_hat`` and the likelihoods of ``y`` and ``z``.

        ``autocast_bf16`` runs the four transforms in bfloat16 (≈2× faster on AVX512-BF16 CPUs) while
        everything that touches quantization or likelihoods stays in float32.
        """
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            y = self.g_a(x)
        y = y.float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            z = self.h_a(y)
        z_tilde, z_likelihoods = self.entropy_bottleneck(z.float())
        y_likelihoods, means = self.latent_rate(y, z_tilde, autocast_bf16)
        y_hat = quantize_ste(y - means) + means
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat.float(), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def latent_rate(self, y: Tensor, z_hat: Tensor, autocast_bf16: bool = False) -> tuple[Tensor, Tensor]:
        """Likelihoods of y (training noise) and the means subtracted before rounding, given the hyper-latent."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            params = self.h_s(z_hat)
        scales, means = params.float().chunk(2, 1)
        _, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return likelihoods, means

    def forward_latent(self, y: Tensor) -> dict[str, Tensor]:
        """Rate of a given latent (cached ``g_a`` output) with the hyper-latent quantized as in coding.

        For training the entropy-model side with the transforms frozen (``CodecLitModule.trainable``): the
        distortion does not change then, so only y's rate is returned.
        """
        with torch.no_grad():
            z = self.h_a(y)
            z_hat = self.entropy_bottleneck.quantize(z, "dequantize", self.entropy_bottleneck._get_medians())
        likelihoods, _ = self.latent_rate(y, z_hat)
        return {"likelihoods": {"y": likelihoods}}

    def aux_loss(self) -> Tensor:
        """Loss that fits the factorized prior's quantiles (needed for its integer tables)."""
        return self.entropy_bottleneck.loss()
