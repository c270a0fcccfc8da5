"""rANS layer: round trips of all three symbol kinds, escapes, and code length against the ideal."""

from __future__ import annotations

import numpy as np
import pytest

from neuralcodec.entropy import (
    IntegerTable,
    RansDecoder,
    RansEncoder,
    build_gaussian_tables,
    decode_indexed,
    encode_indexed,
    pack_tables,
    quantize_pmf,
    scale_table,
    unpack_tables,
)
from neuralcodec.entropy.categorical import table_from_counts
from neuralcodec.entropy.tables import TOTAL

INT32_EXTREMES = [np.iinfo(np.int32).max, np.iinfo(np.int32).min, 10**6, -(10**7), 7]


@pytest.fixture(scope="module")
def gaussian_tables():
    return build_gaussian_tables(scale_table())


def ideal_bits(values: np.ndarray, indexes: np.ndarray, tables: list[IntegerTable]) -> float:
    bits = 0.0
    for k, t in enumerate(tables):
        v = values[indexes == k].astype(np.int64) - t.offset
        v = np.where((v < 0) | (v >= t.num_values), t.num_values, v)
        bits += float(-np.log2(t.freqs[v] / TOTAL).sum())
    return bits


def roundtrip(values: np.ndarray, indexes: np.ndarray, tables: list[IntegerTable]) -> tuple[np.ndarray, bytes]:
    enc = RansEncoder()
    encode_indexed(enc, values, indexes, tables)
    data = enc.finish()
    return decode_indexed(RansDecoder(data), indexes, tables), data


def test_gaussian_conditional_roundtrip_with_escapes(gaussian_tables):
    rng = np.random.default_rng(1)
    indexes = rng.integers(0, len(gaussian_tables), size=(2, 8, 33, 17))
    values = np.round(rng.normal(size=indexes.shape) * scale_table()[indexes]).astype(np.int32)
    values.flat[: len(INT32_EXTREMES)] = INT32_EXTREMES  # far outside any table
    decoded, _ = roundtrip(values, indexes, gaussian_tables)
    assert decoded.shape == values.shape
    assert np.array_equal(decoded, values)


def test_gaussian_code_length_within_0_1_percent_of_ideal(gaussian_tables):
    rng = np.random.default_rng(2)
    indexes = rng.integers(0, 48, size=200_000)
    values = np.round(rng.normal(size=indexes.shape) * scale_table()[indexes]).astype(np.int32)
    decoded, data = roundtrip(values, indexes, gaussian_tables)
    assert np.array_equal(decoded, values)
    ideal = ideal_bits(values, indexes, gaussian_tables) / 8
    assert len(data) <= ideal * 1.001 + 8


def test_factorized_per_channel_tables_roundtrip():
    # Per-channel learned pmfs as the hyper-latent uses them (here Laplacian-shaped, uneven offsets).
    rng = np.random.default_rng(3)
    tables = []
    for c in range(12):
        lo, hi = -3 - c, 4 + c // 2
        v = np.arange(lo, hi + 1)
        pmf = np.exp(-np.abs(v - 0.3 * c) / (1 + c / 4))
        tables.append(quantize_pmf(pmf / pmf.sum() * 0.999, 0.001, lo))
    indexes = np.broadcast_to(np.arange(12).reshape(1, 12, 1, 1), (1, 12, 9, 11))
    values = rng.integers(-20, 20, size=indexes.shape).astype(np.int32)  # many out of range → escapes
    decoded, _ = roundtrip(values, indexes, tables)
    assert np.array_equal(decoded, values)


def test_categorical_given_frequencies_roundtrip():
    # VQ indexes with a given integer frequency table (1024-entry codebook + escape).
    rng = np.random.default_rng(4)
    table = table_from_counts(rng.integers(0, 500, size=1024))
    assert table.num_values == 1024 and int(table.freqs.sum()) == TOTAL
    values = rng.integers(0, 1024, size=5000).astype(np.int32)
    values[[3, 99]] = [1024, -1]  # out of the codebook range: still exact via escape
    decoded, _ = roundtrip(values, np.zeros_like(values), [table])
    assert np.array_equal(decoded, values)


def test_quantize_pmf_is_exact_and_codes_every_value():
    pmf = np.array([1e-12, 0.5, 0.49, 0.0])
    t = quantize_pmf(pmf, 1e-15, -1)
    assert int(t.freqs.sum()) == TOTAL and int(t.freqs.min()) >= 1 and t.num_values == 4


