"""Report the kept coolchic files of an evaluation (``codec eval --codec coolchic --keep-files DIR``) against
other codecs' ``codec eval`` results on the same images.

    .venv/bin/python scripts/coolchic_kodak_report.py docs/results/coolchic/kodak avif.json avif444.json \\
        x265.json hyperprior.json

Per image and quality: bpp, RGB PSNR, MS-SSIM, encode and decode seconds (from each file's JSON), and the PSNR
difference to each other codec at the same bpp on the same image (interpolated in log-bpp on that image's points).
Then, per image with at least four qualities, the RGB-PSNR BD-rate against each codec (bjontegaard, PCHIP, on the
image's own points), and over the images that have them all, the BD-rate of the mean curves (the usual Kodak
figure, here over those images only).
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

from neuralcodec.eval.curves import Curve, bd_metrics  # noqa: E402


def per_image(result: dict) -> dict[str, list[tuple[float, float, float]]]:
    """image → sorted (bpp, psnr, ms-ssim) of a ``codec eval`` result."""
    out = defaultdict(list)
    for rows in result["per_image"].values():
        for r in rows:
            out[r["image"]].append((r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"]))
    return {k: sorted(v) for k, v in out.items()}


def at_rate(points: list[tuple[float, float, float]], bpp: float) -> float:
    rates = np.log([p[0] for p in points])
    if not rates[0] <= math.log(bpp) <= rates[-1]:
        return math.nan
    return float(np.interp(math.log(bpp), rates, [p[1] for p in points]))


def curve(name: str, points: list[tuple[float, float, float]]) -> Curve:
    return Curve(name, np.array([p[0] for p in points]), {"psnr-rgb": np.array([p[1] for p in points])})


def main() -> None:
    kept, others = Path(sys.argv[1]), [json.loads(Path(p).read_text()) for p in sys.argv[2:]]
    ours: dict[str, list[dict]] = defaultdict(list)
    for record in sorted(kept.glob("*.json")):
        r = json.loads(record.read_text())
        ours[r["image"]].append(r)
    names = [o["name"] for o in others]
    theirs = [per_image(o) for o in others]
    print("| image | q | bpp | PSNR | MS-SSIM | encode s | decode s | " + " | ".join(f"Δ {n}" for n in names) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(names))
    for image, rows in sorted(ours.items()):
        for r in sorted(rows, key=lambda r: r["quality"]):
            deltas = [r["psnr-rgb"] - at_rate(t[image], r["bpp"]) for t in theirs]
            print(f"| {image} | {r['quality']} | {r['bpp']:.3f} | {r['psnr-rgb']:.2f} | {r['ms-ssim-rgb']:.4f} | "
                  f"{r['encoding_time']:.0f} | {r['decoding_time']:.2f} | "
                  + " | ".join("-" if math.isnan(d) else f"{d:+.2f} dB" for d in deltas) + " |")
    complete = {image: rows for image, rows in ours.items() if len(rows) >= 4}
    print()
    for image, rows in sorted(complete.items()):
        ours_curve = curve("coolchic", sorted((r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"]) for r in rows))
        parts = []
        for n, t in zip(names, theirs, strict=True):
            bd = bd_metrics(curve(n, t[image]), ours_curve, "psnr-rgb")["bd_rate"]
            parts.append(f"{n} {bd:+.1f} %" if bd is not None else f"{n} -")
        print(f"{image}: BD-rate (RGB PSNR) against " + ", ".join(parts))
    if len(complete) > 1:
        qualities = sorted({r["quality"] for rows in complete.values() for r in rows})
        mean = [(statistics.fmean(r["bpp"] for rows in complete.values() for r in rows if r["quality"] == q),
                 statistics.fmean(r["psnr-rgb"] for rows in complete.values() for r in rows if r["quality"] == q), 0)
                for q in qualities]
        parts = []
        for o in others:
            res = o["per_image"]
            pts = []
            for q in res:
                rows = [r for r in res[q] if r["image"] in complete]
                if len(rows) == len(complete):
                    pts.append((statistics.fmean(r["bpp"] for r in rows), statistics.fmean(r["psnr-rgb"] for r in rows),
                                0))
            bd = bd_metrics(curve(o["name"], sorted(pts)), curve("coolchic", mean), "psnr-rgb")["bd_rate"]
            parts.append(f"{o['name']} {bd:+.1f} %" if bd is not None else f"{o['name']} -")
        print(f"mean curves over {len(complete)} images: BD-rate against " + ", ".join(parts))


if __name__ == "__main__":
    main()
