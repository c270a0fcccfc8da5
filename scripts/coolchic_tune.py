"""Tune the overfitted image codec on BSDS500 (never Kodak): variants of its schedule and architecture, each a full
encode (fit, weight-step search, streams) measured by its real file size and its exact decoding's PSNR.

    .venv/bin/python scripts/coolchic_tune.py --variants base lr2e-2 hard20 --iterations 1000 \\
        --out docs/results/coolchic/tune.jsonl

One JSON line per (image, λ, variant, iterations) is appended to ``--out``; lines already there are skipped, so
an interrupted run resumes. Variants are named in :data:`VARIANTS`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.codecs.coolchic.codec import read_model  # noqa: E402
from neuralcodec.codecs.coolchic.net import CoolChicArch  # noqa: E402
from neuralcodec.cpu_kernels import cpu_kernels  # noqa: E402
from neuralcodec.image_io import read_image  # noqa: E402
from neuralcodec.training.coolchic_fit import encode_image  # noqa: E402

BSDS = ROOT.parent / "shared" / "datasets" / "bsds500"
IMAGES = ["test/100007.jpg", "test/100039.jpg", "val/101085.jpg"]
CONTAINER_BYTES = 27  # header, three chunk lengths and CRC32 of a coolchic file without ICC profile (≈)
# name → (architecture overrides, schedule overrides, bfloat16 synthesis or None for the default)
VARIANTS: dict[str, tuple[dict, dict, bool | None]] = {
    "base": ({}, {}, None),
    "fp32": ({}, {}, False),
    "lr2e-2": ({}, {"lr": 2e-2}, None),
    "lr5e-3": ({}, {"lr": 5e-3}, None),
    "hard20": ({}, {"hard_fraction": 0.2}, None),
    "hard5": ({}, {"hard_fraction": 0.05}, None),
    "temp05": ({}, {"temperature_start": 0.5}, None),
    "noise3": ({}, {"noise_start": 3.0}, None),
    "hidden24": ({"synthesis_hidden": 24}, {}, None),
    "hidden64": ({"synthesis_hidden": 64}, {}, None),
    "arm1": ({"arm_layers": 1}, {}, None),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", nargs="+", default=IMAGES, help="paths under ../shared/datasets/bsds500")
    ap.add_argument("--lmbdas", nargs="+", type=float, default=[0.004, 0.001])
    ap.add_argument("--iterations", nargs="+", type=int, default=[1000])
    ap.add_argument("--variants", nargs="+", default=["base"], choices=sorted(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("coolchic_tune.jsonl"))
    args = ap.parse_args()
    done = set()
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["image"], r["lambda"], r["variant"], r["iterations"]))
    for iterations in args.iterations:
        for variant in args.variants:
            for lmbda in args.lmbdas:
                for name in args.images:
                    key = (name, lmbda, variant, iterations)
                    if key in done:
                        continue
                    arch_overrides, schedule, low = VARIANTS[variant]
                    image, _ = read_image(BSDS / name)
                    t0 = time.perf_counter()
                    fitted = encode_image(image, iterations=iterations, arch=CoolChicArch(**arch_overrides),
                                          schedule=schedule, low_precision=low, **_quality_for(lmbda))
                    seconds = time.perf_counter() - t0
                    size = sum(len(s) for s in fitted.streams.values()) + CONTAINER_BYTES
                    pixels = image.shape[1] * image.shape[2]
                    mse = np.mean((fitted.reconstruction.double().numpy() - image.double().numpy()) ** 2)
                    record = {"image": name, "lambda": lmbda, "variant": variant, "iterations": iterations,
                              "bytes": size, "bpp": 8 * size / pixels, "psnr": 10 * np.log10(255**2 / mse),
                              "streams": {k: len(v) for k, v in fitted.streams.items()},
                              "exponents": read_model(fitted.streams, *image.shape[1:])[1][0].exponents,
                              "seconds": round(seconds, 1), "cpu": platform.machine(), "kernels": cpu_kernels()}
                    print(json.dumps(record), flush=True)
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")


def _quality_for(lmbda: float) -> dict:
    """encode_image takes a quality; a λ not in the table is tried through a temporary entry."""
    from neuralcodec.codecs.coolchic import qualities

    for q, value in qualities.QUALITIES.items():
        if value == lmbda:
            return {"quality": q}
    qualities.QUALITIES[99] = lmbda
    return {"quality": 99}


if __name__ == "__main__":
    main()
