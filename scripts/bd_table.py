"""Markdown table of BD-rates of our Kodak curves against the classical and published anchors.

    .venv/bin/python scripts/bd_table.py docs/results/hyperprior-kodak.json \
        --anchors docs/results/jpeg-kodak.json docs/results/webp-kodak.json docs/results/avif-kodak.json \
                  docs/results/x265-kodak.json compressai:bmshj2018-hyperprior

Each cell is what ``codec compare ANCHOR OURS`` prints (bjontegaard package, piecewise-cubic interpolation over
the overlapping bpp range): negative = fewer bits than the anchor for the same quality.
"""

from __future__ import annotations

import argparse
import sys

from neuralcodec.eval.curves import BD_METHOD, bd_metrics, load_curve


def _cell(result: dict) -> str:
    if result["bd_rate"] is None:
        return f"n/a ({result['note']})"
    lo, hi = result["bpp_range"]
    return f"{result['bd_rate']:+.1f} % ({lo:.2f}–{hi:.2f} bpp)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ours", nargs="+", help="our results JSONs (rows)")
    parser.add_argument("--anchors", nargs="+", required=True, help="anchor JSONs or compressai:NAME (columns)")
    parser.add_argument("--metric", default="psnr-rgb", help="psnr-rgb (default) or ms-ssim-db")
    args = parser.parse_args(argv)

    rows = [load_curve(spec) for spec in args.ours]
    cols = [load_curve(spec) for spec in args.anchors]
    print(f"BD-rate on {args.metric} ({BD_METHOD} interpolation), rows against columns:\n")
    print("| codec | " + " | ".join(c.name for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for row in rows:
        cells = [_cell(bd_metrics(col, row, args.metric)) for col in cols]
        print(f"| {row.name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
