"""Decoding time of this tree against an earlier commit, side by side: the same files, alternating processes.

    .venv/bin/python scripts/bench_decode_against.py --rev df76f3b --codec vq --qualities 0 3 \
        [--kodak ../shared/datasets/kodak] [--images 24] [--rounds 2] [--threads 2]

The Kodak images are encoded once with this tree (both trees must read its files: compare commits of one format).
Then a worker process per tree decodes every file, the two trees alternating ``--rounds`` times; each worker times
``decode_bytes`` per file (interpreter start-up and imports excluded). Prints, per rate point, the median decoding
time in each tree, their ratio, and whether the decoded pixels are identical. The earlier commit is checked out in
a temporary git worktree, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import hashlib, json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from neuralcodec.coding import decode_bytes
torch.set_num_threads(int(sys.argv[1]))
out = []
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    start = time.perf_counter()
    image, _ = decode_bytes(data)
    seconds = time.perf_counter() - start
    out.append([seconds, hashlib.sha256(image.numpy().tobytes()).hexdigest()])
print(json.dumps(out))
"""


def decode_in(tree: Path, threads: int, files: list[str]) -> list[list]:
    proc = subprocess.run([sys.executable, "-c", WORKER, str(threads), *files], cwd=tree, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"decoding in {tree} failed: {proc.stderr.strip().splitlines()[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the earlier commit to compare with")
    ap.add_argument("--codec", required=True)
    ap.add_argument("--qualities", nargs="+", type=int, required=True)
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import encode_tensor
    from neuralcodec.image_io import ImageInfo, read_image

    with tempfile.TemporaryDirectory() as tmp:
        earlier = Path(tmp) / "earlier"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(earlier), args.rev],
                       check=True)
        try:
            print(f"Kodak, {args.images} images, {args.threads} torch threads; decoding in this tree against "
                  f"{args.rev}, {args.rounds} alternating rounds")
            print(f"{'rate point':<16} {'earlier s':>9} {'this s':>8} {'ratio':>6}  pixels")
            images = sorted(args.kodak.glob("kodim*.png"))[: args.images]
            for quality in args.qualities:
                codec = load_codec(args.codec, quality)
                files = []
                for path in images:
                    target = Path(tmp) / f"{path.stem}-q{quality}.bin"
                    target.write_bytes(encode_tensor(read_image(path)[0], ImageInfo(3, 8), codec).data)
                    files.append(str(target))
                times: dict[str, list[float]] = {"earlier": [], "this": []}
                hashes: dict[str, list[str]] = {}
                for _ in range(args.rounds):
                    for name, tree in (("earlier", earlier), ("this", ROOT)):
                        result = decode_in(tree, args.threads, files)
                        times[name] += [seconds for seconds, _ in result]
                        hashes[name] = [digest for _, digest in result]
                old, new = statistics.median(times["earlier"]), statistics.median(times["this"])
                same = sum(a == b for a, b in zip(hashes["earlier"], hashes["this"], strict=True))
                print(f"{args.codec + ' q' + str(quality):<16} {old:>9.3f} {new:>8.3f} {new / old:>6.2f}  "
                      f"{same}/{len(files)} identical")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)], check=False)


if __name__ == "__main__":
    main()
