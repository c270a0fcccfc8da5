"""Batch mode: skip-and-report, non-zero exit on failure, never overwrite inputs, atomic outputs under kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from neuralcodec.bitstream import unpack
from neuralcodec.coding import decode_bytes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_images(tmp_path_factory, sample_path):
    folder = tmp_path_factory.mktemp("imgs")
    base = Image.open(sample_path).convert("RGB")
    for i in range(30):
        base.crop((i * 8, i * 4, i * 8 + 96, i * 4 + 80)).save(folder / f"img{i:02d}.png")
    return folder


def test_batch_encode_decode_with_bad_files(run_cli, small_images, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ["img00.png", "img01.png", "img02.png"]:
        shutil.copy(small_images / name, inputs / name)
    (inputs / "broken.png").write_text("not an image")
    (inputs / "empty.jpg").write_bytes(b"")
    proc = run_cli("encode", inputs, "-o", tmp_path / "bins")
    assert proc.returncode == 1
    assert "broken.png" in proc.stderr and "empty.jpg" in proc.stderr and "Traceback" not in proc.stderr
    bins = sorted((tmp_path / "bins").glob("*.bin"))
    assert [p.stem for p in bins] == ["img00", "img01", "img02"]
    proc = run_cli("decode", str(tmp_path / "bins" / "*.bin"), "-o", tmp_path / "pngs")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["img00.png", "img01.png", "img02.png"]
    # decoding into the folder of the inputs with the inputs' suffix would overwrite them: refused (already for
    # the suffix, which no image writer handles)
    proc = run_cli("decode", tmp_path / "bins", "-o", tmp_path / "bins", "--format", "bin")
    assert proc.returncode == 1 and "cannot write .bin images" in proc.stderr
    assert all(unpack(p.read_bytes()) for p in bins)


def _start_batch(src: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "neuralcodec.cli", "encode", str(src), "-o", str(out), "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_outputs(out: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if out.is_dir() and len(list(out.glob("*.bin"))) >= count:
            return
        time.sleep(0.02)
    pytest.fail("batch run produced no outputs in time")


def _assert_only_complete_outputs(out: Path) -> None:
    for p in out.glob("*.bin"):
        image, _ = decode_bytes(p.read_bytes())  # raises if incomplete or corrupted
        assert image.shape == (3, 80, 96)
    visible = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert all(p.suffix == ".bin" for p in visible)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_batch_leaves_only_complete_files(sig, small_images, tmp_path):
    out = tmp_path / "out"
    proc = _start_batch(small_images, out)
    _wait_for_outputs(out, 3, proc)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    _assert_only_complete_outputs(out)
    leftovers = list(out.glob(".*.part"))
    if sig == signal.SIGTERM:
        assert not leftovers, "SIGTERM must remove the temporary file it was writing"
    # a new run cleans stale temporaries and completes the batch
    proc = _start_batch(small_images, out)
    assert proc.wait(timeout=300) == 0
    assert not list(out.glob(".*.part"))
    assert len(list(out.glob("*.bin"))) == 30
    _assert_only_complete_outputs(out)


def test_skip_existing_resumes_a_batch_and_read_only_outputs_stay(tmp_path, sample_path):
    import shutil

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(sample_path, src / f"{name}.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.bin").write_bytes(b"kept")
    (out / "b.bin").write_bytes(b"read-only")
    (out / "b.bin").chmod(0o444)
    proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "encode", str(src), "-o", str(out),
                           "--skip-existing", "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "a.bin").read_bytes() == b"kept" and (out / "c.bin").stat().st_size > 100
    assert "1 of 3 files written" in proc.stdout and "2 already there" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "encode", str(src / "b.png"), "-o",
                           str(out / "b.bin")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "read-only" in proc.stderr and (out / "b.bin").read_bytes() == b"read-only"


def test_batch_spec_takes_existing_paths_literally(tmp_path):
    from neuralcodec.batch import expand_inputs, is_batch_spec, names_folder

    (tmp_path / "a[1].png").write_bytes(b"x")
    (tmp_path / "a1.png").write_bytes(b"x")
    (tmp_path / "what?.png").write_bytes(b"x")
    assert not is_batch_spec(str(tmp_path / "a[1].png"))  # exists: one file, not a pattern
    assert not is_batch_spec(str(tmp_path / "what?.png"))
    assert not is_batch_spec("-")  # stdin
    assert is_batch_spec(str(tmp_path))  # a folder
    assert is_batch_spec(str(tmp_path / "*.png"))  # a pattern that names no file
    assert is_batch_spec(str(tmp_path / "a[0-9].png"))
    assert expand_inputs(str(tmp_path / "a[0-9].png"), {".png"}) == [tmp_path / "a1.png"]
    assert names_folder(f"{tmp_path / 'new'}/") and names_folder(str(tmp_path))
    assert not names_folder(str(tmp_path / "new")) and not names_folder("-")
