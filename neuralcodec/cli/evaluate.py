"""``codec eval``: RD evaluation of an image codec on a folder of images.

Encode every image to a real file at every rate point, decode it from that file and measure bpp (file bytes, header
included), RGB PSNR, Y-PSNR (BT.601), MS-SSIM (also in dB), LPIPS (when AlexNet weights are on disk; else null),
patch-SWD and times. Codecs: learned families (see 'codec list'), fitted families (each image fitted
at encode time, resumable with --keep-files) and live anchors jpeg, webp, avif, avif444, x265. Output uses
CompressAI's results JSON schema.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralcodec.cli.common import (
    add_decoder_arguments,
    add_options,
    cores,
    decode_options,
    family_options,
)
from neuralcodec.errors import InputError


def run(args: argparse.Namespace) -> int:
    jobs = args.jobs if args.jobs is not None else cores()
    if jobs < 1:  # before torch is imported (seconds)
        raise InputError(f"--jobs must be at least 1, not {jobs}")
    import json
    import tempfile

    from tqdm import tqdm

    from neuralcodec.batch import expand_inputs, image_suffixes
    from neuralcodec.eval.lpips_metric import load_lpips
    from neuralcodec.eval.run import eval_codec, evaluate, model_files_eval_codec
    from neuralcodec.image_io import atomic_write

    try:
        options = decode_options(args)
        fitting = {name: getattr(args, name) for name in family_options("encode", ("fitted",), "image")
                   if getattr(args, name, None) is not None}
        if args.model:
            codec = model_files_eval_codec(args.model, options)
        else:
            codec = eval_codec(args.codec, options, fitting)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    images = expand_inputs(args.dataset, image_suffixes())[: args.limit or None]
    qualities = args.quality or codec.qualities
    if not qualities:
        raise InputError(f"no rate points for {args.codec}")
    try:
        codec.check_qualities(qualities)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    lpips_model, note = (None, "LPIPS disabled (--no-lpips)") if args.no_lpips else load_lpips()
    if lpips_model is None:
        print(f"codec: notice: {note}", file=sys.stderr)
    out = Path(args.out)
    if not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(images) * len(qualities), unit="image",
                                                    desc=f"eval {codec.name}", file=sys.stderr) as bar:
        work = Path(args.keep_files) if args.keep_files else Path(tmp)
        result = evaluate(codec, images, work, qualities, lpips_model, note, progress=lambda: bar.update(1),
                          jobs=jobs)
    atomic_write(out, (json.dumps(result, indent=2) + "\n").encode())
    r = result["results"]
    print(f"{'quality':>7} {'bpp':>8} {'PSNR':>7} {'Y-PSNR':>7} {'MS-SSIM':>8} {'SWD':>7}")
    for i, q in enumerate(r["quality"]):
        ssim = "-" if r["ms-ssim-rgb"][i] is None else f"{r['ms-ssim-rgb'][i]:.4f}"
        print(f"{q:>7} {r['bpp'][i]:>8.4f} {r['psnr-rgb'][i]:>7.2f} {r['psnr-y'][i]:>7.2f} {ssim:>8} "
              f"{r['swd'][i]:>7.2f}")
    print(f"wrote {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="RD evaluation of a codec on an image folder, written as JSON",
                       description=__doc__.split("\n\n", 1)[1])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--codec", default=None, help="a learned family (see 'codec list') or a live anchor: "
                      "jpeg | webp | avif | avif444 | x265; NAME@SCALE codes the image downscaled by SCALE and "
                      "upscales the decoding back (e.g. avif@0.5, for extreme rates)")
    what.add_argument("--model", nargs="+", default=None, metavar="FILE",
                   help="instead of --codec: model files (e.g. fresh from 'codec train'), one rate point each")
    p.add_argument("--quality", type=int, nargs="*", default=None, help="rate points (default: the full sweep)")
    p.add_argument("--dataset", required=True, help="folder (or quoted glob) of images, e.g. ../shared/datasets/kodak")
    p.add_argument("--out", required=True, help="JSON file to write, e.g. results/hyperprior-kodak.json")
    p.add_argument("--keep-files", default=None, help="keep the coded files in this folder")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS even if its weights are present")
    add_decoder_arguments(p)
    add_options(p.add_argument_group("fitted codecs (each image fitted at encode time; with --keep-files an "
                                     "interrupted evaluation resumes: files already there are not encoded again)"),
                family_options("encode", ("fitted",), "image"))
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="images measured in N worker processes at once (default: all cores); results as with 1")
    p.set_defaults(func=run)
