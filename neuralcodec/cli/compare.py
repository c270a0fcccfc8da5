"""``codec compare``: Bjøntegaard deltas of RD curves against the first.

Bjøntegaard deltas (bjontegaard package) of each curve against the first, for RGB PSNR and MS-SSIM (dB), over their
overlapping bpp range. A curve is a JSON file in CompressAI's schema or a published curve such as
compressai:bmshj2018-hyperprior.
"""

from __future__ import annotations

import argparse
import sys

from neuralcodec.cli.common import (
    load_curves,
    two_point_curves,
)
from neuralcodec.errors import InputError


def run(args: argparse.Namespace) -> int:
    from neuralcodec.eval.curves import BD_METHOD, bd_metrics, comparability

    if len(args.curves) < 2:
        raise InputError("compare needs an anchor curve and at least one curve to compare with it")
    curves = load_curves(args.curves)
    two_point_curves(curves, args.curves)
    refused, notes = comparability(curves)
    if refused:
        raise InputError(refused)
    for note in notes:
        print(f"codec: note: {note}", file=sys.stderr)
    anchor = curves[0]
    print(f"BD metrics against {anchor.name} ({args.curves[0]}); interpolation: {args.method}"
          + (" (JCT-VC/JVET CTC)" if args.method == BD_METHOD else ""))
    print(f"{'curve':<34} {'metric':<11} {'BD-rate %':>10} {'BD-quality':>11}  bpp range")
    for curve in curves[1:]:
        metrics = [("psnr-rgb", "dB"), ("ms-ssim-db", "dB")]
        if anchor.metric("psnr-yuv") is not None and curve.metric("psnr-yuv") is not None:  # video curves
            metrics.append(("psnr-yuv", "dB"))
        for metric, unit in metrics:
            r = bd_metrics(anchor, curve, metric, args.method)
            rate = "-" if r["bd_rate"] is None else f"{r['bd_rate']:+.2f}"
            qual = "-" if r["bd_quality"] is None else f"{r['bd_quality']:+.3f} {unit}"
            rng = "none" if r["bpp_range"] is None else f"{r['bpp_range'][0]:.3f}–{r['bpp_range'][1]:.3f}"
            print(f"{curve.name[:34]:<34} {metric:<11} {rate:>10} {qual:>11}  {rng}")
            if r["note"]:
                print(f"codec: warning: {curve.name} {metric}: {r['note']}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="BD-rate / BD-PSNR of RD curves against the first one",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("curves", nargs="+", help="anchor first, then the curves to compare")
    p.add_argument("--method", default="pchip", choices=["pchip", "akima", "cubic"],
                   help="interpolation (pchip: JCT-VC/JVET CTC; cubic: original VCEG-M33)")
    p.set_defaults(func=run)
