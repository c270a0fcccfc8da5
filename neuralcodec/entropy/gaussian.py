"""Gaussian-conditional symbols: scales quantized to a fixed table, one integer table per scale.

Only the integer index of a scale ever selects probabilities. The index is computed by comparing a
fixed-point scale (an integer) with integer thresholds, so it is exact on any machine.
"""

from __future__ import annotations

import math

import numpy as np

from neuralcodec.entropy.tables import IntegerTable, quantize_pmf

SCALE_TABLE_MIN = 0.11
SCALE_TABLE_MAX = 256.0
SCALE_TABLE_LEVELS = 64
TAIL_MASS = 1e-9  # probability mass left to the escape symbol: ±6.1 σ are coded directly


def scale_table(min_scale: float = SCALE_TABLE_MIN, max_scale: float = SCALE_TABLE_MAX,
                levels: int = SCALE_TABLE_LEVELS) -> np.ndarray:
    """Log-spaced scales (as CompressAI's ``get_scale_table``)."""
    return np.exp(np.linspace(math.log(min_scale), math.log(max_scale), levels))


def build_gaussian_tables(scales: np.ndarray, tail_mass: float = TAIL_MASS) -> list[IntegerTable]:
    """One integer table per scale for the zero-mean, unit-bin discretised Gaussian (export time only)."""
    from scipy.special import ndtr, ndtri  # export time only: decoding never needs SciPy

    tables = []
    half_width_sigmas = -ndtri(tail_mass / 2)
    for s in scales:
        r = int(math.ceil(s * half_width_sigmas))
        v = np.arange(-r, r + 1, dtype=np.float64)
        pmf = ndtr((v + 0.5) / s) - ndtr((v - 0.5) / s)
        tail = 2 * ndtr(-(r + 0.5) / s)
        tables.append(quantize_pmf(pmf, tail, -r))
    return tables


def scale_thresholds(scales: np.ndarray) -> np.ndarray:
    """Thresholds between neighbouring table scales: geometric midpoints (float64, stored in model files)."""
    scales = np.asarray(scales, dtype=np.float64)
    return np.sqrt(scales[:-1] * scales[1:])


def scale_indexes(scales: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Table index (uint8) of every scale: the nearest table scale in log domain.

    ``scales`` must be computed exactly (e.g. the dyadic outputs of a fixed-point network) and
    ``thresholds`` loaded, never recomputed, so this comparison gives the same index on every machine.
    """
    return np.searchsorted(thresholds, np.asarray(scales, dtype=np.float64), side="right").astype(np.uint8)


class GaussianScaleTables:
    """Integer tables of zero-mean discretised Gaussians, one per table scale, and the index rule.

    The entropy side of a Gaussian conditional (as TF-Compression's ``LocationScaleIndexedEntropyModel``
    or CompressAI's ``GaussianConditional.build_indexes``): a codec gives exact scales, this class
    turns them into table indexes; means are the codec's business (subtracted before coding).
    """

    def __init__(self, tables: list[IntegerTable], thresholds: np.ndarray) -> None:
        if len(tables) != len(thresholds) + 1 or len(tables) > 256:
            raise ValueError("Gaussian tables and scale thresholds disagree")
        self.tables, self.thresholds = tables, np.asarray(thresholds, dtype=np.float64)

    @classmethod
    def build(cls, scales: np.ndarray | None = None) -> GaussianScaleTables:
        """Tables and thresholds for a scale table (export time only: uses floating-point erf)."""
        scales = scale_table() if scales is None else scales
        return cls(build_gaussian_tables(scales), scale_thresholds(scales))

    def indexes(self, scales: np.ndarray) -> np.ndarray:
        """Table index of every (exact) scale."""
        return scale_indexes(scales, self.thresholds)
