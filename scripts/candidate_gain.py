"""Gain of candidate rate points over the shipped family's Kodak curve, at equal bpp.

Usage:
    codec eval --model runs/<run>/hyperprior-qN.pt ... --dataset ../shared/datasets/kodak --no-lpips --out cand.json
    python scripts/candidate_gain.py cand.json [--shipped docs/results/hyperprior-kodak.json]

The shipped curve's RGB PSNR is interpolated linearly in log bpp (the points are close together, so a
piecewise-linear curve is enough to decide whether a new stage is worth shipping).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from neuralcodec.eval.curves import load_curve  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", help="results JSON from 'codec eval --model ...'")
    parser.add_argument("--shipped", default="docs/results/hyperprior-kodak.json", help="the shipped family's results")
    args = parser.parse_args()
    try:
        shipped = load_curve(args.shipped)
        cand = load_curve(args.candidates)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    x, y = np.log(shipped.bpp), shipped.metrics["psnr-rgb"]
    ms_ssim = cand.metrics.get("ms-ssim-rgb", np.full(len(cand.bpp), np.nan))
    for bpp, psnr, msssim in zip(cand.bpp, cand.metrics["psnr-rgb"], ms_ssim, strict=True):
        gain = psnr - np.interp(np.log(bpp), x, y)
        print(f"bpp {bpp:.4f}  PSNR {psnr:.2f} dB  MS-SSIM {msssim:.4f}  gain over shipped curve {gain:+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
