"""Figures of a diffusion decoder model: the fidelity–realism curve, time per step, tile seams, thread determinism.

    .venv/bin/python scripts/diffusion_report.py --model runs/diffusion-decoder/diffusion-q0.pt \\
        [--qualities 0 1] [--strengths 0 0.25 0.5 0.75 1] [--steps 2] [--kodak ../shared/datasets/kodak] [--json F]

- **curve**: for each hyperprior rate point and strength, the mean RGB PSNR, MS-SSIM and patch-SWD over Kodak of
  the diffusion decoding of the real file (strength 0 is the MSE decoding), seed 0;
- **time**: the median decode time of a Kodak image (768×512) at 2 threads with 1, 2 and 4 steps, and per step;
- **seams**: a 1536×1024 image (four Kodak images) is refined in tiles; the PSNR of the pixels within 8 of a tile
  border against that of the rest, and the largest difference from refining it whole;
- **threads**: the largest pixel difference between decodes with 1 and with 2 threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from neuralcodec.codecs.diffusion import decoder as diffusion_decoder
from neuralcodec.codecs.registry import load_codec, load_decoder
from neuralcodec.eval.metrics import ms_ssim, patch_swd, psnr_rgb
from neuralcodec.image_io import read_image


def base_decoding(image: torch.Tensor, quality: int) -> torch.Tensor:
    codec = load_codec("hyperprior", quality)
    streams, _ = codec.compress(image)
    return codec.decompress(streams, image.shape[1], image.shape[2])


def curve(decoder, images, qualities, strengths, steps) -> list[dict]:  # noqa: ANN001
    rows = []
    for q in qualities:
        bases = [base_decoding(image, q) for image in images]
        for s in strengths:
            outs = [decoder.refine(b, "hyperprior", q, steps=steps, strength=s, seed=0) for b in bases]
            rows.append({"quality": q, "strength": s, "steps": steps,
                         "start_timestep": decoder.start_timestep("hyperprior", q, s),
                         "psnr": statistics.fmean(psnr_rgb(o, i) for o, i in zip(outs, images, strict=True)),
                         "ms_ssim": statistics.fmean(ms_ssim(o, i) for o, i in zip(outs, images, strict=True)),
                         "swd": statistics.fmean(patch_swd(i, o) for o, i in zip(outs, images, strict=True))})
            r = rows[-1]
            print(f"q{q} strength {s:.2f} (t = {r['start_timestep']}): PSNR {r['psnr']:.2f} dB, "
                  f"MS-SSIM {r['ms_ssim']:.4f}, SWD {r['swd']:.1f}", flush=True)
    return rows


def timing(decoder, image: torch.Tensor) -> dict:  # noqa: ANN001
    torch.set_num_threads(2)
    base = base_decoding(image, 0)
    out = {}
    for steps in (1, 2, 4):
        times = []
        for seed in range(3):
            t0 = time.perf_counter()
            decoder.refine(base, "hyperprior", 0, steps=steps, seed=seed)
            times.append(time.perf_counter() - t0)
        out[steps] = statistics.median(times)
        print(f"{steps} steps: {out[steps]:.2f} s (refinement only, 768×512, 2 threads)", flush=True)
    return {"seconds_by_steps": out, "seconds_per_step": (out[4] - out[1]) / 3}


def seams(decoder, images) -> dict:  # noqa: ANN001
    big = torch.cat([torch.cat(images[0:2], 2), torch.cat(images[2:4], 2)], 1)  # 1024 × 1536
    base = base_decoding(big, 0)
    refined = decoder.refine(base, "hyperprior", 0, seed=0)
    saved, diffusion_decoder.TILE = diffusion_decoder.TILE, 1 << 16
    whole = decoder.refine(base, "hyperprior", 0, seed=0)
    diffusion_decoder.TILE = saved
    near = torch.zeros(big.shape[1:], dtype=torch.bool)
    for border in range(diffusion_decoder.TILE, big.shape[1], diffusion_decoder.TILE):
        near[border - 8 : border + 8, :] = True
    for border in range(diffusion_decoder.TILE, big.shape[2], diffusion_decoder.TILE):
        near[:, border - 8 : border + 8] = True
    err = (refined.float() - big.float()).pow(2).mean(0)
    psnr = lambda m: 10 * torch.log10(255.0**2 / err[m].mean()).item()  # noqa: E731
    out = {"psnr_near_borders": psnr(near), "psnr_interior": psnr(~near),
           "max_difference_tiled_vs_whole": int((refined.int() - whole.int()).abs().max())}
    print(f"tile borders: {out['psnr_near_borders']:.2f} dB, interior {out['psnr_interior']:.2f} dB; tiled vs whole: "
          f"largest pixel difference {out['max_difference_tiled_vs_whole']}", flush=True)
    return out


def threads(decoder, image: torch.Tensor) -> dict:  # noqa: ANN001
    base = base_decoding(image, 0)
    torch.set_num_threads(1)
    one = decoder.refine(base, "hyperprior", 0, seed=0)
    torch.set_num_threads(2)
    two = decoder.refine(base, "hyperprior", 0, seed=0)
    diff = int((one.int() - two.int()).abs().max())
    print(f"1 vs 2 threads: largest pixel difference {diff}", flush=True)
    return {"max_pixel_difference_1_vs_2_threads": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="diffusion model file (default: the installed one)")
    parser.add_argument("--qualities", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--kodak", default="../shared/datasets/kodak")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    decoder = load_decoder("diffusion", "hyperprior", args.model)
    kodak = [read_image(f)[0] for f in sorted(Path(args.kodak).glob("*.png"))]
    images = kodak[: args.limit]
    landscape = [i for i in kodak if i.shape[1:] == (512, 768)][:4]  # the seam check tiles four: 2×2
    result = {"model": args.model, "curve": curve(decoder, images, args.qualities, args.strengths, args.steps),
              "time": timing(decoder, landscape[0]), "seams": seams(decoder, landscape[:4]),
              "threads": threads(decoder, landscape[0])}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
