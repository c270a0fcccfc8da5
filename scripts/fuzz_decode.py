"""Coverage-guided fuzzing of the decoder with atheris (libFuzzer) over valid bitstreams of every codec.

    .venv/bin/python scripts/fuzz_decode.py --runs 100000        # the benchmark run
    .venv/bin/python scripts/fuzz_decode.py --seconds 60         # the CI slice

Seeds are real bitstreams of small crops of the sample image, one set per shipped rate point, short fits of
each fitted image family (coolchic), and the golden video files (``tests/data/golden/*``, NeRV). Each case
applies one mutation — libFuzzer's own (bit flips, byte edits, insertions, erasures, cross-over) or a
structured one: absurd dimensions (up to 100000×100000 and beyond the varint range), inflated chunk-length
fields, wrong codec / model / rate-point / version / channel fields, absurd frame counts and rates of video
files, truncation, chunk swaps — and then,
for most cases, recomputes the CRC32 so the parser and entropy decoder behind it are reached.

Pass criteria, enforced by libFuzzer itself: no exception other than the documented ``DecodeError`` /
``ModelError`` (any other is a crash), no case over 5 s (``-timeout=5``), RSS never above 2 GB
(``-rss_limit_mb=2048``, ``-malloc_limit_mb=2048``). Untrusted input is decoded with ``max_pixels`` = 2¹⁶
and, for videos, at most 2¹⁸ pixels in all frames (a service sets such limits; they keep every case well under
a second on one core); header limits
(``MAX_SIDE``, ``MAX_PIXELS``) are checked before any allocation either way. libFuzzer prints "Done N runs"
and exits 0 when every case passed.
"""

from __future__ import annotations

import argparse
import ctypes
import random
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import atheris

warnings.filterwarnings("ignore")
# fixed_point is left uninstrumented: it is arithmetic, not parsing, and atheris' comparison hooks keep the tensors
# that instrumented code compares alive (≈ 1.8 MB per model load: the RSS limit would measure the hooks, not us;
# decoding the same cases uninstrumented keeps a flat RSS).
with atheris.instrument_imports(include=["neuralcodec"], exclude=["neuralcodec.codecs.stages.fixed_point"]):
    from neuralcodec.bitstream.container import encode_varint, unpack
    from neuralcodec.codecs.nerv.codec import streams_hash
    from neuralcodec.codecs.registry import file_family_names, load_codec, shipped_qualities
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.errors import DecodeError, ModelError
    from neuralcodec.image_io import ImageInfo, read_image, to_pil
    from neuralcodec.video_coding import decode_video

    for _family in file_family_names():  # runtime codecs load lazily: load them here so they are instrumented too
        if shipped_qualities(_family):
            load_codec(_family)

ROOT = Path(__file__).resolve().parent.parent
MAX_PIXELS_UNTRUSTED = 1 << 16  # 256×256: keeps each case fast; larger claims are refused like a service would
MAX_VIDEO_SAMPLES_UNTRUSTED = 1 << 18  # pixels in all frames of a video
COUNTS = {"cases": 0, "decoded": 0, "videos decoded": 0, "DecodeError": 0, "ModelError": 0}
STARTED = time.time()


def seeds() -> list[bytes]:
    import torch

    image, _ = read_image(ROOT / "samples" / "parrots.png")
    out = []
    for family in file_family_names():
        for q in shipped_qualities(family):
            codec = load_codec(family, q)
            for h, w in [(16, 16), (48, 64), (70, 130)]:
                out.append(encode_tensor(image[:, :h, :w].contiguous(), ImageInfo(3, 8), codec).data)
    golden = ROOT / "tests" / "data" / "golden"
    out += [p.read_bytes() for p in sorted(golden.glob("*.bin"))
            if unpack(p.read_bytes())[0].is_video or unpack(p.read_bytes())[0].alpha]  # videos; alpha (version 4)
    # small video files of every NeRV quality: 3 frames (shifted crops of the sample), fitted for one epoch
    from fractions import Fraction

    from neuralcodec.video_coding import encode_frames

    clip = torch.stack([image[:, i : i + 24, 2 * i : 2 * i + 32] for i in range(3)]).permute(0, 2, 3, 1)
    for q in range(4):
        out.append(encode_frames(clip.contiguous().numpy(), Fraction(25), quality=q, epochs=1).data)
    # fitted image families: a short fit of two crops each
    from neuralcodec.codecs.registry import family_names, get_family
    from neuralcodec.coding import encode_fitted_tensor

    for family in family_names("fitted"):
        if get_family(family).media == "image":
            for h, w in [(16, 16), (48, 64)]:
                out.append(encode_fitted_tensor(image[:, :h, :w].contiguous(), ImageInfo(3, 8), family,
                                                options={"iterations": 3}).data)
    return out


def decode_any(data: bytes) -> None:
    """Decode an image or every frame of a video, under the untrusted-input limits."""
    header, _ = unpack(data)
    if header.is_video:
        _, frames = decode_video(data, MAX_PIXELS_UNTRUSTED, MAX_VIDEO_SAMPLES_UNTRUSTED)
        for _frame in frames:
            pass
        COUNTS["videos decoded"] += 1
    else:
        image, header = decode_bytes(data, max_pixels=MAX_PIXELS_UNTRUSTED)
        to_pil(image, header.channels, header.icc_profile, header.alpha)  # the alpha plane too


_LIBC = ctypes.CDLL("libc.so.6")


