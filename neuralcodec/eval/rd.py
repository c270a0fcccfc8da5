"""Operations on rate–distortion curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def interpolate_at_rate(
    bpp: Sequence[float], quality: Sequence[float], at_bpp: float, *, extrapolate: bool = False
) -> float:
    """Distortion of a curve at ``at_bpp``: piecewise-linear in log(bpp) between measured points.

    Outside the curve's measured rate range this raises ``ValueError``, unless ``extrapolate`` is set: then the
    first or last segment is extended (a new rate point usually lands just beyond the old curve's end, where
    ``np.interp``'s clamping to the end value would overstate its gain).
    """
    order = np.argsort(bpp)
    x = np.log(np.asarray(bpp, dtype=np.float64)[order])
    y = np.asarray(quality, dtype=np.float64)[order]
    t = float(np.log(at_bpp))
    if x[0] <= t <= x[-1]:
        return float(np.interp(t, x, y))
    if not extrapolate or len(x) < 2:
        raise ValueError(f"{at_bpp:.4f} bpp is outside the curve's range {np.exp(x[0]):.4f}–{np.exp(x[-1]):.4f}")
    i = 0 if t < x[0] else len(x) - 2
    slope = (y[i + 1] - y[i]) / (x[i + 1] - x[i])
    return float(y[i] + slope * (t - x[i]))
