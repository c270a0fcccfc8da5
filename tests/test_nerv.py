"""The nerv video family: a tiny real fit round-trips through the container bit-exactly, in any process and
thread count; damaged streams raise only DecodeError; the CLI codes and decodes real clips."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodec.bitstream import FORMAT_VERSION, pack, unpack
from neuralcodec.codecs.nerv.net import EMBED_FRAC_BITS, NervNet, arch_for, time_embedding
from neuralcodec.entropy.geometric import DECAY_NUMERATORS, geometric_table, geometric_tables
from neuralcodec.entropy.tables import TOTAL
from neuralcodec.errors import DecodeError
from neuralcodec.video_coding import decode_video, encode_frames, video_decoder

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "datasets" / "video" / "basketballpass_416x240"
pytestmark = pytest.mark.skipif(not CLIP.is_dir(), reason="needs ../shared/datasets/video (see ../shared/README.md)")


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """8 real frames, 64×48 (a crop of BasketballPass)."""
    from neuralcodec.video_io import read_video_rgb

    frames, _ = read_video_rgb(CLIP, max_frames=8)
    return np.ascontiguousarray(frames[:, 90:138, 160:224])


@pytest.fixture(scope="module")
def fitted(clip):
    reports: list[dict] = []
    enc = encode_frames(clip, Fraction(50), quality=0, epochs=25, report=reports.append)
    return enc, reports


def _frames(data: bytes) -> torch.Tensor:
    return torch.stack(list(decode_video(data)[1]))


def test_time_embedding_is_exact_triangle_waves():
    # frequency 1, 4 frames (period 8): phases 0, 1/8, 2/8, 3/8 → tri = 0, 1/2, 1, 1/2;
    # tri(p + 1/4) = 1, 1/2, 0, -1/2
    one = 1 << EMBED_FRAC_BITS
    assert [time_embedding(k, 4, (1,)) for k in range(4)] == [[0, one], [one // 2, one // 2], [one, 0],
                                                               [one // 2, -one // 2]]
    emb = [time_embedding(k, 100, (1, 3, 7, 50)) for k in range(100)]
    assert len({tuple(e) for e in emb}) == 100  # every frame gets its own input


def test_geometric_tables_are_valid_and_monotone():
    tables = geometric_tables()
    assert len(tables) == len(DECAY_NUMERATORS)
    for t in tables:
        t.validate()
        assert int(t.freqs.sum()) == TOTAL and t.freqs[-1] == 1 and t.offset == -127
    # flatter tables for smaller decays: each table's entropy is higher than the one before
    entropies = []
    for t in tables:
        p = t.freqs / TOTAL
        entropies.append(float(-(p * np.log2(p)).sum()))
    # (the flattest ones saturate)
    assert all(b > a - 1e-4 for a, b in zip(entropies[:-1], entropies[1:], strict=True)), entropies
    assert entropies[0] < 1 and entropies[-1] > 7.9
    assert geometric_table(DECAY_NUMERATORS[5]).freqs.tolist() == tables[5].freqs.tolist()


def test_tiny_fit_round_trips_bit_exactly(fitted, clip):
    enc, reports = fitted
    header, chunks = unpack(enc.data)
    assert header.is_video and header.frames == 8 and (header.height, header.width) == (48, 64)
    assert (header.fps_num, header.fps_den, header.version) == (50, 1, FORMAT_VERSION)  # version 3 layout
    decoded = _frames(enc.data)
    assert decoded.dtype == torch.uint8 and decoded.shape == (8, 3, 48, 64)
    assert torch.equal(decoded, _frames(enc.data))  # twice in one process
    # the fit really fits: the decoded frames are close to the clip, and as good as the fit's last PSNR says
    mse = ((decoded.permute(0, 2, 3, 1).double() - torch.from_numpy(clip).double()) ** 2).mean()
    psnr = float(10 * torch.log10(255**2 / mse))
    assert psnr > 20 and abs(psnr - reports[-1]["psnr"]) < 0.5, (psnr, reports[-1])
    assert reports[-1]["qat"] == 1.0 and [r["epoch"] for r in reports][:3] == [1, 2, 3]


def test_decoder_matches_the_quantized_training_network(fitted):
    """The exact fixed-point decoder computes what the fake-quantized float network computes, up to the
    activation rounding (at most one grey level here)."""
    enc, _ = fitted
    header, decoder = video_decoder(enc.data)
    net = NervNet(decoder.arch)
    from neuralcodec.codecs.nerv.codec import read_streams

    _, layers = read_streams(dict(zip(("model", "weights"), unpack(enc.data)[1], strict=True)), 48, 64, 8)
    with torch.no_grad():
        for name, layer in net.layers():
            q, exp, q_bias, exp_bias = layers[name]
            rows = exp.repeat_interleave(q.shape[0] // exp.numel()).double()
            layer.weight.copy_(q.double() * torch.exp2(-rows).view(-1, *[1] * (q.dim() - 1)))
            layer.bias.copy_(q_bias.double() * torch.exp2(-exp_bias.double()))
        ref = (net(torch.arange(8)) * 255).round().clamp(0, 255)
    assert (ref - _frames(enc.data).float()).abs().max() <= 1


WORKER = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[2]))
from neuralcodec.video_coding import decode_video
frames = torch.stack(list(decode_video(open(sys.argv[1], "rb").read())[1]))
print(hashlib.sha256(frames.numpy().tobytes()).hexdigest())
"""


