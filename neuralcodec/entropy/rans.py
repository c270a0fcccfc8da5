"""rANS coding through ``constriction`` (one stack coder, explicit categorical models).

Symbols are coded in *groups*: a group is an array of table positions coded with one integer table.
Groups form *sets* (one set per :func:`~neuralcodec.entropy.indexed.encode_indexed` call); the escaped
values of a set follow right after its groups. A stream may hold several dependent sets (e.g. the
passes of a context model: the decoder needs the values of one set to derive the tables of the next).
ANS is a stack, so the encoder records items in decoding order and pushes them in reverse when the
stream is finished; the decoder then pops them in the order the codec asks for them. A stream with one
set is laid out exactly as streams were before sets existed (groups, then all escapes).
"""

from __future__ import annotations

import constriction
import numpy as np

from neuralcodec.entropy.tables import IntegerTable

# constriction's submodules are attributes of its extension module, not importable modules.
Categorical = constriction.stream.model.Categorical
Uniform = constriction.stream.model.Uniform
AnsCoder = constriction.stream.stack.AnsCoder

# Values outside a table's range are sent after an escape symbol as two 16-bit halves of their int32
# bit pattern, each with a uniform model: rare, so simplicity beats compactness here.
_HALF = Uniform(1 << 16)
# One probability row per symbol (rows of exact dyadic probabilities): for symbols whose tables change from
# symbol to symbol within a group, e.g. an auto-regressive model's wavefront. Zero-padded entries at a row's
# end are never coded; the leaky quantizer gives them a little mass, on both sides alike.
_ROWS = Categorical(perfect=False)


class _ModelCache:
    """One constriction model per table object (building a model costs O(table size))."""

    def __init__(self) -> None:
        self._models: dict[int, tuple[IntegerTable, Categorical]] = {}

    def get(self, table: IntegerTable) -> Categorical:
        hit = self._models.get(id(table))
        if hit is None or hit[0] is not table:
            # Exact dyadic probabilities from the integer table; perfect=False is constriction's fast,
            # deterministic quantizer, and encoder and decoder both use it.
            hit = (table, Categorical(table.probabilities(), perfect=False))
            self._models[id(table)] = hit
        return hit[1]


_MODELS = _ModelCache()


def split_escapes(values: np.ndarray, table: IntegerTable) -> tuple[np.ndarray, np.ndarray]:
    """Table positions of ``values`` (escape symbol where out of range) and the escaped values."""
    positions = values.astype(np.int64) - table.offset
    outside = (positions < 0) | (positions >= table.num_values)
    positions[outside] = table.num_values
    return positions.astype(np.int32), values[outside].astype(np.int32)


class RansEncoder:
    """Collects groups of symbols in decoding order; :meth:`finish` returns the compressed bytes."""

    def __init__(self) -> None:
        # decoding order: ("group", positions, model), ("rows", positions, row source) and ("escapes", int32
        # values) items; a row source is a callable giving the probability rows, built only when pushed
        self._items: list[tuple[str, np.ndarray, object]] = []
        self._escapes: list[np.ndarray] = []

    def encode(self, values: np.ndarray, table: IntegerTable) -> None:
        """Queue integer ``values`` (any int range) to be coded with ``table``, escapes included."""
        if values.size == 0:
            return
        positions, escaped = split_escapes(np.ascontiguousarray(values).ravel(), table)
        self._items.append(("group", positions, _MODELS.get(table)))
        if escaped.size:
            self._escapes.append(escaped)

    def encode_rows(self, positions: np.ndarray, rows, escaped: np.ndarray) -> None:
        """Queue table ``positions`` coded with one probability row each; ``rows()`` returns the (n, L) float64
        rows when the stream is finished (so they need not all be held at once); ``escaped`` are the values
        behind the escape positions among them, coded with this set's escapes."""
        if len(positions) == 0:
            return
        self._items.append(("rows", np.ascontiguousarray(positions, dtype=np.int32), rows))
        if len(escaped):
            self._escapes.append(np.asarray(escaped, dtype=np.int32))

    def end_set(self) -> None:
        """Close the current set: its escaped values are coded here, before the next set's groups."""
        if self._escapes:
            halves = np.concatenate(self._escapes).view(np.uint32)
            pairs = np.stack([halves >> 16, halves & 0xFFFF], axis=1).ravel().astype(np.int32)
            self._items.append(("escapes", pairs, _HALF))
            self._escapes = []

    def finish(self) -> bytes:
        """Close the last set, push everything in reverse decoding order and return the bytes."""
        self.end_set()
        coder = AnsCoder()
        for kind, symbols, model in reversed(self._items):
            if kind == "rows":
                coder.encode_reverse(symbols, _ROWS, model())
            else:
                coder.encode_reverse(symbols, model)
        return coder.get_compressed().tobytes()


