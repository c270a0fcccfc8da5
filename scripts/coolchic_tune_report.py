"""Table of the tuning runs (``scripts/coolchic_tune.py``) against live AVIF on the same BSDS500 images.

    .venv/bin/python scripts/coolchic_tune_report.py docs/results/coolchic/tune.jsonl

For each run: bpp, PSNR, the share of the file spent on network weights, and the PSNR difference to AVIF 4:2:0
(speed 6) and AVIF 4:4:4 (speed 3) at the same bpp (their PSNR interpolated linearly in log-bpp between the two
nearest of quality 5…95 step 5). Then, per variant, the mean difference over its runs.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.eval.anchors import anchor_by_name  # noqa: E402
from neuralcodec.eval.metrics import psnr_rgb  # noqa: E402
from neuralcodec.image_io import read_image  # noqa: E402

BSDS = ROOT.parent / "shared" / "datasets" / "bsds500"


def anchor_curve(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    anchor = anchor_by_name(name)
    image, _ = read_image(path)
    pixels = image.shape[1] * image.shape[2]
    points = []
    for q in range(5, 96, 5):
        data = anchor.encode(image, q)
        points.append((8 * len(data) / pixels, psnr_rgb(anchor.decode(data), image)))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def at_rate(curve: tuple[np.ndarray, np.ndarray], bpp: float) -> float:
    rates, psnrs = curve
    if not rates[0] <= bpp <= rates[-1]:
        return math.nan
    return float(np.interp(math.log(bpp), np.log(rates), psnrs))


def main() -> None:
    runs = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]
    curves = {(a, img): anchor_curve(a, BSDS / img) for img in {r["image"] for r in runs} for a in ("avif", "avif444")}
    by_variant = defaultdict(list)
    print("| image | λ | variant | iterations | bpp | weights | PSNR | Δ AVIF 4:2:0 | Δ AVIF 4:4:4 | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        d420 = r["psnr"] - at_rate(curves[("avif", r["image"])], r["bpp"])
        d444 = r["psnr"] - at_rate(curves[("avif444", r["image"])], r["bpp"])
        share = r["streams"]["weights"] / r["bytes"]
        by_variant[(r["variant"], r["iterations"])].append((d420, d444))
        print(f"| {r['image']} | {r['lambda']} | {r['variant']} | {r['iterations']} | {r['bpp']:.3f} | {share:.0%} | "
              f"{r['psnr']:.2f} | {d420:+.2f} dB | {d444:+.2f} dB | {r['seconds']:.0f} |")
    print()
    for (variant, iterations), deltas in sorted(by_variant.items()):
        print(f"{variant} at {iterations} iterations: mean Δ AVIF 4:2:0 "
              f"{statistics.fmean(d[0] for d in deltas):+.2f} dB, AVIF 4:4:4 "
              f"{statistics.fmean(d[1] for d in deltas):+.2f} dB over {len(deltas)} runs")


if __name__ == "__main__":
    main()