def test_fresh_processes_with_1_and_2_threads_decode_identically(fitted, tmp_path):
    enc, _ = fitted
    path = tmp_path / "clip.bin"
    path.write_bytes(enc.data)
    here = hashlib.sha256(_frames(enc.data).numpy().tobytes()).hexdigest()
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", WORKER, str(path), threads], capture_output=True, text=True,
                             check=True, cwd=ROOT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
        assert out.stdout.strip() == here


def test_damaged_streams_raise_only_decode_error(fitted):
    """Mutations of the streams (the CRC recomputed, so the nerv parser itself is tested)."""
    enc, _ = fitted
    header, chunks = unpack(enc.data)
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(150):
        which = trial % 2
        chunk = bytearray(chunks[which])
        if trial % 3 == 0:
            chunk = chunk[: rng.integers(0, len(chunk))]  # truncated
        else:
            for _ in range(rng.integers(1, 4)):
                chunk[rng.integers(0, len(chunk))] = int(rng.integers(0, 256))
        damaged = list(chunks)
        damaged[which] = bytes(chunk)
        data = pack(header, damaged)
        try:
            frames = _frames(data)  # the weights hash no longer matches: refused before decoding
            assert frames.shape == (8, 3, 48, 64)
        except DecodeError:
            refused += 1
    assert refused == 150
    # with the hash made to match, the architecture and weight parsers see the damage themselves
    from neuralcodec.codecs.nerv.codec import read_streams

    for _ in range(150):
        model = bytearray(chunks[0])
        model[rng.integers(0, min(len(model), 40))] = int(rng.integers(0, 256))
        try:
            read_streams({"model": bytes(model), "weights": chunks[1]}, 48, 64, 8)
        except DecodeError:
            pass


def test_arch_scales_with_quality_and_clip():
    from neuralcodec.codecs.nerv.net import parameter_count

    counts = [parameter_count(arch_for(240, 416, 100, q)) for q in range(4)]
    assert counts == sorted(counts) and counts[-1] > 4 * counts[0]
    arch = arch_for(720, 1280, 32, 1)
    assert arch.grid[0] * arch.stride >= 720 and arch.grid[1] * arch.stride >= 1280
    with pytest.raises(ValueError):
        arch_for(240, 416, 100, 9)


def _y4m(path: Path, frames: np.ndarray, fps: int) -> Path:
    """The frames as a real Y4M file."""
    from neuralcodec.video_io import open_writer

    with open_writer(path, frames.shape[2], frames.shape[1], Fraction(fps)) as writer:
        for frame in frames:
            writer.write_rgb(frame)
    return path


def test_cli_encodes_decodes_and_reports_a_clip(run_cli, tmp_path, clip):
    from neuralcodec.video_io import open_video

    src = _y4m(tmp_path / "clip.y4m", clip[:4], 50)
    out = run_cli("encode", src, "-o", tmp_path / "clip.bin", "--epochs", "6", "--quality", "0", "--quiet",
                  timeout=300)
    assert out.returncode == 0, out.stderr
    assert "4 frames of 64x48 at 50 fps" in out.stdout and "nerv q0" in out.stdout
    assert not (tmp_path / "clip.bin.fit.ckpt").exists()  # the resume checkpoint is gone once the file is written
    info = run_cli("info", tmp_path / "clip.bin")
    assert "frames: 4" in info.stdout and "50/1" in info.stdout and "yuv420" in info.stdout
    for target in ("out.y4m", "out.yuv", "frames"):
        res = run_cli("decode", tmp_path / "clip.bin", "-o", tmp_path / target)
        assert res.returncode == 0, res.stderr
    with open_video(tmp_path / "out.y4m") as reader:
        assert reader.info.frame_count == 4 and (reader.info.width, reader.info.height) == (64, 48)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == ["f00001.png", "f00002.png"]
    # bad inputs: one line, non-zero exit, nothing written
    (tmp_path / "short.yuv").write_bytes(b"\x00" * 1000)
    bad_y4m = tmp_path / "bad.y4m"
    bad_y4m.write_bytes(b"YUV4MPEG2 W64 Hxx F50:1\nFRAME\n" + b"\x00" * 100)
    cases = [
        ("encode", tmp_path / "short.yuv", "-o", tmp_path / "a.bin", "--size", "64x48"),
        ("encode", bad_y4m, "-o", tmp_path / "b.bin"),
        ("encode", tmp_path / "short.yuv", "-o", tmp_path / "c.bin"),
        ("decode", tmp_path / "clip.bin", "-o", tmp_path / "d.png"),
        ("encode", src, "-o", tmp_path / "e.bin", "--quality", "9"),
    ]
    for args in cases:
        res = run_cli(*args)
        assert res.returncode != 0 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
        assert not Path(args[3]).exists()


