"""Everyday use of the CLI on real files: special outputs (devices, FIFOs, symbolic links), several inputs as a
batch, and the checks made before torch loads."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.coding import decode_bytes
from neuralcodec.video_io import open_video, open_writer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def coded(tmp_path_factory, sample_path) -> tuple[Path, np.ndarray]:
    """A small real image coded with the default codec, and its decoded pixels."""
    from neuralcodec.coding import encode_file

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


def _interrupt_once_checkpointed(args: list[object], checkpoint: Path, sig: int) -> tuple[int, str]:
    """Run ``codec ARGS``, send ``sig`` once the fit's checkpoint exists; (exit status, stderr)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # a shell's background job (CI may run us as one) starts with SIGINT ignored, and Python then keeps it so:
    # the child gets the default disposition back, as a program started from a terminal has it
    proc = subprocess.Popen([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while not checkpoint.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_image_fit_says_how_to_resume_and_resumes(sig, run_cli, sample_path, tmp_path):
    src = tmp_path / "crop.png"
    Image.open(sample_path).convert("RGB").crop((0, 0, 48, 32)).save(src)
    out = tmp_path / "crop.bin"
    args = ["encode", src, "-o", out, "--codec", "coolchic", "--quality", "1", "--iterations", "600"]
    checkpoint = tmp_path / "crop.bin.fit.ckpt"
    status, err = _interrupt_once_checkpointed(args, checkpoint, sig)
    assert status == 128 + sig
    assert err.strip().splitlines()[-1] == (f"codec: interrupted: the fit so far is in {checkpoint}; "
                                           "run the same command again to resume")
    assert "Traceback" not in err and "graceful" not in err and not out.exists()
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["global_step"] >= 1 and saved["coolchic_fit"]["seconds"] > 0
    if sig == signal.SIGTERM:
        proc = run_cli(*args, timeout=600)  # the same command: resumes and finishes
        assert proc.returncode == 0, proc.stderr
        lines = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.strip()]
        assert lines and all(line.startswith("fitting: ") for line in lines), proc.stderr  # our bar only
        assert not checkpoint.exists() and decode_bytes(out.read_bytes())[0].shape == (3, 32, 48)


def test_an_interrupted_video_fit_says_how_to_resume(tmp_path):
    clip = tmp_path / "clip.y4m"
    frames = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    with open_writer(clip, 32, 32, Fraction(25)) as writer:
        for frame in frames:
            writer.write_rgb(frame)
    out = tmp_path / "clip.bin"
    checkpoint = tmp_path / "clip.bin.fit.ckpt"
    status, err = _interrupt_once_checkpointed(["encode", clip, "-o", out, "--epochs", "100000"], checkpoint,
                                               signal.SIGINT)
    assert status == 130 and "Traceback" not in err and "graceful" not in err and not out.exists()
    assert err.strip().splitlines()[-1].startswith(f"codec: interrupted: the fit so far is in {checkpoint}")


def test_a_video_encode_prints_our_progress_only_and_verbose_adds_the_libraries(run_cli, tmp_path):
    clip = tmp_path / "clip.y4m"
    frames = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with open_writer(clip, 32, 32, Fraction(25)) as writer:
        for frame in frames:
            writer.write_rgb(frame)
    proc = run_cli("encode", clip, "-o", tmp_path / "clip.bin", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("fitting: ") for line in lines), proc.stderr
    assert lines[-1].endswith(", 0 s left")  # one epoch of one: done, nothing left (no absurd estimate)
    verbose = run_cli("encode", clip, "-o", tmp_path / "clip2.bin", "--epochs", "1", "--verbose")
    assert verbose.returncode == 0 and "GPU available" in verbose.stderr


def test_the_diffusion_decoder_serves_what_list_and_help_say(run_cli, sample_path, tmp_path):
    from neuralcodec.codecs.registry import get_family, load_decoder, shipped_qualities

    listed = [line for line in run_cli("list").stdout.splitlines() if line.startswith("diffusion")]
    advertised = listed[0].split("decoder for ", 1)[1].split(" files", 1)[0].split(", ")
    assert advertised == list(get_family("diffusion").decodes_families)
    assert ", ".join(advertised) in run_cli("decode", "--help").stdout.replace("\n", " ").replace("  ", " ")
    for family in advertised:  # every one it names, at every shipped rate point
        decoder = load_decoder("diffusion", family)
        assert all(decoder.supports(family, q) for q in shipped_qualities(family))
    vq_file = tmp_path / "v.bin"
    assert run_cli("encode", sample_path, "-o", vq_file, "--codec", "vq").returncode == 0
    message = _one_line_failure(run_cli("decode", vq_file, "-o", tmp_path / "v.png", "--decoder", "diffusion"))
    assert "no diffusion decoder for vq files" in message and not (tmp_path / "v.png").exists()


# Each is refused from the arguments, the file names and the container header alone: before torch loads.
REFUSED_BEFORE_TORCH = [
    (["encode", "{img}", "-o", "{tmp}/x.bin", "--quality", "99"], "no shipped 'hyperprior' model"),
    (["encode", "{img}", "-o", "{tmp}/x.bin", "--codec", "vq", "--quality", "9"], "no shipped 'vq' model"),
    (["encode", "{img}", "-o", "{tmp}/x.bin", "--max-pixels", "10"], "exceeds --max-pixels 10"),
    (["encode", "{img}", "-o", "{tmp}/x.bin", "--codec", "coolchic", "--quality", "9"], "quality must be one of"),
    (["encode", "{img}", "-o", "{tmp}/x.bin", "--codec", "nerv"], "nerv codes videos"),
    (["decode", "{bin}", "-o", "{tmp}/x.png", "--steps", "2"], "--steps need --decoder diffusion"),
    (["decode", "{bin}", "-o", "{tmp}/x.png", "--decoder", "diffusion", "--steps", "9"], "whole number 1…4"),
    (["decode", "{bin}", "-o", "{tmp}/x.png", "--max-pixels", "100"], "exceeds the limit of 100 pixels"),
    (["decode", "{bin}", "-o", "{tmp}/x.png", "--drop-rate", "0.5"], "not an option of hyperprior files"),
    (["export", "{bin}", "-o", "{tmp}/x.png"], "written as .pt"),
]


@pytest.mark.parametrize("args, message", REFUSED_BEFORE_TORCH)
def test_arguments_are_checked_before_torch_loads(args, message, coded, sample_path, tmp_path):
    args = [a.format(img=sample_path, bin=coded[0], tmp=tmp_path) for a in args]
    probe = ("import sys\nfrom neuralcodec.cli import main\ntry:\n    status = main(sys.argv[1:])\n"
             "except SystemExit as exc:  # argparse's own refusals: usage, then the error\n    status = exc.code\n"
             "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded', status)")
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    words = proc.stdout.split()
    assert words[:3] == ["torch", "not", "loaded"] and words[3] != "0", proc.stdout + proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1] and "Traceback" not in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


