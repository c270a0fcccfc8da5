"""Symbols that each name one table of a set (a scale index, a channel, a codebook).

One call codes one *set*: the symbols of one table form one group, tables in increasing index order,
each group in raster order, then the set's escaped values. Several sets may share a stream. The
decoder, which knows every symbol's index before decoding, rebuilds the same grouping — so only
integer indexes, never floats, decide which probabilities are used.
"""

from __future__ import annotations

import numpy as np

from neuralcodec.entropy.rans import RansDecoder, RansEncoder
from neuralcodec.entropy.tables import IntegerTable


def _grouping(indexes: np.ndarray, num_tables: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by table index (stable) and the start of each table's run."""
    negative_possible = not np.issubdtype(indexes.dtype, np.unsignedinteger)
    if indexes.size and ((negative_possible and int(indexes.min()) < 0) or int(indexes.max()) >= num_tables):
        raise ValueError(f"table index out of range 0…{num_tables - 1}")
    # Narrow keys let numpy use its radix sort for the stable argsort (uint8: a single pass).
    key_type = np.uint8 if num_tables <= 1 << 8 else np.uint16 if num_tables <= 1 << 16 else np.int64
    keys = indexes.astype(key_type, copy=False)
    order = np.argsort(keys, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=num_tables))])
    return order, bounds


def encode_indexed(encoder: RansEncoder, values: np.ndarray, indexes: np.ndarray,
                   tables: list[IntegerTable]) -> None:
    """Queue ``values[i]`` to be coded with ``tables[indexes[i]]`` (both flattened), as one set."""
    values, indexes = np.ravel(values), np.ravel(indexes)
    if values.shape != indexes.shape:
        raise ValueError("values and indexes differ in size")
    order, bounds = _grouping(indexes, len(tables))
    sorted_values = values[order]
    for k, table in enumerate(tables):
        if bounds[k + 1] > bounds[k]:
            encoder.encode(sorted_values[bounds[k] : bounds[k + 1]], table)
    encoder.end_set()


def decode_indexed(decoder: RansDecoder, indexes: np.ndarray, tables: list[IntegerTable]) -> np.ndarray:
    """Decode one set: one value per entry of ``indexes`` (shape kept), escaped values included."""
    order, bounds = _grouping(np.ravel(indexes), len(tables))
    out = np.empty(indexes.size, dtype=np.int32)
    for k, table in enumerate(tables):
        n = int(bounds[k + 1] - bounds[k])
        if n:  # each group goes straight to its positions: no second copy of the symbols
            decoder.decode_into(out, order[bounds[k] : bounds[k + 1]], table)
    decoder.end_set()
    return out.reshape(indexes.shape)
