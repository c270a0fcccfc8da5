"""Exact (integer) against float32 synthesis, side by side: RGB PSNR and decoding time on Kodak, per rate point.

    .venv/bin/python scripts/bench_exact_synthesis.py [--families hyperprior checkerboard acgc] [--qualities 3]
        [--kodak ../shared/datasets/kodak] [--images 24] [--threads 2]

Every image is encoded once; its file is then decoded twice, through the shipped exact decoder and through the
float32 transforms it is derived from (``g_s``; for vq ``from_code`` and ``g_s``: today's decoder before the exact
one), in alternating order, so both timings see the same machine state. The bitstreams are the same, so the rate is
too. Prints, per rate point: bpp, mean PSNR of both decodings and their difference (the target: within 0.02 dB),
and the median decoding time of both with their ratio (the target: ≤ 1.5×).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=["hyperprior", "checkerboard", "acgc", "vq"])
    ap.add_argument("--qualities", nargs="+", type=int, default=None, help="default: every shipped rate point")
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from neuralcodec.codecs.hyperprior.codec import HyperpriorCodec
    from neuralcodec.codecs.registry import load_codec, shipped_qualities
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.image_io import ImageInfo, read_image

    torch.set_num_threads(args.threads)
    images = [read_image(p)[0] for p in sorted(args.kodak.glob("kodim*.png"))[: args.images]]
    from neuralcodec.codecs.vq.codec import VQCodec

    # the float32 transforms the exact ones are derived from: hyperprior-based g_s, vq's from_code and g_s
    exact_methods = {HyperpriorCodec: HyperpriorCodec._g_s_pixels, VQCodec: VQCodec._pixels}

    def float_hyperprior(self: HyperpriorCodec, y_hat: torch.Tensor) -> torch.Tensor:
        return self.net.g_s(y_hat).clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)

    def float_vq(self: VQCodec, vectors: torch.Tensor) -> torch.Tensor:
        vectors = vectors.contiguous(memory_format=torch.channels_last)
        return self.net.decode_vectors(vectors).clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)

    float_methods = {HyperpriorCodec: float_hyperprior, VQCodec: float_vq}

    def use(mode: str) -> None:
        for cls, method in (float_methods if mode == "float" else exact_methods).items():
            setattr(cls, "_g_s_pixels" if cls is HyperpriorCodec else "_pixels", method)

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return 10 * math.log10(255.0**2 / float(((a.double() - b.double()) ** 2).mean()))

    print(f"Kodak, {len(images)} images, {args.threads} torch threads; exact vs float32 synthesis of the same files")
    print(f"{'rate point':<16} {'bpp':>7} {'PSNR float':>11} {'PSNR exact':>11} {'Δ dB':>8} "
          f"{'float s':>8} {'exact s':>8} {'ratio':>6}")
    for family in args.families:
        for quality in args.qualities or shipped_qualities(family):
            codec = load_codec(family, quality)
            bits, p_float, p_exact, t_float, t_exact = 0, [], [], [], []
            for index, image in enumerate(images):
                data = encode_tensor(image, ImageInfo(3, 8), codec).data
                bits += 8 * len(data)
                order = ("float", "exact") if index % 2 == 0 else ("exact", "float")
                for mode in order:
                    use(mode)
                    start = time.perf_counter()
                    decoded, _ = decode_bytes(data)
                    seconds = time.perf_counter() - start
                    (t_float if mode == "float" else t_exact).append(seconds)
                    (p_float if mode == "float" else p_exact).append(psnr(decoded, image))
            use("exact")
            pixels = sum(img.shape[1] * img.shape[2] for img in images)
            pf, pe = statistics.mean(p_float), statistics.mean(p_exact)
            tf, te = statistics.median(t_float), statistics.median(t_exact)
            print(f"{family + ' q' + str(quality):<16} {bits / pixels:>7.4f} {pf:>11.4f} {pe:>11.4f} {pe - pf:>8.4f} "
                  f"{tf:>8.3f} {te:>8.3f} {te / tf:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
