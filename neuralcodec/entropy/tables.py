"""Integer frequency tables: the only form in which probabilities reach the rANS coder.

A table codes the integer values ``offset … offset + len(freqs) - 2``; its last entry is the *escape*
symbol, which stands for any value outside that range (the value itself follows in the escape stream,
see :mod:`neuralcodec.entropy.rans`). Frequencies are positive and sum to ``2**PRECISION``, so encoder
and decoder see the same exact probabilities whatever machine built the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRECISION = 16
TOTAL = 1 << PRECISION


@dataclass(frozen=True)
class IntegerTable:
    """Frequencies (last one = escape) of the values starting at ``offset``."""

    freqs: np.ndarray  # int64, shape (n,), all ≥ 1, sum == TOTAL
    offset: int

    @property
    def num_values(self) -> int:
        """How many values are coded directly (the escape symbol excluded)."""
        return len(self.freqs) - 1

    def probabilities(self) -> np.ndarray:
        """Exact dyadic probabilities (float64) of every entry, escape last."""
        return self.freqs.astype(np.float64) / TOTAL

    def validate(self) -> None:
        """Raise ``ValueError`` unless this is a well-formed table."""
        if self.freqs.ndim != 1 or len(self.freqs) < 2:
            raise ValueError("a table needs at least one value and the escape symbol")
        if int(self.freqs.min()) < 1 or int(self.freqs.sum()) != TOTAL:
            raise ValueError(f"frequencies must be ≥ 1 and sum to 2**{PRECISION}")


def quantize_pmf(pmf: np.ndarray, tail_mass: float, offset: int) -> IntegerTable:
    """Integer table from a float pmf over ``offset …`` plus the probability mass outside it.

    Every entry gets at least frequency 1 (so every value stays codable); rounding error is taken from
    or given to the most probable entry. Run once when a model is exported; decoders load the result.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    probs = np.append(np.clip(pmf, 0.0, None), max(float(tail_mass), 0.0))
    probs = probs / probs.sum()
    n = len(probs)
    if n + 1 > TOTAL:
        raise ValueError(f"table of {n} entries does not fit {PRECISION}-bit precision")
    freqs = np.maximum(1, np.round(probs * (TOTAL - n)).astype(np.int64) + 1)
    freqs[int(np.argmax(freqs))] += TOTAL - int(freqs.sum())
    table = IntegerTable(freqs, int(offset))
    table.validate()
    return table


def pack_tables(tables: list[IntegerTable]) -> dict[str, np.ndarray]:
    """Tables as three flat integer arrays, for storing inside a model file."""
    return {
        "freqs": np.concatenate([t.freqs for t in tables]).astype(np.int32),
        "lengths": np.array([len(t.freqs) for t in tables], dtype=np.int32),
        "offsets": np.array([t.offset for t in tables], dtype=np.int32),
    }


def unpack_tables(freqs: np.ndarray, lengths: np.ndarray, offsets: np.ndarray) -> list[IntegerTable]:
    """Inverse of :func:`pack_tables`; validates every table."""
    freqs, lengths, offsets = (np.asarray(a, dtype=np.int64) for a in (freqs, lengths, offsets))
    if lengths.shape != offsets.shape or int(lengths.sum()) != len(freqs):
        raise ValueError("inconsistent packed tables")
    ends = np.cumsum(lengths)
    tables = [IntegerTable(freqs[e - n : e].copy(), int(o)) for e, n, o in zip(ends, lengths, offsets, strict=False)]
    for t in tables:
        t.validate()
    return tables
