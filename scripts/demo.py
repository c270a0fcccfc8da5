"""`make demo`: encode and decode the bundled sample image with the shipped default model.

Runs the real CLI commands (files on disk), then prints bpp, PSNR and the encode/decode times.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from neuralcodec.cli import main as codec

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "parrots.png"


def run(args: list[str]) -> float:
    print("$ codec " + " ".join(args))
    t0 = time.perf_counter()
    if codec(args) != 0:
        sys.exit(1)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bin_path, out_path = Path(tmp) / "parrots.bin", Path(tmp) / "parrots_decoded.png"
        t_enc = run(["encode", str(SAMPLE), "-o", str(bin_path)])
        t_dec = run(["decode", str(bin_path), "-o", str(out_path)])
        a = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float64)
        b = np.asarray(Image.open(out_path).convert("RGB"), dtype=np.float64)
        mse = np.mean((a - b) ** 2)
        bpp = 8 * bin_path.stat().st_size / (a.shape[0] * a.shape[1])
        print(f"\nsample {SAMPLE.name} {a.shape[1]}x{a.shape[0]}: {bin_path.stat().st_size} bytes, "
              f"{bpp:.4f} bpp, PSNR {10 * np.log10(255**2 / mse):.2f} dB, "
              f"encode {t_enc:.2f} s, decode {t_dec:.2f} s (wall, model load included)")


if __name__ == "__main__":
    main()
