"""Extreme-rate comparison: each point of a test curve (e.g. ``vq``) against classical anchors at the same bpp, each
anchor at its best downscaling factor, and against a reference point (e.g. our lowest-rate hyperprior point).

    .venv/bin/python scripts/extreme_rate_table.py --test runs/eval/vq-kodak.json \\
        --anchor runs/eval/extreme/avif@*.json --anchor runs/eval/extreme/webp@*.json ... \\
        --reference docs/results/hyperprior-kodak.json:0 [--max-bpp 0.05]

The anchor JSON files come from ``codec eval --codec NAME@SCALE`` (and ``--codec NAME`` for scale 1). For each
test point at or below ``--max-bpp`` and each anchor name (what precedes ``@``), the anchor's patch-SWD, RGB PSNR
and MS-SSIM are interpolated at the test point's bpp (piecewise linear in log bpp, within each curve's measured
range) for every scale that reaches that bpp, and the scale with the lowest SWD is kept. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import glob

from neuralcodec.eval.curves import Curve, load_curve
from neuralcodec.eval.rd import interpolate_at_rate

METRICS = ("swd", "psnr-rgb", "ms-ssim-rgb")


def at_rate(curve: Curve, bpp: float) -> dict[str, float] | None:
    """The curve's metrics at ``bpp``; None when the bpp is outside its measured range."""
    try:
        return {m: interpolate_at_rate(curve.bpp, curve.metric(m), bpp) for m in METRICS}
    except ValueError:
        return None


def best_by_anchor(curves: list[Curve], bpp: float) -> dict[str, tuple[str, dict[str, float]]]:
    """For each anchor name, (curve name, metrics) of the scale with the lowest SWD at ``bpp``."""
    best: dict[str, tuple[str, dict[str, float]]] = {}
    for curve in curves:
        values = at_rate(curve, bpp)
        name = curve.name.partition("@")[0]
        if values is not None and (name not in best or values["swd"] < best[name][1]["swd"]):
            best[name] = (curve.name, values)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test", required=True, help="JSON of the codec under test (codec eval)")
    parser.add_argument("--anchor", action="append", default=[], help="anchor JSON files (globs allowed)")
    parser.add_argument("--reference", default=None, help="JSON:QUALITY of a reference point, e.g. the lowest "
                        "hyperprior point")
    parser.add_argument("--max-bpp", type=float, default=0.05)
    args = parser.parse_args()
    test = load_curve(args.test)
    anchors = [load_curve(p) for pattern in args.anchor for p in sorted(glob.glob(pattern))]
    names = sorted({c.name.partition("@")[0] for c in anchors})
    reference = None
    if args.reference:
        path, _, quality = args.reference.rpartition(":")
        ref = load_curve(path)
        i = [int(q) for q in ref.metrics["quality"]].index(int(quality))
        reference = (ref.name, float(ref.bpp[i]), {m: float(ref.metric(m)[i]) for m in METRICS})
    head = ["bpp", f"{test.name} SWD / PSNR / MS-SSIM", *[f"best {n}: SWD (scale)" for n in names]]
    if reference:
        head.append(f"{reference[0]} q{args.reference.rpartition(':')[2]} ({reference[1]:.3f} bpp): SWD")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for i, bpp in enumerate(test.bpp):
        if bpp > args.max_bpp:
            continue
        m = {k: float(test.metric(k)[i]) for k in METRICS}
        cells = [f"{bpp:.4f}", f"**{m['swd']:.1f}** / {m['psnr-rgb']:.2f} dB / {m['ms-ssim-rgb']:.4f}"]
        best = best_by_anchor(anchors, bpp)
        for n in names:
            if n in best:
                curve_name, v = best[n]
                scale = curve_name.partition("@")[2] or "1"
                cells.append(f"{v['swd']:.1f} (×{scale}; {v['psnr-rgb']:.2f} dB)")
            else:
                cells.append("not reached")
        if reference:
            cells.append(f"{reference[2]['swd']:.1f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
