"""Member drawing for the lower ``vq`` rate points: each sub-codebook index decodes as one code of its group.

A sub-codebook entry stands for a k-means group of full-codebook codes. Decoding every position from the group's
centroid gives the decoder a mean of textures, which it renders flat; measured on BSDS500 validation images, a
decoder fine-tuned per sub-codebook did not recover the texture either (``docs/models.md``). Instead the decoder
draws, at each position, one member of the coded group from the restorer's probabilities restricted to that
group, and decodes the drawn full-codebook codes with the top point's decoder. The draw runs in two checkerboard
passes (the second half sees the codes the first half drew, as in a checkerboard context model) with a fixed
seed, through the restorer's integer twin and an integer sampler (:mod:`neuralcodec.codecs.vq.exact_restorer`), so
a file decodes to the same pixels on every machine.

The drawn codes never select a probability table: the bitstream carries the group indices only, decoded exactly
from the stored integer prior; member drawing is part of the synthesis, like ``g_s``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.vq.exact_restorer import LOGIT_GRID, ExactRestorer, SoftmaxWeights
from neuralcodec.codecs.vq.grid import vectors_on_grid
from neuralcodec.codecs.vq.restore import windowed_logits

MEMBER_SEED = 0  # fixed: part of the format, a file's pixels must not depend on the caller


def _members_mask(groups: Tensor, assign: Tensor) -> Tensor:
    """(…, K) bool: which full-codebook codes belong to the group at each position of ``groups`` (…)."""
    return assign.view(*([1] * groups.dim()), -1) == groups[..., None]


@torch.no_grad()
def draw_members(restorer: ExactRestorer, groups: np.ndarray, centroids: Tensor, codebook: Tensor, assign: Tensor,
                 seed: int = MEMBER_SEED) -> Tensor:
    """Full-codebook codes (int64 (H, W)) drawn for a grid of sub-codebook indices ``groups`` (H, W), the same on
    every machine (see :mod:`neuralcodec.codecs.vq.exact_restorer`).

    ``centroids``: the sub-codebook's vectors; ``codebook``: the full codebook; ``assign``: full code → group.
    Every drawn code belongs to the group at its position.
    """
    grid = torch.from_numpy(groups.astype(np.int64))
    h, w = grid.shape
    vectors = vectors_on_grid(grid, centroids).clone()
    codes = torch.zeros(h, w, dtype=torch.int64)
    checker = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2
    generator = np.random.Generator(np.random.PCG64(seed))
    weights_of = SoftmaxWeights(1.0 / float(1 << LOGIT_GRID[1]))
    for parity in (0, 1):
        drawn = checker == parity
        for rows, cols, logits in windowed_logits(restorer, vectors, drawn):
            here = drawn[rows, cols]
            weights = weights_of(logits[here], _members_mask(grid[rows, cols][here], assign))
            cumulative = weights.long().cumsum(-1)  # exact: int64
            below = torch.from_numpy(generator.integers(0, cumulative[:, -1].numpy()))
            codes[rows, cols][here] = torch.searchsorted(cumulative, below[:, None], right=True)[:, 0]
        # the second pass sees the first pass's codes (their full-codebook vectors) instead of the centroids
        vectors[:, drawn] = codebook[codes[drawn]].T.to(vectors.dtype)
    return codes