def test_messages_name_the_real_problem(run_cli, coded, sample_path, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "encode", "-", "-o", str(tmp_path / "x.bin")],
                          input=b"not an image", capture_output=True, cwd=ROOT, timeout=120)
    message = proc.stderr.decode().strip()
    assert proc.returncode == 1 and "cannot read <stdin> as an image" in message and "object at 0x" not in message
    (tmp_path / "d.png").mkdir()
    assert "folder " in _one_line_failure(run_cli("encode", tmp_path / "d.png", "-o", tmp_path / "out/"))
    (tmp_path / "models").mkdir()
    assert "is a folder" in _one_line_failure(run_cli("encode", sample_path, "-o", tmp_path / "x.bin",
                                                      "--model", tmp_path / "models"))
    (tmp_path / "zero.bin").write_bytes(b"")
    assert "input file is empty" in _one_line_failure(run_cli("decode", tmp_path / "zero.bin", "-o",
                                                              tmp_path / "x.png"))
    (tmp_path / "garbage.pt").write_bytes(b"not a model")
    message = _one_line_failure(run_cli("encode", sample_path, "-o", tmp_path / "x.bin", "--model",
                                        tmp_path / "garbage.pt"))
    assert "damaged or of another kind" in message and "weights_only" not in message
    message = _one_line_failure(run_cli("decode", coded[0], "-o", tmp_path / "x.png", "--format", "jpeg"))
    assert "--format jpeg conflicts" in message
    shipped = Path(__file__).resolve().parent.parent / "neuralcodec" / "weights" / "hyperprior-q2.pt"
    message = _one_line_failure(run_cli("encode", sample_path, "-o", tmp_path / "x.bin", "--model", shipped,
                                        "--codec", "acgc"))
    assert "holds a hyperprior model, not acgc" in message
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".bin", ".png") and p.is_file() and p.stat().st_size
                and p.name != "garbage.pt"]
    # without a suffix, --format picks the format
    assert run_cli("decode", coded[0], "-o", tmp_path / "noext", "--format", "jpeg").returncode == 0
    assert Image.open(tmp_path / "noext").format == "JPEG"
    assert run_cli("decode", coded[0], "-o", tmp_path / "same.jpg", "--format", "jpeg").returncode == 0