def test_pack_unpack_tables(gaussian_tables):
    packed = pack_tables(gaussian_tables)
    again = unpack_tables(**packed)
    assert len(again) == len(gaussian_tables)
    for a, b in zip(again, gaussian_tables, strict=True):
        assert np.array_equal(a.freqs, b.freqs) and a.offset == b.offset
    packed["lengths"][0] += 1
    with pytest.raises(ValueError):
        unpack_tables(**packed)


def test_out_of_range_table_index_is_rejected(gaussian_tables):
    with pytest.raises(ValueError):
        encode_indexed(RansEncoder(), np.zeros(3, np.int32), np.array([0, 1, 64]), gaussian_tables)


def test_empty_input_roundtrip(gaussian_tables):
    decoded, data = roundtrip(np.zeros(0, np.int32), np.zeros(0, np.int64), gaussian_tables)
    assert decoded.size == 0


def test_dependent_sets_share_one_stream_with_escapes_per_set(gaussian_tables):
    """A context model codes passes into one stream: the decoder derives each set's indexes from the
    values of the sets before it, so every set's escapes must be readable before the next set starts."""
    rng = np.random.default_rng(5)
    first_idx = rng.integers(0, len(gaussian_tables), size=(3, 20, 20))
    first = np.round(rng.normal(size=first_idx.shape) * scale_table()[first_idx]).astype(np.int32)
    first.flat[:3] = INT32_EXTREMES[:3]

    def second_indexes(previous: np.ndarray) -> np.ndarray:  # depends on the decoded first set
        return (np.abs(previous) % len(gaussian_tables)).astype(np.int64)

    second_idx = second_indexes(first)
    second = np.round(rng.normal(size=second_idx.shape) * 3).astype(np.int32)
    second.flat[-2:] = INT32_EXTREMES[3:5]
    enc = RansEncoder()
    encode_indexed(enc, first, first_idx, gaussian_tables)
    encode_indexed(enc, second, second_idx, gaussian_tables)
    dec = RansDecoder(enc.finish())
    got_first = decode_indexed(dec, first_idx, gaussian_tables)
    got_second = decode_indexed(dec, second_indexes(got_first), gaussian_tables)
    dec.finish()
    assert np.array_equal(got_first, first) and np.array_equal(got_second, second)


def test_one_set_stream_layout_is_unchanged(gaussian_tables):
    """A one-set stream is laid out as before sets existed (groups, then all escapes): old files decode."""
    from neuralcodec.entropy.rans import _HALF, _MODELS, AnsCoder, split_escapes

    rng = np.random.default_rng(6)
    indexes = rng.integers(0, len(gaussian_tables), size=500)
    values = np.round(rng.normal(size=500) * scale_table()[indexes]).astype(np.int32)
    values[:2] = INT32_EXTREMES[:2]
    _, data = roundtrip(values, indexes, gaussian_tables)
    coder, escapes = AnsCoder(), []  # the original layout, written out by hand from the same primitives
    groups = []
    for k, table in enumerate(gaussian_tables):
        v = values[indexes == k]
        if v.size:
            positions, escaped = split_escapes(v, table)
            groups.append((positions, _MODELS.get(table)))
            escapes.append(escaped)
    halves = np.concatenate(escapes).view(np.uint32)
    coder.encode_reverse(np.stack([halves >> 16, halves & 0xFFFF], axis=1).ravel().astype(np.int32), _HALF)
    for positions, model in reversed(groups):
        coder.encode_reverse(positions, model)
    assert coder.get_compressed().tobytes() == data


def test_a_stream_must_be_consumed_exactly(gaussian_tables):
    """Leftover words (a damaged payload, or one with data appended) are refused at the end of the stream."""
    rng = np.random.default_rng(8)
    indexes = rng.integers(0, len(gaussian_tables), size=400)
    values = np.round(rng.normal(size=400) * scale_table()[indexes]).astype(np.int32)
    _, data = roundtrip(values, indexes, gaussian_tables)
    for bad in [data + b"\x01\x00\x00\x00", bytes([data[0] ^ 4]) + data[1:]]:
        dec = RansDecoder(bad)
        decode_indexed(dec, indexes, gaussian_tables)
        with pytest.raises(ValueError, match="consumed exactly"):
            dec.finish()
