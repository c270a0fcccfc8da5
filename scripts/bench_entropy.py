"""Entropy-coder benchmark: our rANS layer (constriction) vs CompressAI's ``compressai.ans`` on the same
10⁶ Gaussian-conditional symbols and the same integer tables; code length vs the ideal −Σlog₂p.

    .venv/bin/python scripts/bench_entropy.py [--symbols 1000000] [--repeats 7]

Symbols: scale indexes drawn uniformly from the 64-entry scale table's first 48 levels, values =
round(N(0, σ_index)); the integer tables are the ones our model files ship. CompressAI receives the same
tables as CDFs (cdf = [0, cumsum(freqs)]), the same symbols and the same indexes. CompressAI's API takes
Python lists, so its time is given both with the ``.tolist()`` conversions its own ``compress()`` does and
without them. Medians over repeats, both coders timed alternately in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from compressai.ans import RansDecoder as CaiDecoder
from compressai.ans import RansEncoder as CaiEncoder

from neuralcodec.entropy import (
    RansDecoder,
    RansEncoder,
    build_gaussian_tables,
    decode_indexed,
    encode_indexed,
    scale_table,
)
from neuralcodec.entropy.tables import TOTAL


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    scales = scale_table()
    tables = build_gaussian_tables(scales)
    rng = np.random.default_rng(0)
    indexes = rng.integers(0, 48, size=args.symbols).astype(np.uint8)  # the codec's own index type
    values = np.round(rng.normal(size=args.symbols) * scales[indexes]).astype(np.int32)

    cdfs = [np.concatenate([[0], np.cumsum(t.freqs)]).astype(np.int32).tolist() for t in tables]
    cdf_lengths = [len(c) for c in cdfs]
    offsets = [t.offset for t in tables]

    ours_enc, ours_dec, cai_enc, cai_enc_call, cai_dec, cai_dec_call = ([] for _ in range(6))
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        enc = RansEncoder()
        encode_indexed(enc, values, indexes, tables)
        ours = enc.finish()
        ours_enc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        decoded = decode_indexed(RansDecoder(ours), indexes, tables)
        ours_dec.append(time.perf_counter() - t0)
        assert np.array_equal(decoded, values)

        t0 = time.perf_counter()
        sym_list, idx_list = values.tolist(), indexes.astype(np.int32).tolist()
        t1 = time.perf_counter()
        cai = CaiEncoder().encode_with_indexes(sym_list, idx_list, cdfs, cdf_lengths, offsets)
        t2 = time.perf_counter()
        cai_enc.append(t2 - t0)
        cai_enc_call.append(t2 - t1)
        t0 = time.perf_counter()
        idx_list = indexes.astype(np.int32).tolist()
        t1 = time.perf_counter()
        cai_decoded = CaiDecoder().decode_with_indexes(cai, idx_list, cdfs, cdf_lengths, offsets)
        t2 = time.perf_counter()
        cai_dec.append(t2 - t0)
        cai_dec_call.append(t2 - t1)
        assert np.array_equal(np.asarray(cai_decoded, dtype=np.int32), values)

    ideal_bits = 0.0
    for k, t in enumerate(tables):
        v = values[indexes == k].astype(np.int64) - t.offset
        v = np.where((v < 0) | (v >= t.num_values), t.num_values, v)
        ideal_bits += float(-np.log2(t.freqs[v] / TOTAL).sum())
    ideal = ideal_bits / 8
    msym = args.symbols / 1e6
    med = statistics.median
    print(f"{args.symbols} Gaussian-conditional symbols, {len(tables)} tables, {args.repeats} repeats (medians)")
    print(f"{'coder':<38} {'encode Msym/s':>14} {'decode Msym/s':>14} {'bytes':>10} {'vs ideal':>9}")
    print(f"{'neuralcodec (constriction rANS)':<38} {msym / med(ours_enc):>14.2f} {msym / med(ours_dec):>14.2f} "
          f"{len(ours):>10} {100 * (len(ours) / ideal - 1):>8.3f}%")
    print(f"{'compressai.ans incl. tolist()':<38} {msym / med(cai_enc):>14.2f} {msym / med(cai_dec):>14.2f} "
          f"{len(cai):>10} {100 * (len(cai) / ideal - 1):>8.3f}%")
    print(f"{'compressai.ans call only':<38} {msym / med(cai_enc_call):>14.2f} {msym / med(cai_dec_call):>14.2f}")
    print(f"ideal −Σlog2 p: {ideal:.0f} bytes")
    print(f"speed-up vs compressai.ans (incl. tolist): encode {med(cai_enc) / med(ours_enc):.2f}x, "
          f"decode {med(cai_dec) / med(ours_dec):.2f}x")
    print(f"speed-up vs compressai.ans (call only):    encode {med(cai_enc_call) / med(ours_enc):.2f}x, "
          f"decode {med(cai_dec_call) / med(ours_dec):.2f}x")


if __name__ == "__main__":
    main()