TINY_CONFIG = ROOT / "tests" / "data" / "tiny.yaml"


def _codec_in(folder: Path, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=folder, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT)))


def test_train_runs_the_same_from_any_folder_and_bad_input_is_one_line(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "not-yaml.yaml").write_text("just a string\n")
    bad = [
        (["--config", "missing.yaml"], "config file not found"),
        (["--config", "not-yaml.yaml"], "not a training config"),
        (["--config", TINY_CONFIG, "--bogus", "1"], "unrecognized arguments: --bogus"),
        (["--config", TINY_CONFIG, "--model.lmbda", "abc"], "--model.lmbda: 'abc' is not a valid value"),
        (["--config", TINY_CONFIG, "--data.init_args.val_dir", "nowhere"], "image folder not found"),
        (["--config", TINY_CONFIG, "--model.init_from", "nowhere.pt"], f"not found: {elsewhere / 'nowhere.pt'}"),
        ([], "needs --config"),
    ]
    for args, message in bad:
        proc = _codec_in(elsewhere, "train", *args, "--trainer.default_root_dir", "run")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
        assert not (elsewhere / "run").exists()  # a failed start leaves no run folder
    # the tiny config's data folder ('samples') is the project's, whatever the working folder
    proc = _codec_in(elsewhere, "train", "--config", TINY_CONFIG, "--trainer.default_root_dir", "run",
                     "--trainer.max_steps", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (elsewhere / "run" / "hyperprior-q1.pt").is_file()
    lines = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("training: ") for line in lines), proc.stderr[-2000:]  # our bar only
    assert lines[-1].startswith("training: 1/1 steps")


def test_compare_and_plot_say_what_differs_and_refuse_to_mix_media(run_cli, kodak_dir, tmp_path):
    from neuralcodec.eval.curves import dataset_title, load_curve

    three = tmp_path / "three"
    three.mkdir()
    for name in ("kodim01.png", "kodim02.png", "kodim03.png"):
        (three / name).symlink_to(kodak_dir / name)
    result = tmp_path / "jpeg-three.json"
    proc = run_cli("eval", "--codec", "jpeg", "--quality", "60", "95", "--dataset", three, "--out", result,
                   "--no-lpips", timeout=300)
    assert proc.returncode == 0, proc.stderr
    blob = json.loads(result.read_text())
    assert blob["media"] == "image" and blob["image_count"] == 3
    proc = run_cli("compare", "compressai:bmshj2018-hyperprior", result)
    assert proc.returncode == 0, proc.stderr
    assert "different datasets: bmshj2018-hyperprior: Kodak, jpeg: three" in proc.stderr
    assert "different numbers of images: bmshj2018-hyperprior: 24, jpeg: 3" in proc.stderr
    assert "share only" in proc.stderr and "min_overlap" not in proc.stderr  # our own words on a small overlap
    video = ROOT / "docs" / "results" / "video" / "basketballpass_416x240" / "nerv.json"
    for command in (["compare", result, video], ["plot", result, video, "-o", tmp_path / "p.png"]):
        message = _one_line_failure(run_cli(*command))
        assert "image and video results cannot be compared" in message
    assert not (tmp_path / "p.png").exists()
    assert dataset_title([load_curve(str(result))]) == "three (3 images)"
    assert dataset_title([load_curve("compressai:vtm")]) == "Kodak (24 images)"
    assert dataset_title([load_curve(str(video))]) == "basketballpass_416x240 (1 clip)"


