"""Lost-index recovery for the ``vq`` family: a small masked-token transformer over the index grid.

Following "Extreme Image Compression using Fine-tuned VQGANs" (a transformer restores lost indices), with
MaskGIT's iterative decoding: the lost positions are predicted from the kept ones, the most confident
predictions are fixed first and the rest predicted again with them as context. One network serves every
sub-codebook: its input at a position is the vector of the (sub-)codebook entry there, and it predicts an
entry of the full codebook, whose probabilities are summed over each k-means group for a sub-codebook.

Large grids are restored in overlapping windows (attention cost and memory grow with the square of the
number of tokens). ``nearest_fill`` is the baseline a decoder without the network would use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor, nn

from neuralcodec.codecs.vq.grid import vectors_on_grid

RESTORE_WINDOW, RESTORE_MARGIN = 24, 6  # tokens
RESTORE_ITERATIONS = 4


class IndexRestorer(nn.Module):
    """Transformer encoder over a (B, H, W) token grid; input: code vectors and a lost mask; output: logits
    over the full codebook at every position."""

    def __init__(self, code_dim: int, codebook_size: int, width: int = 128, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(code_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(width))
        # a depthwise convolution gives the tokens their position (works for any grid size)
        self.position = nn.Conv2d(width, width, 3, padding=1, groups=width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, codebook_size)

    def forward(self, vectors: Tensor, lost: Tensor) -> Tensor:
        """Logits (B, H, W, K) from code vectors (B, D, H, W) and the lost mask (B, H, W)."""
        b, _, h, w = vectors.shape
        tokens = self.embed(vectors.permute(0, 2, 3, 1))
        tokens = torch.where(lost[..., None], self.mask_token.to(tokens.dtype), tokens)
        grid = tokens.permute(0, 3, 1, 2)
        tokens = (grid + self.position(grid)).flatten(2).transpose(1, 2)
        return self.head(self.norm(self.blocks(tokens))).view(b, h, w, -1)


def group_log_probs(logits: Tensor, assign: Tensor, groups: int) -> Tensor:
    """Log-probabilities (…, groups) of the k-means groups: full-codebook probabilities summed per group."""
    probs = torch.softmax(logits.float(), dim=-1)
    out = torch.zeros(*probs.shape[:-1], groups, dtype=probs.dtype)
    out.index_add_(probs.dim() - 1, assign, probs)
    return out.clamp_min(1e-12).log()


def drop_mask(shape: tuple[int, int], rate: float, seed: int) -> np.ndarray:
    """Exactly ``round(rate · n)`` lost positions, drawn with ``seed`` (bool (H, W))."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop rate must be in [0, 1), got {rate}")
    n = shape[0] * shape[1]
    lost = np.zeros(n, dtype=bool)
    lost[np.random.default_rng(seed).permutation(n)[: round(rate * n)]] = True
    return lost.reshape(shape)


def nearest_fill(indices: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Each lost index replaced by the nearest kept one (Euclidean distance on the grid)."""
    if not lost.any():
        return indices.copy()
    if lost.all():
        raise ValueError("every index is lost: nothing to copy from")
    rows, cols = distance_transform_edt(lost, return_distances=False, return_indices=True)
    return indices[rows, cols]


def _window_spans(size: int) -> list[tuple[int, int, int, int]]:
    """(start, stop) of each window's kept interior and of the window with its margins, along one axis."""
    if size <= RESTORE_WINDOW + 2 * RESTORE_MARGIN:
        return [(0, size, 0, size)]
    window, margin = RESTORE_WINDOW, RESTORE_MARGIN
    return [(s, min(s + window, size), max(s - margin, 0), min(s + window + margin, size))
            for s in range(0, size, window)]


@torch.no_grad()
def windowed_logits(restorer: Callable[[Tensor, Tensor], Tensor], vectors: Tensor,
                    lost: Tensor) -> Iterator[tuple[slice, slice, Tensor]]:
    """The restorer (or its integer twin) over a (D, H, W) grid window by window, each window seeing its margins:
    (rows, columns, logits (rows, columns, K)) of each window's interior; the interiors tile the grid."""
    _, h, w = vectors.shape
    for r0, r1, a0, a1 in _window_spans(h):
        for c0, c1, b0, b1 in _window_spans(w):
            logits = restorer(vectors[None, :, a0:a1, b0:b1], lost[None, a0:a1, b0:b1])[0]
            yield slice(r0, r1), slice(c0, c1), logits[r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]


def _predict(restorer: IndexRestorer, vectors: Tensor, lost: Tensor, assign: Tensor,
             groups: int) -> tuple[Tensor, Tensor]:
    """Best group and its log-probability at every position of a (D, H, W) grid."""
    _, h, w = vectors.shape
    best = torch.zeros(h, w, dtype=torch.int64)
    confidence = torch.zeros(h, w)
    for rows, cols, logits in windowed_logits(restorer, vectors, lost):
        confidence[rows, cols], best[rows, cols] = group_log_probs(logits, assign, groups).max(-1)
    return best, confidence


def restore(restorer: IndexRestorer, indices: np.ndarray, lost: np.ndarray, codebook: Tensor, assign: Tensor,
            iterations: int = RESTORE_ITERATIONS) -> np.ndarray:
    """The index grid (H, W) of a sub-codebook (``codebook``: its vectors; ``assign``: full code → its entry) with
    the ``lost`` positions predicted; kept positions are returned unchanged."""
    out = torch.from_numpy(indices.astype(np.int64))
    missing = torch.from_numpy(lost.copy())
    groups = codebook.shape[0]
    for step in range(iterations):
        remaining = int(missing.sum())
        if remaining == 0:
            break
        vectors = vectors_on_grid(out.clamp(0, groups - 1), codebook)
        best, confidence = _predict(restorer, vectors, missing, assign, groups)
        # fix the most confident share of what is left (all of it at the last step)
        take = remaining if step == iterations - 1 else max(1, remaining // (iterations - step))
        score = torch.where(missing, confidence, torch.tensor(-torch.inf))
        chosen = torch.topk(score.flatten(), take).indices
        out.view(-1)[chosen] = best.view(-1)[chosen]
        missing.view(-1)[chosen] = False
    return out.numpy().astype(indices.dtype)
