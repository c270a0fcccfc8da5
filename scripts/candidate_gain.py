"""Gain of candidate rate points over the shipped family's Kodak curve, at equal bpp.

Usage:
    codec eval --model runs/<run>/hyperprior-qN.pt ... --dataset ../shared/datasets/kodak --no-lpips --out cand.json
    python scripts/candidate_gain.py cand.json [--shipped docs/results/hyperprior-kodak.json]

The shipped curve's RGB PSNR is interpolated linearly in log bpp (the points are close together, so a
piecewise-linear curve is enough to decide whether a new stage is worth shipping); beyond either end of the
shipped curve its end segment is extended, and the line says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from neuralcodec.eval.curves import load_curve  # noqa: E402
from neuralcodec.eval.rd import interpolate_at_rate  # noqa: E402


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
    lo, hi = shipped.bpp.min(), shipped.bpp.max()
    ms_ssim = cand.metrics.get("ms-ssim-rgb", [float("nan")] * len(cand.bpp))
    for bpp, psnr, msssim in zip(cand.bpp, cand.metrics["psnr-rgb"], ms_ssim, strict=True):
        shipped_psnr = interpolate_at_rate(shipped.bpp, shipped.metrics["psnr-rgb"], bpp, extrapolate=True)
        where = "" if lo <= bpp <= hi else f" (extrapolated beyond the shipped {lo:.4f}–{hi:.4f} bpp)"
        print(
            f"bpp {bpp:.4f}  PSNR {psnr:.2f} dB  MS-SSIM {msssim:.4f}  "
            f"gain over shipped curve {psnr - shipped_psnr:+.2f} dB{where}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