def test_alpha_is_kept_where_the_format_has_it_and_dropping_it_is_said(run_cli, sample_path, tmp_path):
    rgb = Image.open(sample_path).convert("RGB").crop((0, 0, 64, 48))
    alpha = np.zeros((48, 64), np.uint8)
    alpha[:, :32], alpha[10:30, 40:60] = 255, 97
    for mode in ("RGBA", "LA"):
        src = tmp_path / f"{mode}.png"
        image = rgb.convert(mode[:-1])
        image.putalpha(Image.fromarray(alpha))
        image.save(src)
        coded = tmp_path / f"{mode}.bin"
        assert run_cli("encode", src, "-o", coded).returncode == 0
        for suffix in (".png", ".webp", ".tif", ".avif") if mode == "RGBA" else (".png", ".webp"):
            out = tmp_path / f"{mode}-out{suffix}"
            proc = run_cli("decode", coded, "-o", out)
            assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
            back = Image.open(out)
            # WebP and AVIF have no grey mode: grey with alpha comes back as RGBA
            assert back.mode in (mode, "RGBA") and np.array_equal(np.asarray(back.getchannel("A")), alpha), suffix
        for suffix in (".jpg", ".bmp", ".ppm") if mode == "RGBA" else (".jpg",):
            proc = run_cli("decode", coded, "-o", tmp_path / f"{mode}-out{suffix}")
            assert proc.returncode == 0 and "alpha is dropped" in proc.stderr, proc.stderr
    profiled = tmp_path / "icc.png"
    rgb.save(profiled, icc_profile=b"\0" * 128 + b"acsp" + b"\0" * 124)
    assert run_cli("encode", profiled, "-o", tmp_path / "icc.bin").returncode == 0
    proc = run_cli("decode", tmp_path / "icc.bin", "-o", tmp_path / "icc.bmp")
    assert proc.returncode == 0 and "ICC profile is dropped" in proc.stderr
    assert neuralcodec_decode(tmp_path / "RGBA.bin").mode == "RGBA"  # the API restores it too


def neuralcodec_decode(path: Path) -> Image.Image:
    import neuralcodec

    return neuralcodec.decode(path)


def test_dev_stdout_through_a_pipe_carries_only_the_image(coded):
    proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "decode", str(coded[0]), "-o", "/dev/stdout"],
                          capture_output=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    import io

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(proc.stdout)).convert("RGB")), coded[1])


def test_a_fitted_encode_to_dev_null_leaves_no_checkpoint_beside_it(run_cli, sample_path, tmp_path):
    src = tmp_path / "tiny.png"
    Image.open(sample_path).convert("RGB").crop((0, 0, 24, 16)).save(src)
    proc = run_cli("encode", src, "-o", "/dev/null", "--codec", "coolchic", "--iterations", "20")
    assert proc.returncode == 0, proc.stderr
    assert not list(Path("/dev").glob("null.*"))


def test_another_users_link_in_a_shared_folder_is_not_followed(run_cli, coded, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"mine")
    link = shared / "out.png"
    link.symlink_to(victim)
    if os.geteuid() != 0:
        pytest.skip("changing a link's owner needs root")
    os.lchown(link, 12345, 12345)
    message = _one_line_failure(run_cli("decode", coded[0], "-o", link))
    assert "symbolic link of another user" in message and victim.read_bytes() == b"mine"


def test_a_video_decodes_to_dev_null_and_streams_into_a_fifo(run_cli, tmp_path):
    clip = ROOT / "tests" / "data" / "golden" / "basketballpass-40x32x4-nerv-q0.bin"
    proc = run_cli("decode", clip, "-o", "/dev/null")
    assert proc.returncode == 0, proc.stderr
    fifo = tmp_path / "clip.y4m"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_cli("decode", clip, "-o", fifo)
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert received[0].startswith(b"YUV4MPEG2 W40 H32 ") and received[0].count(b"FRAME\n") == 4
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not list(Path(tempfile.gettempdir()).glob(".clip.y4m*"))
