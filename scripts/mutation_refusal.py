"""How many CRC-fixed random payload mutations the decoder refuses (instead of decoding garbage).

    .venv/bin/python scripts/mutation_refusal.py [--cases 100000] [--seed 0]

Seeds: every golden file of the smallest crop (``tests/data/golden/bsds101085-grey-150x97-*.bin``). Each case
takes one seed, changes its entropy-coded payload (1–4 random bit flips, a truncated or extended chunk, or a
chunk's bytes replaced by random ones), rebuilds the container with a correct CRC and decodes it. Prints how
many cases were refused with ``DecodeError`` and how many decoded (each of those would be garbage); any other
exception is a bug and is printed.
"""

from __future__ import annotations

import argparse
import random
import sys
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.bitstream import pack, unpack  # noqa: E402
from neuralcodec.coding import decode_bytes  # noqa: E402
from neuralcodec.errors import DecodeError  # noqa: E402


def mutate(chunks: list[bytes], rng: random.Random) -> list[bytes]:
    """One random change to the chunks (never the identity)."""
    out = [bytearray(c) for c in chunks]
    k = rng.randrange(len(out))
    kind = rng.choice(["flip", "flip", "truncate", "extend", "replace"])
    if kind == "flip" or len(out[k]) < 8:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(out[k]))
            out[k][i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del out[k][-4 * rng.randint(1, max(1, len(out[k]) // 8)) :]
    elif kind == "extend":
        out[k] += bytes(rng.randrange(256) for _ in range(4 * rng.randint(1, 4)))
    else:
        start = rng.randrange(len(out[k]))
        end = min(len(out[k]), start + rng.randint(1, 64))
        out[k][start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    result = [bytes(c) for c in out]
    return result if result != chunks else mutate(chunks, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    seeds = [unpack(p.read_bytes()) for p in sorted((ROOT / "tests/data/golden").glob("bsds101085-grey-*.bin"))]
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    for case in range(args.cases):
        header, chunks = seeds[case % len(seeds)]
        data = pack(header, mutate(chunks, rng))
        try:
            decode_bytes(data)
            counts["decoded"] += 1
        except DecodeError:
            counts["refused"] += 1
        except Exception as exc:  # a bug: the decoder may raise only DecodeError / ModelError
            counts["other"] += 1
            print(f"case {case}: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"{args.cases} CRC-fixed payload mutations of {len(seeds)} golden files: "
          f"{counts['refused']} refused ({100 * counts['refused'] / args.cases:.3f} %), "
          f"{counts['decoded']} decoded, {counts['other']} other exceptions")


if __name__ == "__main__":
    main()
