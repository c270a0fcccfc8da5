"""Wall time and peak RSS of single ``codec`` commands in fresh processes (what a user waits for).

    python scripts/bench_cli.py [--image ../shared/datasets/kodak/kodim01.png] [--repeats 5] [--other-tree DIR]

Prints, for each command, the median wall time and the median peak RSS of the child process, beside
``python -c "import torch"`` measured in the same run; for encode and decode also the coding time the tool
itself reports and the budget "torch import + coding + 0.7 s"; then the wall time of bad inputs that are
detectable before any model loads (each must fail within 0.5 s). ``--other-tree`` also runs each command from another
checkout of the repository (e.g. ``git worktree add /tmp/before <commit>``), interleaved with this one, so a
before/after comparison shares the machine's state. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
print(json.dumps([wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, proc.returncode,
                  (proc.stdout + proc.stderr).strip()]))
"""
CODING_SECONDS = re.compile(r", ([0-9.]+) s$")  # the status line of encode / decode ends with its coding time


def timed(cmd: list[str], tree: Path = ROOT, fails: bool = False) -> tuple[float, float, float | None]:
    """Wall seconds, peak RSS (MB) and reported coding seconds (if any) of one run of ``cmd`` from ``tree``;
    the run must succeed, or with ``fails`` exit non-zero with one ``codec: error:`` line."""
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], check=True, capture_output=True, text=True,
                         cwd=tree, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall, peak, code, text = json.loads(out.stdout)
    if fails:
        assert code != 0 and text.startswith("codec: error:") and "\n" not in text, (cmd, code, text)
    else:
        assert code == 0, (cmd, text)
    match = CODING_SECONDS.search(text)
    return wall, peak, float(match.group(1)) if match else None


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
        (Path(tmp) / "empty.png").write_bytes(b"")
        (Path(tmp) / "bad.bin").write_bytes(bin_path.read_bytes()[:-5])
        bad_inputs = {
            "encode: missing input": [*codec, "encode", str(Path(tmp) / "nope.png"), "-o", str(Path(tmp) / "n.bin")],
            "encode: empty input": [*codec, "encode", str(Path(tmp) / "empty.png"), "-o", str(Path(tmp) / "e.bin")],
            "encode: missing out folder": [*codec, "encode", str(Path(args.image).resolve()), "-o",
                                           str(Path(tmp) / "no" / "x.bin")],
            "decode: truncated .bin": [*codec, "decode", str(Path(tmp) / "bad.bin"), "-o", str(Path(tmp) / "b.png")],
            "decode: bad output suffix": [*codec, "decode", str(bin_path), "-o", str(Path(tmp) / "x.xyz")],
            "info: not a bitstream": [*codec, "info", str(Path(args.image).resolve())],
        }
        print(f"{'command':<28} {'tree':<6} {'median wall s':>13} {'peak RSS MB':>12} {'coding s':>9} {'budget s':>9}")
        torch_import: dict[str, float] = {}
        for label, cmd in [*commands.items(), *bad_inputs.items()]:
            runs: dict[str, list[tuple[float, float, float | None]]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    runs[name].append(timed(cmd, tree, fails=label in bad_inputs))
            for name, rows in runs.items():
                wall = statistics.median(r[0] for r in rows)
                if label.startswith("python"):
                    torch_import[name] = wall
                coding = [r[2] for r in rows if r[2] is not None]
                extra = ""
                if coding:  # encode / decode: the start-up budget of the issue
                    median_coding = statistics.median(coding)
                    extra = f" {median_coding:>9.2f} {torch_import[name] + median_coding + 0.7:>9.2f}"
                elif label in bad_inputs:
                    extra = f" {'':>9} {0.5:>9.2f}"
                print(f"{label:<28} {name:<6} {wall:>13.2f} {statistics.median(r[1] for r in rows):>12.0f}{extra}")


if __name__ == "__main__":
    main()
