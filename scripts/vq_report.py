"""Figures of ``vq`` model files: codebook use, coded bits per index, lost-index recovery and decode time.

    .venv/bin/python scripts/vq_report.py --model runs/vq-restorer/vq-q3.pt [more files] \\
        [--kodak ../shared/datasets/kodak] [--val ../shared/datasets/bsds500/val] [--rates 0 0.1 0.2 0.4] [--json F]

For each model file:

- **codebook use** on BSDS500 val (whole images): the share of the (sub-)codebook's entries that index at least
  one block, and the perplexity of the index histogram;
- **bits per index** on Kodak: the bytes of the coded ``indices`` stream × 8 / the number of indices, against
  log₂ of the (sub-)codebook size (what a uniform code costs);
- **recovery** on Kodak: PSNR-RGB, MS-SSIM and patch-SWD of the decoding when each share in ``--rates`` of the
  indices is lost (positions drawn with seed 0 … 23, one per image) and restored by the masked-token transformer
  or by copying the nearest kept index;
- **decode time** of a 768×512 image (median over the Kodak images, 2 threads), without and with recovery at
  20 % loss;
- **member draws** (``--member-seeds``, points that decode by member drawing): PSNR-RGB, MS-SSIM and patch-SWD on
  Kodak when the members are drawn with other seeds than the format's, to show how much one draw matters.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from neuralcodec.codecs.registry import load_codec
from neuralcodec.eval.metrics import ms_ssim, patch_swd, psnr_rgb
from neuralcodec.image_io import read_image


def codebook_use(codec, files: list[Path]) -> dict[str, float]:
    counts = np.zeros(codec.entries)
    for path in files:
        image, _ = read_image(path)
        counts += np.bincount(codec.indices(image).ravel(), minlength=codec.entries)
    p = counts / counts.sum()
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum()
    return {"entries": codec.entries, "used_share": float((counts > 0).mean()), "perplexity": float(2**entropy),
            "index_entropy_bits": float(entropy)}


def measure(rows: dict[str, dict[str, list[float]]], key: str, decoded: torch.Tensor, image: torch.Tensor) -> None:
    """Append the PSNR-RGB, MS-SSIM and patch-SWD of one decoding to ``rows[key]``."""
    row = rows.setdefault(key, {"psnr": [], "ms_ssim": [], "swd": []})
    row["psnr"].append(psnr_rgb(decoded, image))
    row["ms_ssim"].append(ms_ssim(decoded, image))
    row["swd"].append(patch_swd(image, decoded))


def report(model: str, kodak: list[Path], val: list[Path], rates: list[float], member_seeds: list[int]) -> dict:
    codec = load_codec(model_file=model)
    out: dict = {"model": model, "quality": codec.quality, **codebook_use(codec, val)}
    bits, count, plain_times, recover_times = 0, 0, [], []
    recovery: dict[str, dict[str, list[float]]] = {}
    for i, path in enumerate(kodak):
        image, _ = read_image(path)
        streams, _ = codec.compress(image)
        indices = codec.decode_indices(streams, image.shape[1], image.shape[2])
        bits += 8 * len(streams["indices"])
        count += indices.size
        t0 = time.perf_counter()
        codec.decompress(streams, image.shape[1], image.shape[2])
        plain_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        codec.decompress(streams, image.shape[1], image.shape[2], drop_rate=0.2, seed=i)
        recover_times.append(time.perf_counter() - t0)
        for rate in rates:
            for method in ("transformer", "nearest") if rate > 0 else ("none",):
                restored = codec.recover(indices, rate, seed=i, method=method)[0] if rate > 0 else indices
                measure(recovery, f"{rate:g}/{method}", codec.synthesize(restored, image.shape[1], image.shape[2]),
                        image)
        for seed in member_seeds if codec.draws_members else []:
            measure(recovery, f"member seed {seed}",
                    codec.synthesize(indices, image.shape[1], image.shape[2], member_seed=seed), image)
        print(f"  {path.name}", flush=True)
    out.update({
        "bits_per_index": bits / count, "log2_entries": math.log2(codec.entries),
        "bpp_indices": bits / (len(kodak) * 768 * 512),
        "decode_seconds_median": statistics.median(plain_times),
        "decode_with_recovery_seconds_median": statistics.median(recover_times),
        "recovery": {k: {m: statistics.fmean(v) for m, v in row.items()} for k, row in recovery.items()},
    })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True)
    parser.add_argument("--kodak", default="../shared/datasets/kodak")
    parser.add_argument("--val", default="../shared/datasets/bsds500/val")
    parser.add_argument("--rates", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.4])
    parser.add_argument("--limit", type=int, default=None, help="only the first N Kodak images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--member-seeds", nargs="*", type=int, default=[1, 2, 3],
                        help="other member-drawing seeds to measure (points that decode by member drawing)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kodak = sorted(Path(args.kodak).glob("*.png"))[: args.limit]
    val = sorted(Path(args.val).glob("*.jpg"))
    results = []
    for model in args.model:
        print(model, flush=True)
        r = report(model, kodak, val, args.rates, args.member_seeds)
        results.append(r)
        print(f"q{r['quality']}: {r['entries']} entries, {100 * r['used_share']:.1f} % used on BSDS500 val "
              f"(perplexity {r['perplexity']:.0f}); {r['bits_per_index']:.3f} bits/index coded vs "
              f"log2 K = {r['log2_entries']:.0f} ({r['bpp_indices']:.4f} bpp); decode "
              f"{r['decode_seconds_median']:.2f} s, with 20 % recovery "
              f"{r['decode_with_recovery_seconds_median']:.2f} s")
        for key, row in r["recovery"].items():
            label = key if key.startswith("member") else f"loss {key}"
            print(f"   {label:>21}: PSNR {row['psnr']:.2f} dB  MS-SSIM {row['ms_ssim']:.4f}  SWD {row['swd']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