def test_fit_resumes_from_its_checkpoint(tmp_path, clip):
    """An interrupted fit resumes from the checkpoint beside the output (same clip and settings)."""
    from neuralcodec.training.nerv_fit import fit_clip

    frames = torch.from_numpy(clip[:4]).permute(0, 3, 1, 2).contiguous()
    arch = arch_for(48, 64, 4, 0)
    ckpt = tmp_path / "clip.bin.fit.ckpt"

    class Stop(Exception):
        pass

    def stop_at_3(state: dict) -> None:
        if state["epoch"] == 3:
            raise Stop

    with pytest.raises(Stop):
        fit_clip(frames, arch, epochs=6, checkpoint=ckpt, checkpoint_seconds=0, report=stop_at_3)
    assert ckpt.is_file()  # written after epochs 1 and 2; the interruption came in epoch 3
    seen: list[dict] = []
    fit_clip(frames, arch, epochs=6, checkpoint=ckpt, checkpoint_seconds=0, report=seen.append)
    assert [s["epoch"] for s in seen][:2] == [3, 4]  # went on from the checkpoint, not from the start
    json.dumps(seen)  # plain numbers: a progress bar or a log can take them


def test_two_process_ddp_fit_through_the_cli(run_cli, tmp_path, clip):
    """The scale path: a fit through Lightning DDP (2 CPU processes, gloo) writes one valid file."""
    src = _y4m(tmp_path / "clip.y4m", clip[:4], 25)
    out = run_cli("encode", src, "-o", tmp_path / "clip.bin", "--epochs", "2", "--quality", "0", "--quiet",
                  "--trainer.strategy", "ddp", "--trainer.devices", "2", "--verbose", timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "All distributed processes registered. Starting with 2 processes" in out.stdout + out.stderr
    assert out.stdout.count("clip.bin:") == 1  # one process wrote and reported the file
    header, frames = decode_video((tmp_path / "clip.bin").read_bytes())
    assert header.frames == 4 and len(list(frames)) == 4


def _crafted(arch, layers) -> bytes:
    """A valid container around streams written from the given (possibly hostile) quantized layers."""
    from neuralcodec.bitstream import Header
    from neuralcodec.codecs.nerv.codec import streams_hash, write_streams

    streams = write_streams(arch, layers)
    header = Header(family_id=4, model_id=0, rate_point=0, weights_hash=streams_hash(streams), height=arch.height,
                    width=arch.width, channels=3, bit_depth=8, frames=arch.frames, fps_num=25, fps_den=1)
    return pack(header, [streams["model"], streams["weights"]])


def test_crafted_files_raise_only_decode_error():
    from neuralcodec.codecs.nerv.codec import quantized_layers

    arch = arch_for(24, 32, 3, 0)
    base = quantized_layers(NervNet(arch))
    # an escaped value of -2**31 (|·| wraps in int32) in a bias, then in a weight: refused, never wrapped
    for which in (2, 0):
        layers = {k: tuple(t.clone() for t in v) for k, v in base.items()}
        layers["convs.0"][which].view(-1)[0] = -(2**31)
        with pytest.raises(DecodeError):
            list(decode_video(_crafted(arch, layers))[1])
    # a layer whose weights are all zero is legitimate and decodes
    layers = {k: tuple(t.clone() for t in v) for k, v in base.items()}
    layers["convs.1"][0].zero_()
    assert len(list(decode_video(_crafted(arch, layers))[1])) == 3
    # a weights stream that is not whole 32-bit words
    header, chunks = unpack(_crafted(arch, base))
    from neuralcodec.codecs.nerv.codec import streams_hash

    weights = chunks[1][:-1]
    damaged = _with_hash(header, streams_hash({"model": chunks[0], "weights": weights}))
    with pytest.raises(DecodeError):
        video_decoder(pack(damaged, [chunks[0], weights]))


def _with_hash(header, weights_hash):  # a Header with another weights hash
    from neuralcodec.bitstream import Header

    return Header(**{**header.__dict__, "weights_hash": weights_hash})


def test_architectures_far_costlier_than_the_encoder_builds_are_refused():
    """A small file may not ask for a huge network per pixel (work and memory are bounded before decoding)."""
    from neuralcodec.codecs.nerv.codec import check_work
    from neuralcodec.codecs.nerv.net import NervArch, default_frequencies

    wide = NervArch(height=1080, width=1920, frames=4, blocks=7, hidden=16, stem_channels=1, channels=(1,) * 6 + (512,),
                    frequencies=default_frequencies(4), weight_bits=6)
    deep = NervArch(height=1, width=1, frames=4, blocks=10, hidden=16, stem_channels=64, channels=(64,) * 10,
                    frequencies=default_frequencies(4), weight_bits=6)
    for arch in (wide, deep):
        with pytest.raises(DecodeError):
            check_work(arch)
    for quality in range(4):  # every architecture the encoder builds passes
        check_work(arch_for(1080, 1920, 600, quality))
        check_work(arch_for(1, 1, 1, quality))
