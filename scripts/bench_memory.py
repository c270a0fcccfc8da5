"""Peak memory of coding large images: 3840×2160 and 6000×4000, synthesised by tiling Kodak images.

    .venv/bin/python scripts/bench_memory.py [--threads 2] [--codec acgc] [--model FILE] [--sizes 6000x4000] \
        [--decode-args "--decoder diffusion --decoder-model FILE --steps 2"]

Each measurement runs in a fresh process (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is per process):
our encode (image → .bin on disk) and our decode (.bin → PNG on disk) for each size, then CompressAI's
``MeanScaleHyperprior`` whole-image ``compress()`` + ``decompress()`` on the 4K image for comparison.
Also prints the wall time of each step and checks that the decoded file equals the encoder's output size.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(3840, 2160), (6000, 4000)]


def synthesise(width: int, height: int, kodak: Path, path: Path) -> None:
    """A large photo-like test image: Kodak images tiled in a grid (no upscaling blur), cropped."""
    from PIL import Image

    files = sorted(kodak.glob("kodim*.png"))
    canvas = Image.new("RGB", (width, height))
    k = 0
    for top in range(0, height, 512):
        for left in range(0, width, 768):
            img = Image.open(files[k % len(files)]).convert("RGB")
            if img.size != (768, 512):
                img = img.rotate(90, expand=True)
            canvas.paste(img, (left, top))
            k += 1
    canvas.save(path)


def worker(task: str, src: Path, dst: Path, threads: int, codec_name: str | None, model: str | None,
           decode_args: str = "") -> None:
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if task == "encode":
        from neuralcodec.cli import main as codec

        extra = (["--codec", codec_name] if codec_name else []) + (["--model", model] if model else [])
        assert codec(["encode", str(src), "-o", str(dst), *extra]) == 0
    elif task == "decode":
        from neuralcodec.cli import main as codec

        extra = (["--model", model] if model else []) + shlex.split(decode_args)
        assert codec(["decode", str(src), "-o", str(dst), *extra]) == 0
    else:
        from compressai.models import MeanScaleHyperprior

        from neuralcodec.image_io import read_image

        image, _ = read_image(src)
        net = MeanScaleHyperprior(128, 192).eval()
        net.update(force=True)
        with torch.no_grad():
            x = image.float().unsqueeze(0) / 255.0
            h, w = x.shape[2:]
            x = torch.nn.functional.pad(x, (0, (-w) % 64, 0, (-h) % 64))
            out = net.compress(x)
            net.decompress(out["strings"], out["shape"])
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))


def run(task: str, src: Path, dst: Path, threads: int, codec_name: str | None = None,
        model: str | None = None, decode_args: str = "") -> dict:
    # via `sh` (which forks the worker): a child exec'd straight from this process would inherit this
    # process's peak RSS in ru_maxrss on Linux
    command = [sys.executable, __file__, "--worker", task, "--src", str(src), "--dst", str(dst),
               "--threads", str(threads), *(["--codec", codec_name] if codec_name else []),
               *(["--model", model] if model else []), f"--decode-args={decode_args}"]
    proc = subprocess.run(["sh", "-c", '"$0" "$@"; exit $?', *command], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{task} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def seams(kodak: Path, tile: int) -> None:
    """Cost of tiling on Kodak: every image coded whole and with forced ``tile``-pixel tiles."""
    import statistics

    import torch

    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.eval.metrics import bpp_of, psnr_rgb
    from neuralcodec.image_io import ImageInfo, read_image

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    codec = load_codec()
    rows = []
    for path in sorted(kodak.glob("kodim*.png")):
        image, _ = read_image(path)
        results = []
        for whole_max, tile_px in [(codec.whole_image_max_pixels, codec.tile_pixels), (0, tile)]:
            codec.whole_image_max_pixels, codec.tile_pixels = whole_max, tile_px
            data = encode_tensor(image, ImageInfo(3, 8), codec).data
            decoded, _ = decode_bytes(data)
            results.append((bpp_of(len(data), image), psnr_rgb(decoded, image)))
        codec.whole_image_max_pixels, codec.tile_pixels = type(codec).whole_image_max_pixels, type(codec).tile_pixels
        rows.append(results)
    mean = statistics.fmean
    bpp_whole, bpp_tiled = mean(r[0][0] for r in rows), mean(r[1][0] for r in rows)
    psnr_whole, psnr_tiled = mean(r[0][1] for r in rows), mean(r[1][1] for r in rows)
    worst = max(abs(r[1][1] - r[0][1]) for r in rows)
    print(f"Kodak, 24 images, whole-image vs {tile}-px tiles (margins: 64 px analysis, 4 latents synthesis):")
    print(f"  bpp   {bpp_whole:.5f} vs {bpp_tiled:.5f} ({100 * (bpp_tiled / bpp_whole - 1):+.3f} %)")
    print(f"  PSNR  {psnr_whole:.4f} vs {psnr_tiled:.4f} dB ({psnr_tiled - psnr_whole:+.4f} dB; "
          f"worst image {worst:.4f} dB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-compressai", action="store_true")
    ap.add_argument("--seams", type=int, default=0, metavar="TILE",
                    help="instead: cost of TILE-pixel tiles vs whole-image coding on Kodak")
    ap.add_argument("--codec", default=None, help="codec family to encode with (default: the default codec)")
    ap.add_argument("--model", default=None, help="a model file to encode and decode with instead of a shipped one")
    ap.add_argument("--sizes", default=None, help="comma-separated WxH list (default: 3840x2160,6000x4000)")
    ap.add_argument("--decode-args", default="", help="more `codec decode` options, e.g. a generative decoder's")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dst", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.src, args.dst, args.threads, args.codec, args.model, args.decode_args)
        return
    if args.seams:
        seams(args.kodak, args.seams)
        return
    decoding = f", decode {args.decode_args}" if args.decode_args else ""
    print(f"codec: {args.model or args.codec or 'default'}{decoding}")
    print(f"{'image':<11} {'step':<26} {'peak RSS MB':>12} {'seconds':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")] if args.sizes else SIZES
        for w, h in sizes:
            src = Path(tmp) / f"big_{w}x{h}.png"
            synthesise(w, h, args.kodak, src)
            binf, out = Path(tmp) / "big.bin", Path(tmp) / "big_dec.png"
            for task, a, b in [("encode", src, binf), ("decode", binf, out)]:
                r = run(task, a, b, args.threads, args.codec, args.model, args.decode_args)
                print(f"{w}x{h:<6} {'neuralcodec ' + task:<26} {r['peak_mb']:>12.0f} {r['seconds']:>9.1f}")
            bpp = 8 * binf.stat().st_size / (w * h)
            print(f"{w}x{h:<6} {'(file: ' + f'{bpp:.4f} bpp)':<26}")
            if (w, h) == SIZES[0] and not args.skip_compressai:
                r = run("compressai", src, binf, args.threads)
                print(f"{w}x{h:<6} {'CompressAI whole-image':<26} {r['peak_mb']:>12.0f} {r['seconds']:>9.1f}")


if __name__ == "__main__":
    main()
