"""``codec plot``: RD curves drawn as an image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralcodec.cli.common import (
    load_curves,
)
from neuralcodec.errors import InputError


def run(args: argparse.Namespace) -> int:
    from neuralcodec.eval.curves import comparability, dataset_title, plot_curves, plot_formats

    curves = load_curves(args.curves)
    refused, notes = comparability(curves)
    if refused:
        raise InputError(refused)
    for note in notes:
        print(f"codec: note: {note}", file=sys.stderr)
    out = Path(args.output)
    if not out.suffix:
        out = out.with_name(out.name + ".png")
        print(f"codec: note: no file suffix given: writing PNG to {out}", file=sys.stderr)
    formats = plot_formats()
    if out.suffix.lower().lstrip(".") not in formats:
        raise InputError(f"cannot write a plot as '{out.suffix}' (use one of: .{', .'.join(sorted(formats))})")
    if not out.parent.is_dir():
        raise InputError(f"output folder does not exist: {out.parent}")
    plot_curves(curves, out, args.title or dataset_title(curves))
    print(f"wrote {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="draw bpp–PSNR, bpp–MS-SSIM and bpp–realism panels of RD curves")
    p.add_argument("curves", nargs="+", help="JSON files or compressai:NAME")
    p.add_argument("-o", "--output", required=True,
                   help="image to write; its suffix picks the format (.png when none is given; also .pdf, .svg, …)")
    p.add_argument("--title", default=None,
                   help="figure title (default: the dataset and image count recorded in the first curve)")
    p.set_defaults(func=run)
