"""Peak memory and time of decoding files that claim huge images from tiny payloads.

    .venv/bin/python scripts/bench_hostile_claims.py [--sizes 8192x8192 32768x2048 ...]

Each case takes a real bitstream (the smallest golden file), rewrites its header to claim a size the format
allows (at most 32768 per side and 2^26 pixels), recomputes the CRC and runs ``codec decode`` on it in a fresh
process. ``--valid`` adds the worst case a crafted file can reach: a *valid* bitstream of the largest size
(a smooth synthetic 8192×8192 image, a few kB coded), which decodes completely. Prints the exit status, the
first line of stderr, the wall time and the peak RSS of each process. The bound to hold: peak RSS ≤ 2 GB for
every size the format allows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.bitstream import Header, pack, unpack  # noqa: E402

SEED = ROOT / "tests" / "data" / "golden" / "bsds101085-grey-150x97-hyperprior-q3.bin"
MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - t
line = (proc.stderr.strip().splitlines() or [proc.stdout.strip()])[0]
print(proc.returncode, round(seconds, 1), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, line)
"""


def claim(data: bytes, width: int, height: int) -> bytes:
    """The same payload under a header that claims ``width`` × ``height``."""
    header, chunks = unpack(data)
    fields = {k: getattr(header, k) for k in ("family_id", "model_id", "rate_point", "weights_hash", "channels",
                                              "bit_depth", "icc_profile")}
    return pack(Header(**fields, height=height, width=width), chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8192x8192", "32768x2048", "2048x32768", "4096x4096"])
    parser.add_argument("--valid", action="store_true", help="also a valid 8192×8192 file (minutes)")
    args = parser.parse_args()
    seed = SEED.read_bytes()
    print(f"{'claimed size':>12}  {'exit':>4}  {'seconds':>7}  {'peak RSS MB':>11}  message")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = map(int, size.split("x"))
            src, dst = Path(tmp) / f"{size}.bin", Path(tmp) / f"{size}.png"
            src.write_bytes(claim(seed, width, height))
            t0 = time.perf_counter()
            report(size, measure("decode", str(src), "-o", str(dst)), t0)
            dst.unlink(missing_ok=True)
        if args.valid:
            import numpy as np
            from PIL import Image

            side = 8192
            ramp = np.linspace(0, 255, side, dtype=np.float32)
            pixels = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 255 - ramp) / 2,
                               np.tile(ramp, (side, 1))], axis=-1).astype(np.uint8)
            png, src, dst = Path(tmp) / "smooth.png", Path(tmp) / "smooth.bin", Path(tmp) / "out.png"
            Image.fromarray(pixels).save(png)
            del pixels
            t0 = time.perf_counter()
            report(f"{side}x{side} encode", measure("encode", str(png), "-o", str(src)), t0)
            t0 = time.perf_counter()
            report(f"{side}x{side} valid", measure("decode", str(src), "-o", str(dst)), t0)


def measure(*codec_args: str) -> list[str]:
    """exit status, seconds, peak RSS MB and first message line of one ``codec`` run in a fresh process."""
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "neuralcodec.cli", *codec_args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout.split(" ", 3)


def report(label: str, out: list[str], t0: float) -> None:
    message = out[3].strip() if len(out) > 3 else ""
    print(f"{label:>12}  {out[0]:>4}  {out[1]:>7}  {out[2]:>11}  {message[:90]}  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
