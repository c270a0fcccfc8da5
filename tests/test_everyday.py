"""Everyday use of the CLI on real files: special outputs (devices, FIFOs, symbolic links), several inputs as a
batch, and the checks made before torch loads."""

from __future__ import annotations

import os
import stat
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralcodec.video_io import open_video, open_writer


@pytest.fixture(scope="module")
def coded(tmp_path_factory, sample_path) -> tuple[Path, np.ndarray]:
    """A small real image coded with the default codec, and its decoded pixels."""
    from neuralcodec.coding import decode_bytes, encode_file

    folder = tmp_path_factory.mktemp("coded")
    crop = folder / "crop.png"
    Image.open(sample_path).convert("RGB").crop((0, 0, 96, 64)).save(crop)
    data = encode_file(crop).data
    (folder / "crop.bin").write_bytes(data)
    pixels = decode_bytes(data)[0].permute(1, 2, 0).numpy()
    return folder / "crop.bin", pixels


def test_decode_to_dev_null_writes_through_and_keeps_the_device(run_cli, coded):
    before = os.stat("/dev/null")
    proc = run_cli("decode", coded[0], "-o", "/dev/null")
    assert proc.returncode == 0, proc.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)


def test_a_symbolic_link_output_replaces_its_target_and_stays_a_link(run_cli, coded, tmp_path):
    target = tmp_path / "real" / "out.png"
    target.parent.mkdir()
    target.write_bytes(b"old contents")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    proc = run_cli("decode", coded[0], "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert np.array_equal(np.asarray(Image.open(target).convert("RGB")), coded[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "real"]  # no temporary left beside the link
    # a dangling link: its target is created, the link kept
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "real" / "new.bin")
    proc = run_cli("encode", tmp_path / "real" / "out.png", "-o", dangling)
    assert proc.returncode == 0, proc.stderr
    assert dangling.is_symlink() and (tmp_path / "real" / "new.bin").read_bytes()[:4] == coded[0].read_bytes()[:4]


def test_a_fifo_output_is_written_through_to_its_reader(run_cli, coded, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_cli("decode", coded[0], "-o", fifo)
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "got.png").write_bytes(received[0])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "got.png").convert("RGB")), coded[1])


def test_a_video_written_through_a_symbolic_link_keeps_the_link(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    target = tmp_path / "clip.y4m"
    link = tmp_path / "link.y4m"
    link.symlink_to(target)
    with open_writer(link, 24, 16, Fraction(25)) as writer:
        for frame in frames:
            writer.write_rgb(frame)
    assert link.is_symlink() and target.is_file()
    with open_video(link) as reader:
        assert reader.info.frame_count == 2


def _one_line_failure(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_several_inputs_on_the_command_line_are_a_batch(run_cli, sample_path, tmp_path):
    image = Image.open(sample_path).convert("RGB")
    inputs = []
    for name, box in (("a", (0, 0, 64, 48)), ("b", (40, 30, 120, 90))):
        inputs.append(tmp_path / f"{name}.png")
        image.crop(box).save(inputs[-1])
    out = tmp_path / "bins"
    proc = run_cli("encode", *inputs, "-o", out)  # what `codec encode *.png -o bins` gives the program
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin"]
    proc = run_cli("decode", out / "a.bin", out / "b.bin", "-o", tmp_path / "pngs/")
    assert proc.returncode == 0, proc.stderr
    for src in inputs:
        assert Image.open(tmp_path / "pngs" / src.name).size == Image.open(src).size
    assert "'-o -' takes one input" in _one_line_failure(run_cli("encode", *inputs, "-o", "-"))
    assert "input not found: " in _one_line_failure(run_cli("encode", inputs[0], tmp_path / "c.png", "-o", out))
    assert "is a file" in _one_line_failure(run_cli("encode", *inputs, "-o", out / "a.bin"))
