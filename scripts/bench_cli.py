"""Wall time and peak RSS of single ``codec`` commands in fresh processes (what a user waits for).

    python scripts/bench_cli.py [--image ../shared/datasets/kodak/kodim01.png] [--repeats 5] [--other-tree DIR]

Prints, for each command, the median wall time and the median peak RSS of the child process, beside
``python -c "import torch"`` measured in the same run. ``--other-tree`` also runs each command from another
checkout of the repository (e.g. ``git worktree add /tmp/before <commit>``), interleaved with this one, so a
before/after comparison shares the machine's state. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# A wrapper process runs the command and reports the command's own wall time and peak RSS, so each
# measurement covers exactly one child.
_WRAPPER = """
import json, os, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps([time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))
"""


def timed(cmd: list[str], tree: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of ``cmd`` from the checkout ``tree``."""
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], check=True, capture_output=True, text=True,
                         cwd=tree, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall, peak = json.loads(out.stdout)
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT.parent / "shared" / "datasets" / "kodak" / "kodim01.png"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--other-tree", type=Path, default=None, help="another checkout to measure alongside")
    args = parser.parse_args()
    trees = {"this": ROOT} if args.other_tree is None else {"this": ROOT, "other": args.other_tree.resolve()}
    codec = [sys.executable, "-m", "neuralcodec.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        bin_path, png_path = Path(tmp) / "x.bin", Path(tmp) / "x.png"
        subprocess.run([*codec, "encode", str(Path(args.image).resolve()), "-o", str(bin_path)], check=True,
                       capture_output=True, cwd=ROOT)
        commands = {
            'python -c "import torch"': [sys.executable, "-c", "import torch"],
            "codec info": [*codec, "info", str(bin_path)],
            "codec list": [*codec, "list"],
            "codec encode (Kodak)": [*codec, "encode", str(Path(args.image).resolve()), "-o", str(Path(tmp) / "y.bin")],
            "codec decode (Kodak)": [*codec, "decode", str(bin_path), "-o", str(png_path)],
        }
        print(f"{'command':<28} {'tree':<6} {'median wall s':>13} {'peak RSS MB':>12}")
        for label, cmd in commands.items():
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    runs[name].append(timed(cmd, tree))
            for name, rows in runs.items():
                wall = statistics.median(r[0] for r in rows)
                print(f"{label:<28} {name:<6} {wall:>13.2f} {statistics.median(r[1] for r in rows):>12.0f}")


if __name__ == "__main__":
    main()
