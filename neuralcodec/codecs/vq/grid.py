"""Index grids ⇄ code vectors of the ``vq`` family: nearest-codebook search and lookup on (…, D, H, W) grids."""

from __future__ import annotations

import torch
from torch import Tensor


def nearest_code(vectors: Tensor, codebook: Tensor, chunk: int = 8192) -> Tensor:
    """Index of the nearest row of ``codebook`` for each row of ``vectors`` (squared Euclidean distance), in
    chunks so a large image never builds its whole distance matrix."""
    norms = (codebook * codebook).sum(1)
    out = torch.empty(vectors.shape[0], dtype=torch.int64, device=vectors.device)
    for start in range(0, vectors.shape[0], chunk):
        v = vectors[start : start + chunk]
        out[start : start + chunk] = (norms[None, :] - 2.0 * v @ codebook.T).argmin(1)
    return out


def nearest_on_grid(e: Tensor, codebook: Tensor) -> Tensor:
    """Index grid (int64 (…, H, W)) of the nearest codebook rows to the code vectors ``e`` (…, D, H, W)."""
    flat = e.movedim(-3, -1)
    return nearest_code(flat.reshape(-1, flat.shape[-1]), codebook).view(flat.shape[:-1])


def vectors_on_grid(indices: Tensor, codebook: Tensor) -> Tensor:
    """Code vectors (…, D, H, W) of an index grid (…, H, W)."""
    return codebook[indices].movedim(-1, -3)
