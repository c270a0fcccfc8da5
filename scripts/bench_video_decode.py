"""NeRV decode speed: frames per second of exact decoding, median over rounds.

    .venv/bin/python scripts/bench_video_decode.py runs/video/bins/*.bin --threads 2 --rounds 3

Times only the decoder (building the network from the streams and generating every frame as uint8), not
writing frames to disk. Prints one line per file: size, frames, parameters, median seconds and frames/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.codecs.nerv.net import parameter_count  # noqa: E402
from neuralcodec.video_coding import video_decoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, rounds {args.rounds}, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'file':<44} {'bytes':>8} {'frames':>6} {'size':>9} {'params':>8} {'median s':>9} {'frames/s':>9}")
    for path in args.files:
        data = path.read_bytes()
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            header, decoder = video_decoder(data)
            for _frame in decoder.frames():
                pass
            times.append(time.perf_counter() - t0)
        seconds = statistics.median(times)
        size = f"{header.width}x{header.height}"
        print(f"{path.name:<44} {len(data):>8} {header.frames:>6} {size:>9} {parameter_count(decoder.arch):>8} "
              f"{seconds:>9.3f} {header.frames / seconds:>9.1f}")


if __name__ == "__main__":
    main()
