"""Markdown table of the shipped rate points: training facts from each model file, Kodak figures from index.json.

    .venv/bin/python scripts/models_table.py [--family hyperprior]

Training facts come from the model file's ``meta`` (written by the exporter: λ, steps of the last stage, the
warm-start chain ``meta.lineage`` when recorded, crop, batch, wall time, hardware; a second table prints the
chain); Kodak bpp / PSNR / MS-SSIM come from
``neuralcodec/weights/index.json`` (``scripts/update_index.py`` over a ``codec eval`` result) and are shown only
when they were measured with the same weights hash.
"""

from __future__ import annotations

import argparse
import sys

from neuralcodec.codecs.registry import load_codec, shipped_index, shipped_qualities


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _chain(meta: dict) -> str:
    """The warm-start chain as runs of stages per λ: ``λ 0.013: 3,000 → λ 0.032: 3,000 + 6,000``."""
    stages = [*meta.get("lineage", []), {"lmbda": meta.get("lmbda", 0), "steps": meta.get("steps", 0),
                                         "crop": meta.get("crop"), "batch_size": meta.get("batch_size")}]
    runs: list[tuple[float, list[str]]] = []
    for stage in stages:
        steps = f"{int(stage.get('steps', 0)):,}"
        if stage.get("crop") and stage["crop"] != 128:
            steps += f" ({stage['crop']}² × {stage.get('batch_size', '?')})"
        if runs and runs[-1][0] == stage.get("lmbda"):
            runs[-1][1].append(steps)
        else:
            runs.append((stage.get("lmbda"), [steps]))
    return " → ".join(f"λ {lmbda:g}: {' + '.join(parts)}" for lmbda, parts in runs)


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
    print()
    print("| point | warm-start chain recorded in the file (steps per stage, oldest first; 128² × 8 unless noted) "
          "| recorded steps | recorded step time |")
    print("|---|---|---|---|")
    for quality in shipped_qualities(args.family):
        meta = load_codec(args.family, quality).meta
        print(f"| q{quality} | {_chain(meta)} | {int(meta.get('total_steps', meta.get('steps', 0))):,} "
              f"| {_hours(meta.get('total_train_seconds', meta.get('train_seconds', 0.0)))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
