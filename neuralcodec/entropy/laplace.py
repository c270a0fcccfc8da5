"""Discretised Laplace tables indexed by (scale index, mean phase), built exactly, and coded one row per symbol.

For auto-regressive models whose every symbol has its own mean and scale (the overfitted codecs' entropy
model). The codec computes, in exact integer arithmetic, a *scale index* ``j`` (scale ``b = e^(j/8)``) and the
mean to the nearest 1/16: ``mean = q + φ/16`` with integer ``q`` and *phase* ``φ`` in 0…15. The symbol
``v - q`` is then coded with table ``(j, φ)``: a Laplace of scale ``b`` centred on ``φ/16``, integrated over
unit bins, over ``-R … R+1`` plus an escape symbol (values outside follow in the set's escape stream).

Tables are built when first needed, by the decoder too, so they must be identical on every machine: the three
exponentials a table needs (``e^(-1/b)`` and the two edge terms) come from Python's ``decimal`` module, whose
``exp`` is correctly rounded by specification, and everything after is Python integer arithmetic (no
floating-point ``exp`` whose last bit could depend on the CPU or libm).

Every symbol carries its own probability row, so one wavefront of symbols with many different tables is one
call into the coder (:meth:`~neuralcodec.entropy.rans.RansEncoder.encode_rows`). Rows are zero-padded to a
power-of-four length (16, 64, 256, …); a set's symbols are coded grouped by that length (shortest first), in
their given order within a group.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import numpy as np

from neuralcodec.entropy.rans import RansDecoder, RansEncoder
from neuralcodec.entropy.tables import TOTAL

SCALE_STEPS = 8  # scale index j: b = e^(j / 8)
SCALE_INDEX_MIN = -37  # b ≈ 0.0098
SCALE_INDEX_MAX = 40  # b ≈ 148
PHASES = 16  # means to the nearest 1/16
NUM_TABLES = (SCALE_INDEX_MAX - SCALE_INDEX_MIN + 1) * PHASES
TAIL_SCALES = 13  # a table reaches 13 scales each side (tail mass ≈ e^-13), capped at MAX_RADIUS
MAX_RADIUS = 255  # rows of at most 1,024 entries bound the work per symbol; wider tails go through escapes
_ONE_BITS = 48
_ONE = 1 << _ONE_BITS


def table_id(scale_index: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Table number of each (scale index, phase) pair (scale indexes clamped to the table range)."""
    j = np.minimum(np.maximum(scale_index, SCALE_INDEX_MIN), SCALE_INDEX_MAX).astype(np.int64) - SCALE_INDEX_MIN
    return j * PHASES + np.asarray(phase, dtype=np.int64)


def _exp_units(context: decimal.Context, x: Decimal) -> int:
    """round(e^x · 2**48): decimal's correctly rounded exp (40 digits), scaled and rounded to an integer."""
    return int(context.multiply(context.exp(x), Decimal(_ONE)).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))


