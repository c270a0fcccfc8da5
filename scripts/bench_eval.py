"""Wall time of a JPEG sweep with ``codec eval`` (the issue's target: 24 Kodak images × 10 qualities ≤ 90 s).

    python scripts/bench_eval.py [--dataset ../shared/datasets/kodak] [--jobs N] [--limit N] [--repeats 1]

Runs ``codec eval --codec jpeg`` at 10 qualities (5, 15, …, 95) in a fresh process, as a user would, and prints
the wall time, the jobs used and the load average at the start (a busy machine inflates the time). Run it on
an idle machine; ``--limit 4`` checks the script itself in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUALITIES = list(range(5, 96, 10))  # 10 points over the JPEG sweep's 5…95


def cores() -> int:
    """What ``codec eval`` uses by default (cores this process may run on)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_once(dataset: str, jobs: int, limit: int, out: Path) -> float:
    """Wall seconds of one ``codec eval`` run; its JSON goes to ``out``."""
    cmd = [sys.executable, "-m", "neuralcodec.cli", "eval", "--codec", "jpeg", "--dataset", dataset,
           "--quality", *map(str, QUALITIES), "--no-lpips", "--jobs", str(jobs), "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"codec eval failed:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "kodak"))
    parser.add_argument("--jobs", type=int, default=cores(), help="worker processes (default: all cores)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.jobs < 1 or args.repeats < 1:
        parser.error("--jobs and --repeats must be at least 1")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jpeg.json"
        times = [run_once(args.dataset, args.jobs, args.limit, out) for _ in range(args.repeats)]
        images = len(json.loads(out.read_text())["images"])
    wall = statistics.median(times)
    pairs = images * len(QUALITIES)
    print(f"codec eval --codec jpeg: {images} images x {len(QUALITIES)} qualities, jobs {args.jobs}, "
          f"{os.cpu_count()} cores, load average {load:.2f} at start")
    print(f"wall {wall:.1f} s (median of {len(times)}: {', '.join(f'{t:.1f}' for t in times)}), "
          f"{wall / pairs:.3f} s per image x quality")


if __name__ == "__main__":
    main()
