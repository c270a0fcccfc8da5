"""Overfitted image codec (``coolchic``) benchmarks: fitting cost per iteration and decoding speed and memory.

    .venv/bin/python scripts/bench_coolchic.py iterations [--image PATH] [--threads 1 2] [--steps 8]
    .venv/bin/python scripts/bench_coolchic.py decode FILE.bin ... [--threads 2] [--rounds 3]

``iterations``: seconds per fitting iteration (forward, backward, Adam step) of the float model on one image,
with the synthesis' 1×1 layers in float32 and in bfloat16 (where the CPU has native bfloat16), for each thread
count; median of ``--steps`` after two warm-up steps. Default image: a BSDS500 test image (481×321), and with
``--image`` any other (Kodak for the figures quoted per Kodak image).

``decode``: each file decoded in a fresh worker process (``neuralcodec.coding.decode_bytes`` on the file's bytes,
interpreter start-up and imports excluded) ``--rounds`` times; prints the median seconds per file, the median
over files, and the worker's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BSDS = ROOT.parent / "shared" / "datasets" / "bsds500" / "test" / "100007.jpg"


def iteration_seconds(image: Path, threads: int, steps: int, low_precision: bool) -> float:
    import numpy as np
    import torch
    from PIL import Image

    from neuralcodec.codecs.coolchic.net import CoolChicNet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"))).permute(2, 0, 1).float()[None] / 255
    net = CoolChicNet(x.shape[2], x.shape[3])
    net.synthesis.low_precision = low_precision
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    pixels = x.shape[2] * x.shape[3]
    times = []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        x_hat, bits = net("soft", 0.3, 1.5)
        loss = torch.mean((x_hat - x) ** 2) + 0.004 * bits / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def decode_worker(files: list[str], threads: int) -> None:
    import torch

    from neuralcodec.coding import decode_bytes

    torch.set_num_threads(threads)
    out = {}
    for f in files:
        data = Path(f).read_bytes()
        t0 = time.perf_counter()
        decode_bytes(data)
        out[f] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    it = sub.add_parser("iterations")
    it.add_argument("--image", type=Path, default=BSDS)
    it.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    it.add_argument("--steps", type=int, default=8)
    dec = sub.add_parser("decode")
    dec.add_argument("files", nargs="+")
    dec.add_argument("--threads", type=int, default=2)
    dec.add_argument("--rounds", type=int, default=3)
    dec.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.what == "iterations":
        from neuralcodec.cpu_kernels import cpu_kernels, native_bfloat16

        print(f"machine: {platform.processor() or platform.machine()}, {cpu_kernels()}, image {args.image.name}")
        for threads in args.threads:
            for low in (False, True) if native_bfloat16() else (False,):
                s = iteration_seconds(args.image, threads, args.steps, low)
                print(f"threads {threads}  1x1 layers {'bfloat16' if low else 'float32 '}  {s:.3f} s/iteration")
        return
    if args.worker:
        decode_worker(args.files, args.threads)
        return
    per_file: dict[str, list[float]] = {f: [] for f in args.files}
    peak = 0.0
    for _ in range(args.rounds):
        proc = subprocess.run([sys.executable, __file__, "decode", "--worker", "--threads", str(args.threads),
                               *args.files], capture_output=True, text=True, check=True, cwd=ROOT)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        peak = max(peak, result.pop("peak_rss_mb"))
        for f, s in result.items():
            per_file[f].append(s)
    medians = {f: statistics.median(v) for f, v in per_file.items()}
    for f, s in medians.items():
        print(f"{Path(f).name:>24}  {s:.3f} s")
    print(f"median over {len(medians)} files: {statistics.median(medians.values()):.3f} s at {args.threads} threads; "
          f"decode worker peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