def test_one_input(data: bytes) -> None:
    # glibc keeps freed tensor memory in its arenas; hand it back after each case so the RSS limit measures
    # what a case needs (a real leak would still grow), not fragmentation across 100,000 cases.
    _LIBC.malloc_trim(0)
    COUNTS["cases"] += 1
    try:
        decode_any(data)
        COUNTS["decoded"] += 1
    except DecodeError:
        COUNTS["DecodeError"] += 1
    except ModelError:
        COUNTS["ModelError"] += 1
    if COUNTS["cases"] % 2000 == 0:
        print(f"fuzz: {COUNTS} after {time.time() - STARTED:.0f} s", file=sys.stderr, flush=True)


def _structured(data: bytearray, rng: random.Random) -> bytearray:
    head_end = min(len(data), 12)
    kind = rng.randrange(9)
    if kind == 0 and len(data) > 14:  # absurd or edge dimensions, re-encoded as varints
        h = rng.choice([0, 1, 100000, 2**20, 2**34, 32768, 32769, rng.randrange(1, 70000)])
        w = rng.choice([0, 1, 100000, 2**20, 2**34, 32768, 2048, rng.randrange(1, 70000)])
        i = 12
        while i < len(data) and data[i] & 0x80:
            i += 1
        j = i + 1
        while j < len(data) and data[j] & 0x80:
            j += 1
        data[12 : j + 1] = encode_varint(h) + encode_varint(w)
    elif kind == 1 and len(data) > 22:  # inflate a chunk-length varint
        pos = rng.randrange(16, min(len(data), 24))
        data[pos : pos + 1] = encode_varint(rng.choice([2**31, 2**20, 0x7F, rng.randrange(1 << 28)]))
    elif kind == 2 and head_end >= 8:  # ids, version, rate point
        pos = rng.randrange(4, 8)
        data[pos] = rng.choice([0, 1, 2, 3, 9, 42, 99, 255])
    elif kind == 3 and len(data) > 4:  # truncate
        del data[rng.randrange(1, len(data)) :]
    elif kind == 4 and len(data) > 8:  # channels / bit depth / flags / chunk count bytes
        pos = rng.randrange(16, min(len(data), 22)) if len(data) > 22 else len(data) - 1
        data[pos] = rng.randrange(256)
    elif kind == 5:  # flip a few bits anywhere
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 7 and _video_fields(bytes(data)) is not None:  # absurd frame count, rate or colour format
        start, end = _video_fields(bytes(data))
        frames = rng.choice([0, 1, 2, 65536, 65537, 2**20, 2**34, rng.randrange(1, 70000)])
        num, den = rng.choice([0, 1, 50, 2**20, 2**21, 2**34]), rng.choice([0, 1, 1001, 2**21])
        fields = encode_varint(frames) + encode_varint(num) + encode_varint(den)
        data[start:end] = fields + bytes([rng.choice([0, 1, 2, 255])])
    elif kind == 6 and len(data) > 40:  # swap two payload regions
        a, b = sorted(rng.sample(range(24, len(data) - 4), 2))
        data[a], data[b] = data[b], data[a]
    else:  # append random bytes
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return data


def _video_fields(data: bytes) -> tuple[int, int] | None:
    """Byte range of a valid video file's frame count, frame rate and colour format fields, else None."""
    try:
        header, chunks = unpack(data)
    except DecodeError:
        return None
    if not header.is_video:
        return None
    size = len(encode_varint(header.frames) + encode_varint(header.fps_num) + encode_varint(header.fps_den)) + 1
    end = len(data) - 4 - sum(map(len, chunks))
    return end - size, end


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = bytearray(atheris.Mutate(data, max_size))
    else:
        out = _structured(bytearray(data), rng)
    if len(out) > 4 and rng.random() < 0.75:  # reach past the CRC check
        out[-4:] = zlib.crc32(bytes(out[:-4])).to_bytes(4, "big")
        try:  # and past a video's weights hash, so the NeRV stream parser sees the damage
            header, chunks = unpack(bytes(out))
            if header.is_video and len(chunks) == 2:
                out[8:12] = streams_hash({"model": chunks[0], "weights": chunks[1]})
                out[-4:] = zlib.crc32(bytes(out[:-4])).to_bytes(4, "big")
        except DecodeError:
            pass
    return bytes(out[:max_size])


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=0, help="stop after this long instead (0: use --runs)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write-seeds", type=Path, default=None, help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args()
    if args.write_seeds is not None:
        for i, s in enumerate(seeds()):
            (args.write_seeds / f"seed{i}.bin").write_bytes(s)
        return
    corpus = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    # The seeds come from another process: making them encodes with every model and fits NeRV clips (Lightning),
    # and the fuzzing process's RSS limit should measure decoding, not what encoding left behind.
    import subprocess

    subprocess.run([sys.executable, __file__, "--write-seeds", str(corpus)], check=True)
    limit = [f"-max_total_time={args.seconds}"] if args.seconds else [f"-runs={args.runs}"]
    argv = [sys.argv[0], str(corpus), *limit, "-timeout=5", "-rss_limit_mb=2048", "-malloc_limit_mb=2048",
            "-max_len=65536", f"-seed={args.seed}", "-print_final_stats=1", *extra]
    print(f"fuzz: {len(list(corpus.iterdir()))} seed bitstreams, {' '.join(argv[2:])}", flush=True)
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()  # exits the process: libFuzzer prints "Done N runs", or the failing input and why


if __name__ == "__main__":
    main()
