"""Decode time of one image: the shipped hyperprior against the context families with random context weights.

    .venv/bin/python scripts/bench_context_decode.py [--image ../shared/datasets/kodak/kodim01.png]
        [--quality 3] [--threads 2] [--rounds 3]

The checkerboard and ACGC models are the shipped hyperprior of ``--quality`` with seeded random context networks
(speed does not depend on the weights; the zero start would skip nothing either). Each model decodes the image's
bitstream once to warm up, then the families alternate ``--rounds`` times; the median is reported, with its ratio
to the hyperprior's. On an oversubscribed CPU, OpenMP threads spinning at barriers dominate many small operations:
``OMP_WAIT_POLICY=PASSIVE`` shows what the code itself costs there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's package, not an installed one
CONTEXT_NETWORKS = {"checkerboard": ("context_prediction", "entropy_parameters"),
                    "acgc": ("spatial_context", "channel_context", "global_context", "slice_parameters")}


def random_context_model(family_name: str, quality: int, folder: Path) -> Path:
    """A model file: the shipped hyperprior of ``quality`` plus seeded random context networks."""
    import torch

    from neuralcodec.codecs.model_file import load_model_file, save_model_file
    from neuralcodec.codecs.registry import get_family, model_path

    blob = load_model_file(model_path("hyperprior", quality))
    family = get_family(family_name)
    net = family.build_net(**blob["arch"])
    net.load_state_dict(get_family("hyperprior").float_state_dict(blob), strict=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name in CONTEXT_NETWORKS[family_name]:
            for module in net.get_submodule(name).modules():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.02)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.02)
    path = folder / f"{family_name}-q{quality}.pt"
    save_model_file(family.export(net, quality, {"bench": "random context"}), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT.parent / "shared/datasets/kodak/kodim01.png")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.image_io import read_image

    image, info = read_image(args.image)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"hyperprior": None, **{f: random_context_model(f, args.quality, Path(tmp)) for f in CONTEXT_NETWORKS}}
        torch.set_num_threads(args.threads)
        data = {}
        for family, path in files.items():
            codec = load_codec(family, args.quality) if path is None else load_codec(model_file=path)
            data[family] = encode_tensor(image, info, codec).data
            decode_bytes(data[family], path)  # warm-up (model load, first-call allocations)
        times: dict[str, list[float]] = {family: [] for family in files}
        for _ in range(args.rounds):
            for family, path in files.items():
                start = time.perf_counter()
                decode_bytes(data[family], path)
                times[family].append(time.perf_counter() - start)
    base = statistics.median(times["hyperprior"])
    print(f"{args.image.name} {image.shape[2]}×{image.shape[1]}, q{args.quality}, {args.threads} threads, "
          f"median of {args.rounds}")
    for family, runs in times.items():
        median = statistics.median(runs)
        print(f"  {family:<13} {median:6.3f} s  {median / base:4.2f}× hyperprior  "
              f"(runs {', '.join(f'{t:.3f}' for t in runs)}; {len(data[family])} bytes)")


if __name__ == "__main__":
    main()
