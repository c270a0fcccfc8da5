"""``codec export``: a training checkpoint to a compact model file.

Export a Lightning checkpoint to its family's compact model file. A checkpoint is a pickle: loading it can run code,
so export only checkpoints you made or trust (model files, read everywhere else, never run code).
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from neuralcodec.training.export import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.output, args.quality)
    print(f"{args.checkpoint} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="turn a training checkpoint (.ckpt) into a compact model file (.pt)",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("checkpoint",
                   help="Lightning checkpoint from a trusted source, e.g. runs/hyperprior-q3/.../last.ckpt")
    p.add_argument("-o", "--output", required=True,
                   help="model file to write, e.g. runs/hyperprior-q3/hyperprior-q3.pt (never over a shipped file)")
    p.add_argument("--quality", type=int, default=None,
                   help="rate point recorded in the file and its bitstreams (default: the checkpoint's)")
    p.set_defaults(func=run)
