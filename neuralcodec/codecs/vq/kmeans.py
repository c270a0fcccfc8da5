"""Seeded, deterministic k-means of a codebook into a smaller one (the ``vq`` family's lower rate points).

As in "Extreme Image Compression using Fine-tuned VQGANs": the K code vectors are clustered into k groups; a
lower rate point codes the group index and decodes from the group's centroid. The clustering runs once, when a
model is made; the mapping (code → group) and the centroids are stored in the model file, and decoding only
reads them.

Determinism: k-means++ seeding from ``numpy.random.default_rng(seed)``, a fixed number of Lloyd iterations, and
distances summed elementwise in float64 (no BLAS matrix product, whose summation order varies between
libraries), so the same codebook and seed give the same mapping.
"""

from __future__ import annotations

import numpy as np

LLOYD_ITERATIONS = 60


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


def kmeans(points: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None,
           iterations: int = LLOYD_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(assignment int64 (n,), centroids float64 (k, d)) of ``points`` (n, d), optionally weighted.

    ``weights`` (e.g. how often each code is used) weight the centroids and the k-means++ draw; every
    cluster keeps at least one point (an emptied cluster takes the point farthest from its centroid).
    """
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"cannot make {k} clusters of {n} points")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64) + 1e-9
    rng = np.random.default_rng(seed)
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.choice(n, p=w / w.sum())]
    closest = _squared_distances(points, centres[:1])[:, 0]
    for i in range(1, k):  # k-means++: draw proportional to weight × squared distance
        p = w * closest
        pick = rng.choice(n, p=p / p.sum()) if p.sum() > 0 else int(rng.integers(n))
        centres[i] = points[pick]
        closest = np.minimum(closest, _squared_distances(points, centres[i : i + 1])[:, 0])
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        distances = _squared_distances(points, centres)
        assign = distances.argmin(axis=1)
        for c in range(k):
            members = assign == c
            if not members.any():  # refill an empty cluster with the worst-served point
                far = int(distances[np.arange(n), assign].argmax())
                assign[far] = c
                members = assign == c
            centres[c] = (w[members, None] * points[members]).sum(0) / w[members].sum()
    return assign, centres
