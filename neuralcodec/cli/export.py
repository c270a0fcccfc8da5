"""``codec export``: a training checkpoint to a compact model file.

Export a Lightning checkpoint to its family's compact model file. A checkpoint is a pickle: loading it can run code,
so export only checkpoints you made or trust (model files, read everywhere else, never run code).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralcodec.errors import InputError


def check_export_paths(checkpoint: Path, output: Path, force: bool) -> None:
    """Everything about the paths, before torch loads: the checkpoint is a file, the output a new ``.pt`` outside
    the installed weights folder (``--force`` replaces a user's own model file)."""
    from neuralcodec.codecs.registry import WEIGHTS_DIR

    if not checkpoint.exists():
        raise InputError(f"checkpoint not found: {checkpoint}")
    if not checkpoint.is_file():
        raise InputError(f"checkpoint is not a file: {checkpoint}")
    if output.suffix.lower() != ".pt":
        raise InputError(f"a model file is written as .pt, not {output.suffix or 'without a suffix'}: {output.name}")
    target = output.resolve()
    if target.is_relative_to(WEIGHTS_DIR.resolve()):
        raise InputError(f"refusing to write into the installed weights folder {WEIGHTS_DIR}: choose another path")
    if output.is_dir():
        raise InputError(f"output is a folder: {output}")
    if not output.parent.is_dir():
        raise InputError(f"output folder does not exist: {output.parent}")
    if output.exists() and not force:
        raise InputError(f"{output} exists: give --force to replace it")
    if target == checkpoint.resolve():
        raise InputError("the output would replace the checkpoint")


def run(args: argparse.Namespace) -> int:
    checkpoint, output = Path(args.checkpoint), Path(args.output)
    check_export_paths(checkpoint, output, args.force)

    from neuralcodec.training.export import export_checkpoint

    out = export_checkpoint(checkpoint, output, args.quality)
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
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (a model file of your own)")
    p.set_defaults(func=run)
