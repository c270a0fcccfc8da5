"""``codec eval-video``: RD evaluation of video codecs and live anchors on clips.

Code every clip at every rate point with each codec, decode it from the counted bytes and measure bpp (bytes × 8 /
(W·H·frames)) and bitrate, PSNR of Y, U, V and (6Y+U+V)/8, RGB PSNR and MS-SSIM per frame and on average, encode
seconds and decode frames per second. Anchors run live on the same frames: x264 and x265 through PyAV (presets
medium and veryslow, CRF sweep, 4:2:0; raw stream bytes) and hyperprior-intra (every frame coded as an image). One
JSON file per codec and clip, OUT/CLIP/CODEC.json, in CompressAI's video results schema (plus OUT/CODEC.json
averaged over clips when there are several); 'codec plot' draws them, 'codec compare' gives BD-rates. Settings and
definitions: neuralcodec/eval/video.py. nerv fits a network per clip and rate point: minutes each (bound it with
--epochs or --time-budget).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralcodec.cli.common import (
    check_fit_args,
    make_folder,
    parse_size,
)
from neuralcodec.codecs.registry import DEFAULT_VIDEO_CODEC
from neuralcodec.errors import InputError


def run(args: argparse.Namespace) -> int:
    """``codec eval-video INPUT -o OUT_DIR``: nerv and the live anchors on the same clips, a JSON file per codec."""
    import json

    from neuralcodec.eval.video import VIDEO_CODECS, clip_names, find_clips, parse_int_list
    from neuralcodec.video_io import open_video

    # what is wrong with the arguments or the input shows before torch loads and any clip is read
    names = list(dict.fromkeys(n.strip() for n in args.codecs.split(",") if n.strip()))  # each once, in order
    unknown = [n for n in names if n not in VIDEO_CODECS]
    if not names or unknown:
        raise InputError(f"unknown video codec '{unknown[0] if unknown else args.codecs}' (known: "
                         f"{', '.join(VIDEO_CODECS)})")
    check_fit_args(args)
    points = {DEFAULT_VIDEO_CODEC: args.qualities and parse_int_list(args.qualities, "--qualities"),
              "hyperprior-intra": args.hyperprior_qualities and parse_int_list(args.hyperprior_qualities,
                                                                               "--hyperprior-qualities")}
    crfs = args.crfs and parse_int_list(args.crfs, "--crfs")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"output is not a folder: {out}")
    paths = find_clips(args.input)
    for path in paths:  # every clip's header and size, before hours of coding start on the first one
        with open_video(path, size=args.size, fps=args.fps, max_frames=args.frames):
            pass

    from tqdm import tqdm

    from neuralcodec.eval.video import average_results, evaluate_clip, load_clip, video_codec
    from neuralcodec.image_io import atomic_write

    bar = tqdm(total=0, unit="point", desc="eval-video", file=sys.stderr, disable=args.quiet,
               bar_format="{desc}: {n_fmt}/{total_fmt} rate points |{bar}| {elapsed}{postfix}")

    def fit_report(state: dict[str, float]) -> None:  # nerv fits take minutes: show where they are
        bar.set_postfix_str(f"fit epoch {int(state['epoch'])}, PSNR {state.get('psnr', 0):.2f} dB")

    def point_started(label: str) -> None:
        bar.set_postfix_str("", refresh=False)  # the last fit's epoch is no news for the next point
        bar.set_description_str(label)

    keep = Path(args.keep_files) if args.keep_files else None
    codecs = [video_codec(n, points.get(n, crfs) or None, args.epochs, args.time_budget, fit_report, keep)
              for n in names]
    bar.total = len(paths) * sum(len(c.points) for c in codecs)
    make_folder(out)
    blobs: dict[str, list[dict]] = {c.name: [] for c in codecs}
    written: list[Path] = []

    def write(path: Path, blob: dict) -> None:
        atomic_write(path, (json.dumps(blob, indent=1) + "\n").encode())
        written.append(path)

    try:
        for path, clip_name in zip(paths, clip_names(paths), strict=True):
            bar.set_description_str(f"{clip_name}: reading")
            clip = load_clip(path, args.size, args.fps, args.frames, clip_name)
            (out / clip_name).mkdir(exist_ok=True)
            for codec in codecs:
                blob = evaluate_clip(codec, clip, on_start=point_started, on_done=lambda: bar.update(1))
                write(out / clip_name / f"{codec.name}.json", blob)  # each as soon as it is done
                blobs[codec.name].append(blob)
            del clip  # one clip's frames in memory at a time
    finally:
        bar.close()
    if len(paths) > 1:
        dataset = Path(args.input).resolve().name
        for codec in codecs:
            write(out / f"{codec.name}.json", average_results(blobs[codec.name], dataset))

    summary = {c.name: (average_results(blobs[c.name], "") if len(paths) > 1 else blobs[c.name][0]) for c in codecs}
    print(f"{'mean of ' + str(len(paths)) + ' clips' if len(paths) > 1 else paths[0].name}:")
    print(f"{'codec':<17} {'point':>9} {'bpp':>8} {'PSNR-YUV':>8} {'PSNR-RGB':>8} {'MS-SSIM':>8} {'enc s':>8} "
          f"{'dec fps':>8}")
    for name, blob in summary.items():
        r = blob["results"]
        key = "crf" if "crf" in r else "quality"
        for i, point in enumerate(r[key]):
            ssim = "-" if r["ms-ssim-rgb"][i] is None else f"{r['ms-ssim-rgb'][i]:.4f}"
            label = f"{'crf' if key == 'crf' else 'q'}{point}"
            print(f"{name:<17} {label:>9} {r['bpp'][i]:>8.4f} {r['psnr-yuv'][i]:>8.2f} "
                  f"{r['psnr-rgb'][i]:>8.2f} {ssim:>8} {r['encode_seconds'][i]:>8.2f} {r['decode_fps'][i]:>8.1f}")
    print(f"wrote {len(written)} JSON files to {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-video", help="RD evaluation of nerv and live video anchors on clips, written as JSON",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("input", help="a clip (.y4m, raw .yuv, .mp4/.mkv/...), a folder of PNG frames, a folder of clips, "
                   "or a UVG folder (one 8-bit file per UVG sequence)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder for the JSON files (created)")
    p.add_argument("--codecs", default="nerv,x264-medium,x264-veryslow,x265-medium,x265-veryslow,hyperprior-intra",
                   help="comma-separated codecs (default: all of nerv, x264-medium, x264-veryslow, x265-medium, "
                   "x265-veryslow, hyperprior-intra)")
    p.add_argument("--qualities", default=None, metavar="LIST", help="nerv qualities, e.g. 0,1,2 (default: 0,1,2,3)")
    p.add_argument("--hyperprior-qualities", default=None, metavar="LIST",
                   help="hyperprior-intra rate points (default: the shipped ones, 0…7)")
    p.add_argument("--crfs", default=None, metavar="LIST",
                   help="x264 / x265 CRF values (default: 22,27,32,37,42,47)")
    p.add_argument("--epochs", type=int, default=None, help="nerv: passes over the clip (default 300)")
    p.add_argument("--keep-files", default=None, metavar="DIR",
                   help="nerv: keep each fitted .bin in DIR (CLIP-nerv-qN.bin), to decode or time it later")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="nerv: end each fit after this many seconds")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="only the first N frames of each clip")
    p.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help="frame size of a raw .yuv whose name does not say it")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a raw .yuv or PNG folder (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
