"""Pilot of the overfitted image codec: seconds per iteration and RD against iterations.

Fits the float model (``neuralcodec/codecs/coolchic/net.py``) to each image at each λ with a plain Adam loop
and prints, every ``--log-every`` iterations, the rounded-latent rate (entropy-model estimate of the latents,
in bpp; the networks' bits are estimated at the end with 8-bit weights) and the PSNR of the 8-bit output.
Writes one JSON line per (image, λ, iterations) to ``--out``.

    python scripts/coolchic_pilot.py --images kodim01 kodim13 --lmbdas 0.004 0.0005 --iterations 1000 3000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from neuralcodec.codecs.coolchic.net import CoolChicArch, CoolChicNet
from neuralcodec.codecs.coolchic.schedule import Schedule

KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "kodak"


def load(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float()[None] / 255.0


@torch.no_grad()
def evaluate(net: CoolChicNet, x: torch.Tensor) -> dict:
    x_hat, bits = net("eval")
    x8 = torch.round(x_hat.clamp(0, 1) * 255) / 255
    mse = torch.mean((x8 - x) ** 2).item()
    n_pix = x.shape[-1] * x.shape[-2]
    net_params = sum(p.numel() for p in net.network_parameters())
    return {"bpp_latents": bits.item() / n_pix, "bpp_networks_8bit": 8 * net_params / n_pix,
            "psnr": 10 * np.log10(1.0 / mse)}


def fit(x: torch.Tensor, lmbda: float, iterations: int, log_every: int, arch: CoolChicArch) -> dict:
    torch.manual_seed(0)
    _, _, h, w = x.shape
    net = CoolChicNet(h, w, arch)
    schedule = Schedule(iterations)
    opt = torch.optim.Adam(net.parameters(), lr=schedule.lr)
    n_pix = h * w
    curve, start = [], time.perf_counter()
    for step in range(iterations):
        ph = schedule.phase(step)
        for g in opt.param_groups:
            g["lr"] = ph["lr"]
        x_hat, bits = net(ph["mode"], ph["temperature"], ph["noise_a"])
        loss = torch.mean((x_hat - x) ** 2) + lmbda * bits / n_pix
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)  # as Cool-chic and C3
        opt.step()
        if (step + 1) % log_every == 0 or step + 1 == iterations:
            elapsed = time.perf_counter() - start
            point = {"iteration": step + 1, "seconds": round(elapsed, 1), **evaluate(net, x)}
            curve.append(point)
            print(json.dumps(point), flush=True)
    total = time.perf_counter() - start
    return {"seconds_per_iteration": total / iterations, "curve": curve, "final": curve[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", nargs="+", default=["kodim01", "kodim13"])
    ap.add_argument("--folder", type=Path, default=KODAK)
    ap.add_argument("--lmbdas", nargs="+", type=float, default=[0.004, 0.0005])
    ap.add_argument("--iterations", nargs="+", type=int, default=[1000, 3000])
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--synthesis-hidden", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("coolchic_pilot.jsonl"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    arch = CoolChicArch(synthesis_hidden=args.synthesis_hidden)
    done = set()
    if args.out.is_file():  # resume: skip the fits already recorded
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["image"], r["lambda"], r["iterations"], r.get("arch"), r.get("schedule")))
    for iterations in args.iterations:
        for name in args.images:
            x = load(args.folder / f"{name}.png")
            for lmbda in args.lmbdas:
                if (name, lmbda, iterations, repr(arch), repr(Schedule(iterations))) in done:
                    continue
                print(f"# {name} lambda={lmbda} iterations={iterations}", flush=True)
                result = fit(x, lmbda, iterations, max(args.log_every, iterations // 12), arch)
                record = {"image": name, "lambda": lmbda, "iterations": iterations, "arch": repr(arch),
                          "schedule": repr(Schedule(iterations)),
                          "threads": args.threads, "cpu": platform.processor() or platform.machine(),
                          **result}
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
