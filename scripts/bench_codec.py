"""Codec speed/memory benchmark: our hyperprior vs CompressAI's ``MeanScaleHyperprior`` (same N, M).

    .venv/bin/python scripts/bench_codec.py [--kodak ../shared/datasets/kodak] [--threads 2] [--rounds 2]
        [--context-model runs/checkerboard-q3/checkerboard-q3.pt] [--mbt-images 3]

Each codec runs in its own worker process (so peak RSS is its own), over kodim01–24, with the given
number of torch threads; the two workers alternate ``--rounds`` times and the medians over all images and
rounds are reported. Ours: uint8 image → container bytes (``neuralcodec.coding.encode_tensor``) and back
(``decode_bytes``), with the shipped default model. CompressAI: its own ``compress()`` / ``decompress()``
(its C++ rANS, float hyper-decoder) on the same uint8 → float input, weights randomly initialised (speed
does not depend on the weights) and ``update()``'d.

With ``--context-model`` a context-model file (e.g. a checkerboard rate point) runs as a third worker, and
CompressAI's serial autoregressive ``JointAutoregressiveHierarchicalPriors`` (mbt2018, random weights) as a
fourth, on the first ``--mbt-images`` images only (it takes seconds per image).
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


def worker(which: str, kodak: Path, threads: int, model: str | None = None, limit: int = 0) -> None:
    warnings.filterwarnings("ignore")
    import torch

    from neuralcodec.image_io import read_image

    torch.set_num_threads(threads)
    images = [read_image(p)[0] for p in sorted(kodak.glob("kodim*.png"))][: limit or None]
    enc_times, dec_times, sizes = [], [], []
    if which in ("ours", "context"):
        from neuralcodec.codecs.registry import load_codec
        from neuralcodec.coding import decode_bytes, encode_tensor
        from neuralcodec.image_io import ImageInfo

        codec = load_codec(model_file=model) if which == "context" else load_codec()
        info = ImageInfo(3, 8)
        encode_tensor(images[0][:, :64, :64], info, codec)  # warm-up (lazy init, allocator)
        for img in images:
            t0 = time.perf_counter()
            data = encode_tensor(img, info, codec).data
            t1 = time.perf_counter()
            out, _ = decode_bytes(data, model if which == "context" else None)
            t2 = time.perf_counter()
            enc_times.append(t1 - t0)
            dec_times.append(t2 - t1)
            sizes.append(len(data))
        arch = f"{codec.family.name} N={codec.net.N} M={codec.net.M}"
    else:
        from compressai.models import JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior

        from neuralcodec.codecs.registry import load_codec

        ours = load_codec()
        model_class = JointAutoregressiveHierarchicalPriors if which == "mbt2018" else MeanScaleHyperprior
        net = model_class(ours.net.N, ours.net.M).eval()
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
    ap.add_argument("--context-model", default=None, help="a context-model file to time as well")
    ap.add_argument("--mbt-images", type=int, default=3, help="images for CompressAI's serial mbt2018")
    ap.add_argument("--worker", choices=["ours", "compressai", "context", "mbt2018"], help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.kodak, args.threads, args.context_model, args.limit)
        return
    results: dict[str, dict] = {}
    workers = ["ours", "compressai"] + (["context", "mbt2018"] if args.context_model else [])
    for _ in range(args.rounds):
        for which in workers:
            extra = ["--context-model", args.context_model] if args.context_model else []
            if which == "mbt2018":
                extra += ["--limit", str(args.mbt_images)]
            proc = subprocess.run([sys.executable, __file__, "--worker", which, "--kodak", str(args.kodak),
                                   "--threads", str(args.threads), *extra], capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            acc = results.setdefault(which, {"enc": [], "dec": [], "peak": [], "arch": r["arch"]})
            acc["enc"] += r["enc"]
            acc["dec"] += r["dec"]
            acc["peak"].append(r["peak_rss_mb"])
    med = statistics.median
    print(f"Kodak 24 images, {args.threads} torch threads, {args.rounds} alternating rounds, medians per image")
    print(f"{'codec':<34} {'encode s':>9} {'decode s':>9} {'peak RSS MB':>12}")
    labels = {"ours": "neuralcodec hyperprior", "compressai": "CompressAI MeanScaleHyperprior",
              "context": "neuralcodec context model", "mbt2018": "CompressAI mbt2018 (serial)"}
    for which in workers:
        label, r = labels[which], results[which]
        name = f"{label} ({r['arch']})"
        print(f"{name:<34} {med(r['enc']):>9.3f} {med(r['dec']):>9.3f} {max(r['peak']):>12.0f}")
    o, c = results["ours"], results["compressai"]
    print(f"ours / CompressAI time: encode {med(o['enc']) / med(c['enc']):.2f}x, "
          f"decode {med(o['dec']) / med(c['dec']):.2f}x (≤ 1.00x is the target)")
    if args.context_model:
        x, m = results["context"], results["mbt2018"]
        print(f"context model / our hyperprior decode time: {med(x['dec']) / med(o['dec']):.2f}x; "
              f"CompressAI mbt2018 / context model decode time: {med(m['dec']) / med(x['dec']):.1f}x "
              f"(mbt2018 on {args.mbt_images} images)")


if __name__ == "__main__":
    main()
