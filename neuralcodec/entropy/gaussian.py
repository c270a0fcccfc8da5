"""Gaussian-conditional symbols: scales quantized to a fixed table, one integer table per scale.

Only the integer index of a scale ever selects probabilities. The index is computed by comparing a
fixed-point scale (an integer) with integer thresholds, so it is exact on any machine.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

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
    tables = []
    half_width_sigmas = -ndtri(tail_mass / 2)
    for s in scales:
        r = int(math.ceil(s * half_width_sigmas))
        v = np.arange(-r, r + 1, dtype=np.float64)
        pmf = ndtr((v + 0.5) / s) - ndtr((v - 0.5) / s)
        tail = 2 * ndtr(-(r + 0.5) / s)
        tables.append(quantize_pmf(pmf, tail, -r))
    return tables


def index_thresholds(scales: np.ndarray, frac_bits: int) -> np.ndarray:
    """Integer thresholds between neighbouring table scales (geometric midpoints), in units of 2**-frac_bits.

    A fixed-point scale ``s`` selects table ``searchsorted(thresholds, s, 'right')``: the nearest scale
    in log domain.
    """
    mids = np.sqrt(scales[:-1] * scales[1:])
    return np.floor(mids * (1 << frac_bits)).astype(np.int64)


def scale_indexes(fixed_point_scales: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Table index of every fixed-point (integer-valued) scale — integer comparisons only."""
    return np.searchsorted(thresholds, np.asarray(fixed_point_scales, dtype=np.int64), side="right")
