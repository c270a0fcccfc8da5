"""Member drawing for the lower ``vq`` rate points: each sub-codebook index decodes as one code of its group.

A sub-codebook entry stands for a k-means group of full-codebook codes. Decoding every position from the group's
centroid gives the decoder a mean of textures, which it renders flat; measured on BSDS500 validation images, a
decoder fine-tuned per sub-codebook did not recover the texture either (``docs/models.md``). Instead the decoder
draws, at each position, one member of the coded group from the restorer's probabilities restricted to that
group, and decodes the drawn full-codebook codes with the top point's decoder. The draw runs in two checkerboard
passes (the second half sees the codes the first half drew, as in a checkerboard context model) with a fixed
seed, so a file always decodes to the same pixels.

The drawn codes never select a probability table: the bitstream carries the group indices only, decoded exactly
from the stored integer prior; member drawing is part of the synthesis, like ``g_s``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.vq.grid import vectors_on_grid
from neuralcodec.codecs.vq.restore import IndexRestorer, windowed_logits

MEMBER_SEED = 0  # fixed: part of the format, a file's pixels must not depend on the caller


def _members_mask(groups: Tensor, assign: Tensor) -> Tensor:
    """(…, K) bool: which full-codebook codes belong to the group at each position of ``groups`` (…)."""
    return assign.view(*([1] * groups.dim()), -1) == groups[..., None]


@torch.no_grad()
def draw_members(restorer: IndexRestorer, groups: np.ndarray, centroids: Tensor, codebook: Tensor, assign: Tensor,
                 seed: int = MEMBER_SEED) -> Tensor:
    """Full-codebook codes (int64 (H, W)) drawn for a grid of sub-codebook indices ``groups`` (H, W).

    ``centroids``: the sub-codebook's vectors; ``codebook``: the full codebook; ``assign``: full code → group.
    Every drawn code belongs to the group at its position.
    """
    grid = torch.from_numpy(groups.astype(np.int64))
    h, w = grid.shape
    vectors = vectors_on_grid(grid, centroids).clone()
    codes = torch.zeros(h, w, dtype=torch.int64)
    checker = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2
    generator = torch.Generator().manual_seed(seed)
    for parity in (0, 1):
        drawn = checker == parity
        for rows, cols, logits in windowed_logits(restorer, vectors, drawn):
            inside = _members_mask(grid[rows, cols], assign)
            probs = torch.softmax(logits.float().masked_fill(~inside, -torch.inf), dim=-1)
            pick = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            here = drawn[rows, cols]
            codes[rows, cols][here] = pick.view(here.shape)[here]
        # the second pass sees the first pass's codes (their full-codebook vectors) instead of the centroids
        vectors[:, drawn] = codebook[codes[drawn]].T.to(vectors.dtype)
    return codes