class RansDecoder:
    """Pops groups in the order they were queued at the encoder; :meth:`end_set` after each set."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise ValueError("rANS stream length is not a multiple of 4 bytes")
        self._coder = AnsCoder(np.frombuffer(data, dtype=np.uint32).copy())
        # where each escaped value of the current set goes: (array, indexes into it), in decoding order
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def decode(self, count: int, table: IntegerTable) -> np.ndarray:
        """Decode ``count`` table positions; their escaped values are filled in by :meth:`end_set`.

        Returns an int32 array that :meth:`end_set` completes in place.
        """
        if count == 0:
            return np.zeros(0, dtype=np.int32)
        values = self._decode_positions(count, table)
        if values.max() == table.num_values:  # escapes are rare: look for them only when present
            self._pending.append((values, np.flatnonzero(values == table.num_values)))
        values += np.int32(table.offset)
        return values

    def decode_into(self, out: np.ndarray, positions: np.ndarray, table: IntegerTable) -> None:
        """Decode ``len(positions)`` values straight into ``out[positions]`` (a flat int32 array); their
        escaped values are written there by :meth:`end_set`. Keeps no copy of the decoded group."""
        if len(positions) == 0:
            return
        values = self._decode_positions(len(positions), table)
        if values.max() == table.num_values:
            self._pending.append((out, positions[values == table.num_values]))
        values += np.int32(table.offset)
        out[positions] = values

    def decode_rows(self, rows: np.ndarray) -> np.ndarray:
        """Decode one table position per probability row (as queued by :meth:`RansEncoder.encode_rows`)."""
        return np.asarray(self._coder.decode(_ROWS, rows), dtype=np.int32)

    def defer_escapes(self, out: np.ndarray, at: np.ndarray) -> None:
        """Have :meth:`end_set` write this set's next ``len(at)`` escaped values into ``out[at]``."""
        if len(at):
            self._pending.append((out, at))

    def _decode_positions(self, count: int, table: IntegerTable) -> np.ndarray:
        return np.asarray(self._coder.decode(_MODELS.get(table), count), dtype=np.int32)

    def end_set(self) -> None:
        """Decode the escaped values of the current set into the arrays returned by :meth:`decode`."""
        total = sum(len(at) for _, at in self._pending)
        if total == 0:
            return
        pairs = np.asarray(self._coder.decode(_HALF, 2 * total), dtype=np.uint32).reshape(-1, 2)
        escaped = ((pairs[:, 0] << 16) | pairs[:, 1]).view(np.int32)
        start = 0
        for target, at in self._pending:
            target[at] = escaped[start : start + len(at)]
            start += len(at)
        self._pending.clear()

    def finish(self) -> None:
        """End of the stream: completes the last set and checks that every word was consumed.

        An encoder's stream decodes back to the coder's initial state with no word left; anything else
        (a damaged or crafted payload, even one with a valid CRC) is refused rather than decoded into garbage.
        """
        self.end_set()
        if not self._coder.is_empty():
            raise ValueError("entropy-coded stream was not consumed exactly (damaged or crafted data)")
