"""The rate-point table of the ``nerv`` family: what each quality sets (no torch, so the declaration reads it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NervQuality:
    """A quality's target rate (the network gets about ``bpp`` · pixels · frames / (``weight_bits`` − 1)
    parameters: entropy coding saves about a bit per weight, so a quality means the same rate on a small and a
    large clip), its weight precision and the weight of the rate term while fitting (loss MSE + bpp / (λ·255²))."""

    bpp: float
    weight_bits: int
    lmbda: float


QUALITIES: dict[int, NervQuality] = {
    0: NervQuality(bpp=0.03, weight_bits=6, lmbda=0.0018),
    1: NervQuality(bpp=0.06, weight_bits=6, lmbda=0.0035),
    2: NervQuality(bpp=0.12, weight_bits=7, lmbda=0.0067),
    3: NervQuality(bpp=0.25, weight_bits=8, lmbda=0.013),
}
DEFAULT_QUALITY = 1
