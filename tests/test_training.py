"""Training a rate point from YAML: runs, resumes, exports a loadable model; and 2-process DDP (gloo)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from neuralcodec.codecs.registry import load_codec
from neuralcodec.coding import decode_bytes, encode_file

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def train(tmp: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``codec train`` on the tiny config, with its run folder (checkpoints, logs, export) in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "neuralcodec.cli", "train", "--config", str(TINY), "--trainer.default_root_dir",
            str(tmp), *extra]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def logged_steps(tmp: Path) -> list[int]:
    rows = list(csv.DictReader(open(next(tmp.glob("**/metrics.csv")))))
    return [int(r["step"]) for r in rows if r.get("train/loss")]


def test_train_resume_export(tmp_path, sample_path):
    first = train(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = next(tmp_path.glob("**/last.ckpt"))
    assert torch.load(ckpt, weights_only=False)["global_step"] == 3
    before_resume = logged_steps(tmp_path)
    second = train(tmp_path, "--trainer.max_steps", "5")  # same run: must resume, not restart
    assert second.returncode == 0, second.stderr[-3000:]
    assert torch.load(next(tmp_path.glob("**/last.ckpt")), weights_only=False)["global_step"] == 5
    assert "codec train: resuming from " in second.stderr and "(step 3)" in second.stderr
    after_resume = logged_steps(tmp_path)
    assert max(after_resume) >= 3
    # the log continues across the resume: the first run's rows stay, none is logged twice
    assert after_resume[:len(before_resume)] == before_resume and len(set(after_resume)) == len(after_resume)
    model = tmp_path / "hyperprior-q1.pt"
    assert model.is_file()
    codec = load_codec(model_file=model)
    assert codec.quality == 1 and codec.net.N == 8
    enc = encode_file(sample_path, model_file=model, reconstruct=True)
    decoded, header = decode_bytes(enc.data, model_file=model)
    assert header.rate_point == 1 and torch.equal(decoded, enc.reconstruction)

    # a new rate point warm-started from that model records the chain it came from
    child_dir = tmp_path / "child"
    child = train(child_dir, "--model.init_from", str(model), "--model.lmbda", "0.013",
                  "--trainer.max_steps", "2", "--data.train_scale", "0.5")
    assert child.returncode == 0, child.stderr[-3000:]
    meta = load_codec(model_file=child_dir / "hyperprior-q1.pt").meta
    assert [s["steps"] for s in meta["lineage"]] == [5] and meta["lineage"][0]["lmbda"] == 0.0067
    assert meta["steps"] == 2 and meta["total_steps"] == 7 and meta["lmbda"] == 0.013
    assert meta["crop"] == 64 and meta["batch_size"] == 2 and meta["train_scale"] == 0.5


def test_two_process_ddp_gloo(tmp_path):
    proc = train(tmp_path, "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.max_steps", "2",
                 "--verbose", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "distributed_backend=gloo" in out and "All distributed processes registered" in out
    assert torch.load(next(tmp_path.glob("**/last.ckpt")), weights_only=False)["global_step"] == 2


def test_rate_point_config_composes_with_its_base_and_trains(tmp_path):
    """``codec train --config configs/hyperprior/q3.yaml`` (base.yaml read first): one real step on BSDS500."""
    if not (ROOT.parent / "shared" / "datasets" / "bsds500" / "train").is_dir():
        import pytest

        pytest.skip("../shared/datasets/bsds500 is absent")
    args = [sys.executable, "-m", "neuralcodec.cli", "train", "--config", "configs/hyperprior/q3.yaml",
            "--trainer.default_root_dir", str(tmp_path), "--trainer.max_steps", "1", "--data.samples_per_epoch", "8",
            "--trainer.enable_progress_bar", "false"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    codec = load_codec(model_file=tmp_path / "hyperprior-q3.pt")
    assert codec.quality == 3 and codec.meta["lmbda"] == 0.0067 and codec.meta["steps"] == 1
    assert codec.meta["lineage"][-1]["source"] == "neuralcodec/weights/hyperprior-q3.pt"
