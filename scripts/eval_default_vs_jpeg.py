"""Kodak check of a hyperprior rate point against live JPEG at the same bpp (issue: default model ≥ +2 dB).

    .venv/bin/python scripts/eval_default_vs_jpeg.py [--quality 3 4 ...] [--model FILE] [--kodak DIR]

Without ``--quality`` every shipped rate point is checked (the JPEG sweep is run once for all of them).

Ours: every image encoded to a real container (header included), decoded from those bytes; bpp = 8 ×
bytes / pixels, RGB PSNR of the decoded image. JPEG: Pillow, 4:2:0, optimize=True, quality 5…95 step 5 and
quality 1–4 as well, so the sweep reaches below 0.15 bpp; bpp and PSNR averaged over the images per quality, then
interpolated (linear in log bpp) at our mean bpp.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

import torch

from neuralcodec.codecs.registry import load_codec, shipped_qualities
from neuralcodec.coding import decode_bytes, encode_tensor
from neuralcodec.eval.anchors import JPEG_QUALITIES, jpeg_roundtrip
from neuralcodec.eval.metrics import bpp_of, psnr_rgb
from neuralcodec.eval.rd import interpolate_at_rate
from neuralcodec.image_io import read_image

ROOT = Path(__file__).resolve().parent.parent
SWEEP = [1, 2, 3, 4, *JPEG_QUALITIES]  # the low qualities reach our lowest rate point


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quality", type=int, nargs="*", default=None, help="rate points (default: all shipped)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        codecs = [load_codec("hyperprior", None, args.model)]
    else:
        codecs = [load_codec("hyperprior", q) for q in (args.quality or shipped_qualities("hyperprior"))]
    files = sorted(args.kodak.glob("kodim*.png"))
    ours = [([], []) for _ in codecs]
    jpeg = {q: ([], []) for q in SWEEP}
    for f in files:
        image, info = read_image(f)
        for codec, (bpps, psnrs) in zip(codecs, ours, strict=True):
            data = encode_tensor(image, info, codec).data
            decoded, _ = decode_bytes(data, args.model)
            bpps.append(bpp_of(len(data), image))
            psnrs.append(psnr_rgb(decoded, image))
        for q in SWEEP:
            jdata, jdec = jpeg_roundtrip(image, q)
            jpeg[q][0].append(bpp_of(len(jdata), image))
            jpeg[q][1].append(psnr_rgb(jdec, image))
    mean = statistics.fmean
    j_bpp = [mean(jpeg[q][0]) for q in SWEEP]
    j_psnr = [mean(jpeg[q][1]) for q in SWEEP]
    print(f"{len(files)} Kodak images; JPEG = Pillow 4:2:0 optimize, q{SWEEP[0]}–{SWEEP[-1]}, "
          "interpolated (linear in log bpp) at our bpp")
    for codec, (bpps, psnrs) in zip(codecs, ours, strict=True):
        our_bpp, our_psnr = mean(bpps), mean(psnrs)
        head = (f"hyperprior q{codec.quality} (weights {codec.weights_hash.hex()}, "
                f"last stage {codec.meta.get('steps', '?')} steps): {our_bpp:.4f} bpp (files, "
                f"header included), RGB PSNR {our_psnr:.2f} dB; ")
        try:
            j_at = interpolate_at_rate(j_bpp, j_psnr, our_bpp)
        except ValueError as exc:
            print(head + f"JPEG not measured at this rate ({exc})")
            continue
        print(head + f"JPEG {j_at:.2f} dB; gain over JPEG {our_psnr - j_at:+.2f} dB")


if __name__ == "__main__":
    main()
