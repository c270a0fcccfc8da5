"""Two-sided geometric (discrete Laplacian) integer tables, built with integer arithmetic only.

For symbols whose model is not given by a network but chosen by the encoder and named in the stream (e.g.
the quantized weights of a network coded inside a bitstream: one table per output channel). Tables are
built when needed, by the decoder too, so they must come out identical on every machine: every step below
is Python integer arithmetic — no floating-point exp, erf or sum whose last bit could depend on the CPU.

Table ``j`` codes ``-RADIUS … RADIUS`` with ``P(v) ∝ θ_j**|v|``, ``θ_j = 1 - DECAY_NUMERATORS[j] / 2**16``:
five sparse ones (θ = 0.05 … 0.4, for groups of mostly zeros), then θ = 0.5 (mean |v| ≈ 0.7) to θ ≈ 0.9996
(almost uniform over ±127), 6 tables per octave of ``1 - θ``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from neuralcodec.entropy.tables import TOTAL, IntegerTable

RADIUS = 127  # int8 values; anything outside goes through the escape symbol
# 1 - θ in units of 2**-16: 65536 · (0.95, 0.9, 0.8, 0.7, 0.6), then round(32768 · 2**(-j/6)), written out so
# that no machine recomputes it
DECAY_NUMERATORS = (
    62259, 58982, 52429, 45875, 39322,
    32768, 29193, 26008, 23170, 20643, 18390, 16384, 14596, 13004, 11585, 10321, 9195, 8192, 7298, 6502, 5793,
    5161, 4598, 4096, 3649, 3251, 2896, 2580, 2299, 2048, 1825, 1625, 1448, 1290, 1149, 1024, 912, 813, 724, 645,
    575, 512, 456, 406, 362, 323, 287, 256, 228, 203, 181, 161, 144, 128, 114, 102, 91, 81, 72, 64, 57, 51, 45,
    40, 36, 32, 29, 25, 23,
)
_WEIGHT_BITS = 40  # P(0) ∝ 2**40: the smallest weight kept (θ**127 · 2**40) is still ≫ 1


def geometric_table(decay_numerator: int, radius: int = RADIUS) -> IntegerTable:
    """The integer table of ``P(v) ∝ (1 - decay_numerator / 2**16)**|v|`` over ``-radius … radius``.

    Every value gets frequency ≥ 1, the escape symbol exactly 1; the rounding remainder goes to ``v = 0``.
    """
    if not 0 < decay_numerator < 1 << 16 or not 0 < radius < TOTAL // 4:
        raise ValueError("decay numerator must be in 1…65535 and the radius positive")
    theta = (1 << 16) - decay_numerator
    side = [1 << _WEIGHT_BITS]
    for _ in range(radius):
        side.append(side[-1] * theta >> 16)
    weights = side[:0:-1] + side  # -radius … radius
    n = len(weights)
    spare = TOTAL - n - 1  # after the minimum frequency 1 of every value and the escape
    total = sum(weights)
    freqs = [1 + w * spare // total for w in weights]
    freqs[radius] += TOTAL - 1 - sum(freqs)
    table = IntegerTable(np.array([*freqs, 1], dtype=np.int64), -radius)
    table.validate()
    return table


@lru_cache(maxsize=1)
def geometric_tables() -> tuple[IntegerTable, ...]:
    """Every table of :data:`DECAY_NUMERATORS`, in order (built once per process)."""
    return tuple(geometric_table(d) for d in DECAY_NUMERATORS)


def code_lengths(values: np.ndarray) -> np.ndarray:
    """Bits each geometric table would spend on ``values`` (escapes counted at 32 bits): the encoder's
    choice of table; the decoder reads the choice from the stream and never recomputes this."""
    values = np.asarray(values, dtype=np.int64).ravel()
    inside = np.abs(values) <= RADIUS
    positions = np.clip(values, -RADIUS, RADIUS) + RADIUS
    counts = np.bincount(positions[inside], minlength=2 * RADIUS + 1)
    escapes = int((~inside).sum())
    out = np.empty(len(DECAY_NUMERATORS))
    for j, table in enumerate(geometric_tables()):
        bits = -np.log2(table.freqs.astype(np.float64) / TOTAL)
        out[j] = float(counts @ bits[:-1]) + escapes * (bits[-1] + 32)
    return out
