"""Operations on rate–distortion curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def interpolate_at_rate(bpp: Sequence[float], quality: Sequence[float], at_bpp: float) -> float:
    """Distortion of a curve at ``at_bpp``: piecewise-linear in log(bpp) between measured points.

    Raises ``ValueError`` outside the curve's measured rate range (no extrapolation).
    """
    order = np.argsort(bpp)
    x = np.log(np.asarray(bpp, dtype=np.float64)[order])
    y = np.asarray(quality, dtype=np.float64)[order]
    t = float(np.log(at_bpp))
    if not x[0] <= t <= x[-1]:
        raise ValueError(f"{at_bpp:.4f} bpp is outside the curve's range {np.exp(x[0]):.4f}–{np.exp(x[-1]):.4f}")
    return float(np.interp(t, x, y))
