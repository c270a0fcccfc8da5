"""Transforms of the mean-scale hyperprior (Minnen, Ballé, Toderici, NeurIPS 2018, without context model).

Layer for layer the same as CompressAI's ``MeanScaleHyperprior`` (so speed comparisons are like for like),
except that the hyper-synthesis uses LeakyReLU slope 1/128 instead of 0.01: a power of two keeps the
fixed-point hyper-decoder in :mod:`neuralcodec.codecs.fixed_point` exact (see ``docs/bitstream.md``).
"""

from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from compressai.ops import quantize_ste
from torch import Tensor, nn

# Lower bound on Gaussian scales (CompressAI's default); also the first entry of the scale table.
SCALE_MIN = 0.11
LEAKY_SLOPE = 1.0 / 128.0


class MeanScaleHyperpriorNet(nn.Module):
    """Analysis/synthesis transforms, hyper-transforms and training-time entropy models.

    ``forward`` is the differentiable training pass (additive noise for the rate terms, straight-through
    rounding for the synthesis input, as in Minnen & Singh 2020). Real coding lives in
    :class:`neuralcodec.codecs.hyperprior.HyperpriorCodec`.
    """

    downsampling = 64  # g_a (16) × h_a (4): input sides are padded to a multiple of this

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
            conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, M), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            deconv(M, M * 3 // 2), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )
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
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            params = self.h_s(z_tilde)
        scales, means = params.float().chunk(2, 1)
        _, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        y_hat = quantize_ste(y - means) + means
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat.float(), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def aux_loss(self) -> Tensor:
        """Loss that fits the factorized prior's quantiles (needed for its integer tables)."""
        return self.entropy_bottleneck.loss()