def laplace_freqs(scale_index: int, phase: int) -> tuple[list[int], int]:
    """Integer frequencies (summing to 2**PRECISION, escape last) of table (j, φ), and its radius R.

    The table codes ``-R … R+1``. With centre ``c = φ/16`` the bin holding it is ``m`` (0 if ``c ≤ ½``, else 1);
    ``d_r``/``d_l`` are the distances from ``c`` to that bin's right/left edges. Bins beyond it on either side
    are a geometric sequence of ratio ``θ = e^(-1/b)``: bin ``m+k`` has mass ``½ e^(-d_r/b) θ^(k-1) (1-θ)``."""
    context = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    b = context.exp(context.divide(Decimal(scale_index), Decimal(SCALE_STEPS)))
    c = context.divide(Decimal(phase), Decimal(PHASES))
    m = 0 if 2 * phase <= PHASES else 1
    # every operation through ``context`` (never the thread's current decimal context, which a caller may change)
    half = Decimal("0.5")
    d_right = context.subtract(context.add(Decimal(m), half), c)
    d_left = context.add(context.subtract(c, Decimal(m)), half)
    theta = _exp_units(context, context.divide(Decimal(-1), b))
    right = _exp_units(context, context.divide(context.minus(d_right), b))
    left = _exp_units(context, context.divide(context.minus(d_left), b))
    radius = min(MAX_RADIUS, max(2, int(context.multiply(Decimal(TAIL_SCALES), b).to_integral_value(
        rounding=decimal.ROUND_CEILING))))
    # weights in units of 2**-48, doubled (the ½ factors dropped): bins -R … R+1, then the escape's tail
    weights = [0] * (2 * radius + 2)
    centre = radius + m
    weights[centre] = 2 * _ONE - right - left
    escape = 0
    for start, sign, count in ((right, 1, radius + 1 - m), (left, -1, radius + m)):
        w = start * (_ONE - theta) >> _ONE_BITS
        tail = start
        for k in range(1, count + 1):
            weights[centre + sign * k] = w
            w = w * theta >> _ONE_BITS
            tail = tail * theta >> _ONE_BITS
        escape += tail  # the mass beyond the table on this side
    n = len(weights) + 1
    spare = TOTAL - n
    total = sum(weights) + escape
    freqs = [1 + w * spare // total for w in weights] + [1 + escape * spare // total]
    freqs[centre] += TOTAL - sum(freqs)
    return freqs, radius


class LaplaceTables:
    """The tables a coder has needed so far, as zero-padded probability rows grouped by padded length."""

    def __init__(self) -> None:
        self.radius = np.full(NUM_TABLES, -1, dtype=np.int64)  # -1: not built yet
        self.bucket = np.zeros(NUM_TABLES, dtype=np.int64)  # log2 of the padded row length
        self.row = np.zeros(NUM_TABLES, dtype=np.int64)  # row within its bucket's matrix
        self._rows: dict[int, list[np.ndarray]] = {}
        self._matrices: dict[int, np.ndarray] = {}

    def ensure(self, ids: np.ndarray) -> None:
        """Build every table of ``ids`` not built yet."""
        unbuilt = self.radius[ids] < 0
        if not unbuilt.any():
            return
        missing = np.unique(ids[unbuilt])
        for t in missing.tolist():
            j, phase = divmod(t, PHASES)
            freqs, radius = laplace_freqs(j + SCALE_INDEX_MIN, phase)
            bucket = max(2, ((len(freqs) - 1).bit_length() + 1) // 2)  # rows padded to 16, 64, 256, … entries
            row = np.zeros(1 << (2 * bucket), dtype=np.float64)
            row[: len(freqs)] = np.asarray(freqs, dtype=np.float64) / TOTAL
            rows = self._rows.setdefault(bucket, [])
            self.radius[t], self.bucket[t], self.row[t] = radius, bucket, len(rows)
            rows.append(row)
            self._matrices.pop(bucket, None)

    def matrix(self, bucket: int) -> np.ndarray:
        hit = self._matrices.get(bucket)
        if hit is None:
            hit = self._matrices[bucket] = np.stack(self._rows[bucket])
        return hit

    def groups(self, ids: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(bucket, positions within ``ids``) of each padded length present, shortest first."""
        if len(ids) == 0:
            return []
        self.ensure(ids)
        buckets = self.bucket[ids]
        low, high = int(buckets.min()), int(buckets.max())
        if low == high:
            return [(low, np.arange(len(ids)))]
        return [(b, np.flatnonzero(buckets == b)) for b in range(low, high + 1) if (buckets == b).any()]


def encode_laplace(encoder: RansEncoder, tables: LaplaceTables, values: np.ndarray, means: np.ndarray,
                   ids: np.ndarray) -> None:
    """Queue one set: ``values[i] - means[i]`` with table ``ids[i]`` (integer means; see the module docstring)."""
    symbols = np.asarray(values, dtype=np.int64) - means
    if len(symbols) and np.abs(symbols).max() >= 1 << 31:  # escapes carry int32
        raise ValueError("a value lies 2**31 or more from its mean")
    for bucket, at in tables.groups(ids):
        radius = tables.radius[ids[at]]
        positions = symbols[at] + radius
        outside = (positions < 0) | (positions > 2 * radius + 1)
        escaped = symbols[at][outside]
        positions = np.where(outside, 2 * radius + 2, positions)
        matrix, rows = tables.matrix(bucket), tables.row[ids[at]]
        encoder.encode_rows(positions, lambda matrix=matrix, rows=rows: matrix[rows], escaped)
    encoder.end_set()


def decode_laplace(decoder: RansDecoder, tables: LaplaceTables, means: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Decode one set queued by :func:`encode_laplace` (int64 values, escapes filled in)."""
    symbols = np.empty(len(ids), dtype=np.int32)
    for bucket, at in tables.groups(ids):
        radius = tables.radius[ids[at]]
        positions = decoder.decode_rows(tables.matrix(bucket)[tables.row[ids[at]]]).astype(np.int64)
        if (positions > 2 * radius + 2).any():
            raise ValueError("decoded a padding entry of a Laplace table (damaged stream)")
        symbols[at] = positions - radius
        decoder.defer_escapes(symbols, at[positions == 2 * radius + 2])  # filled in by end_set
    decoder.end_set()
    return symbols.astype(np.int64) + means
