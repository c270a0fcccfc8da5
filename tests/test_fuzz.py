"""The CI slice of the decoder fuzzer: 60 seconds of atheris over valid bitstreams of every codec."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_fuzz_slice_60_seconds(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # Through `sh` (which forks, not execs, the fuzzer): on Linux a process started directly from this one
    # would inherit pytest's peak RSS in ru_maxrss, which libFuzzer's -rss_limit_mb check reads.
    command = [sys.executable, str(ROOT / "scripts" / "fuzz_decode.py"), "--seconds", "60"]
    proc = subprocess.run(["sh", "-c", '"$0" "$@"; exit $?', *command], capture_output=True, text=True,
                          timeout=400, cwd=tmp_path, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    done = re.search(r"Done (\d+) runs", out)
    assert done and int(done.group(1)) > 100, out[-2000:]
    peak = re.search(r"peak_rss_mb:\s+(\d+)", out)
    assert peak and int(peak.group(1)) < 2048
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("oom-*"))
