"""Categorical symbols (e.g. VQ codebook indexes) with given integer frequencies."""

from __future__ import annotations

import numpy as np

from neuralcodec.entropy.tables import IntegerTable, quantize_pmf


def table_from_counts(counts: np.ndarray, offset: int = 0) -> IntegerTable:
    """Integer table for values ``offset … offset + len(counts) - 1`` from non-negative integer counts.

    Counts are rescaled to the coder's precision (every value stays codable) and the escape symbol gets
    the minimum frequency, so out-of-range values still round-trip.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be a non-empty 1-D array of non-negative numbers with a positive sum")
    return quantize_pmf(counts.astype(np.float64) / counts.sum(), 0.0, offset)
