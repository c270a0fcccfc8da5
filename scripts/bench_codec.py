"""Codec speed/memory benchmark: our hyperprior vs CompressAI's ``MeanScaleHyperprior`` (same N, M).

    .venv/bin/python scripts/bench_codec.py [--kodak ../shared/datasets/kodak] [--threads 2] [--rounds 2]

Each codec runs in its own worker process (so peak RSS is its own), over kodim01–24, with the given
number of torch threads; the two workers alternate ``--rounds`` times and the medians over all images and
rounds are reported. Ours: uint8 image → container bytes (``neuralcodec.coding.encode_tensor``) and back
(``decode_bytes``), with the shipped default model. CompressAI: its own ``compress()`` / ``decompress()``
(its C++ rANS, float hyper-decoder) on the same uint8 → float input, weights randomly initialised (speed
does not depend on the weights) and ``update()``'d.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(which: str, kodak: Path, threads: int) -> None:
    warnings.filterwarnings("ignore")
    import torch

    from neuralcodec.image_io import read_image

    torch.set_num_threads(threads)
    images = [read_image(p)[0] for p in sorted(kodak.glob("kodim*.png"))]
    enc_times, dec_times, sizes = [], [], []
    if which == "ours":
        from neuralcodec.codecs.registry import load_codec
        from neuralcodec.coding import decode_bytes, encode_tensor
        from neuralcodec.image_io import ImageInfo

        codec = load_codec()
        info = ImageInfo(3, 8)
        encode_tensor(images[0][:, :64, :64], info, codec)  # warm-up (lazy init, allocator)
        for img in images:
            t0 = time.perf_counter()
            data = encode_tensor(img, info, codec).data
            t1 = time.perf_counter()
            out, _ = decode_bytes(data)
            t2 = time.perf_counter()
            enc_times.append(t1 - t0)
            dec_times.append(t2 - t1)
            sizes.append(len(data))
        arch = f"N={codec.net.N} M={codec.net.M}"
    else:
        from compressai.models import MeanScaleHyperprior

        from neuralcodec.codecs.registry import load_codec

        ours = load_codec()
        net = MeanScaleHyperprior(ours.net.N, ours.net.M).eval()
        del ours
        net.update(force=True)
        with torch.no_grad():
            net.compress(torch.rand(1, 3, 64, 64))  # warm-up
            for img in images:
                t0 = time.perf_counter()
                x = img.float().unsqueeze(0) / 255.0
                h, w = x.shape[2:]
                ph, pw = (-h) % 64, (-w) % 64
                x = torch.nn.functional.pad(x, (0, pw, 0, ph))
                out = net.compress(x)
                t1 = time.perf_counter()
                rec = net.decompress(out["strings"], out["shape"])["x_hat"][0, :, :h, :w]
                rec = torch.round(rec.clamp(0, 1) * 255).to(torch.uint8)
                t2 = time.perf_counter()
                enc_times.append(t1 - t0)
                dec_times.append(t2 - t1)
                sizes.append(sum(len(s[0]) for s in out["strings"]))
        arch = f"N={net.N} M={net.M}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"enc": enc_times, "dec": dec_times, "peak_rss_mb": peak_mb, "arch": arch}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", choices=["ours", "compressai"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.kodak, args.threads)
        return
    results: dict[str, dict] = {}
    for _ in range(args.rounds):
        for which in ["ours", "compressai"]:
            proc = subprocess.run([sys.executable, __file__, "--worker", which, "--kodak", str(args.kodak),
                                   "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            acc = results.setdefault(which, {"enc": [], "dec": [], "peak": [], "arch": r["arch"]})
            acc["enc"] += r["enc"]
            acc["dec"] += r["dec"]
            acc["peak"].append(r["peak_rss_mb"])
    med = statistics.median
    print(f"Kodak 24 images, {args.threads} torch threads, {args.rounds} alternating rounds, medians per image")
    print(f"{'codec':<34} {'encode s':>9} {'decode s':>9} {'peak RSS MB':>12}")
    for which, label in [("ours", "neuralcodec hyperprior"), ("compressai", "CompressAI MeanScaleHyperprior")]:
        r = results[which]
        name = f"{label} ({r['arch']})"
        print(f"{name:<34} {med(r['enc']):>9.3f} {med(r['dec']):>9.3f} {max(r['peak']):>12.0f}")
    o, c = results["ours"], results["compressai"]
    print(f"ours / CompressAI time: encode {med(o['enc']) / med(c['enc']):.2f}x, "
          f"decode {med(o['dec']) / med(c['dec']):.2f}x (≤ 1.00x is the target)")


if __name__ == "__main__":
    main()
