"""The four transforms of the mean-scale hyperprior, as the runtime codec uses them (no entropy models).

Layer for layer CompressAI's ``MeanScaleHyperprior`` (so speed comparisons are like for like), except that
the hyper-synthesis uses LeakyReLU slope 1/128 instead of 0.01 (exact fixed point). The training network
(:mod:`neuralcodec.codecs.hyperprior.net`) builds the same modules with CompressAI's trainable GDN.
"""

from __future__ import annotations

from torch import nn

from neuralcodec.codecs.stages.layers import GDN, LEAKY_SLOPE, conv, deconv

# The exact synthesis (``stages.exact_synthesis``) of g_s: (digits, fractional bits) of each deconvolution's input
# and the x² grid of each inverse GDN. Part of the format: the decoded pixels of every file depend on them. The
# ranges (±1024, ±128, ±16, ±8; x² ≤ 2**14, 2**8, 2**5) are ≥ 3× the largest values of any shipped rate point
# on BSDS500 training images.
SYNTHESIS_GRIDS = ((3, 11), (3, 13), (2, 9), (2, 10))
SYNTHESIS_SQUARE_BITS = (17, 23, 26)


class HyperpriorTransforms(nn.Module):
    """``g_a``, ``g_s``, ``h_a``, ``h_s`` with the model file's keys; ``gdn`` is the GDN class to use."""

    downsampling = 64  # g_a (16) × h_a (4): input sides are padded to a multiple of this

    def __init__(self, N: int = 128, M: int = 192, gdn: type[nn.Module] = GDN) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.g_a = nn.Sequential(
            conv(3, N), gdn(N), conv(N, N), gdn(N), conv(N, N), gdn(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), gdn(N, inverse=True), deconv(N, N), gdn(N, inverse=True),
            deconv(N, N), gdn(N, inverse=True), deconv(N, 3),
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
