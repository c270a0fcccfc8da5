"""Markdown table of the shipped rate points: training facts from each model file, Kodak figures from index.json.

    .venv/bin/python scripts/models_table.py [--family hyperprior]

Training facts come from the model file's ``meta`` (written by the exporter: λ, steps of the last stage, the
warm-start chain when recorded, crop, batch, wall time, hardware); Kodak bpp / PSNR / MS-SSIM come from
``neuralcodec/weights/index.json`` (``scripts/update_index.py`` over a ``codec eval`` result) and are shown only
when they were measured with the same weights hash.
"""

from __future__ import annotations

import argparse
import sys

from neuralcodec.codecs.registry import load_codec, shipped_index, shipped_qualities


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="hyperprior")
    args = parser.parse_args(argv)
    index = shipped_index()
    print("| point | λ | steps (last stage) | crop × batch (last stage) | stage step time | hardware "
          "| Kodak bpp | PSNR dB | MS-SSIM | weights |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for quality in shipped_qualities(args.family):
        codec = load_codec(args.family, quality)
        meta, name = codec.meta, f"{args.family}-q{quality}"
        crop = f"{meta['crop']}² × {meta['batch_size']}" if "crop" in meta else "not recorded (128² × 8)"
        if "train_scale" in meta:
            crop += f", images ×{meta['train_scale']:g}"
        hardware = meta.get("hardware", "?").replace(" 1 threads", " 1 thread")  # older exports said "1 threads"
        kodak = index.get(name, {})
        same = kodak.get("weights_hash") == codec.weights_hash.hex()
        figures = (f"{kodak['bpp']:.3f} | {kodak['psnr']:.2f} | {kodak['ms_ssim']:.4f}" if same
                   else "not measured | | ")
        print(f"| q{quality} | {meta.get('lmbda', 0):g} | {meta.get('steps', '?'):,} | {crop} "
              f"| {_hours(meta.get('train_seconds', 0.0))} | {hardware} | {figures} "
              f"| `{codec.weights_hash.hex()}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
