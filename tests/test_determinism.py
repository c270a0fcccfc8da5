"""Decoding is deterministic: across thread counts and processes, under last-bit noise in the hyper-decoder,
and with tiling (large images) — for every shipped codec."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralcodec.codecs.stages.fixed_point as fixed_point
from neuralcodec.bitstream import unpack
from neuralcodec.codecs.registry import file_family_names, load_codec, shipped_qualities
from neuralcodec.coding import decode_bytes, encode_tensor
from neuralcodec.image_io import ImageInfo, read_image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
CODECS = [(f, q) for f in file_family_names() for q in shipped_qualities(f)]
# families whose probability tables come from a network (a hyper-decoder in fixed point); vq's prior is a stored
# integer table, so no network output can pick a different table
NETWORK_TABLES = [(f, q) for f, q in CODECS if f != "vq"]

DECODE_WORKER = """
import hashlib, json, sys, warnings
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
from neuralcodec.coding import decode_bytes
out = {}
for path in sys.argv[1:]:
    image, _ = decode_bytes(open(path, "rb").read())
    out[path] = hashlib.sha256(image.numpy().tobytes()).hexdigest()
print(json.dumps(out))
"""


def random_crops(count: int, seed: int) -> list[torch.Tensor]:
    """Random crops of random sizes from Kodak and BSDS500 (the sample image when those are absent)."""
    files = sorted((SHARED / "kodak").glob("*.png")) + sorted((SHARED / "bsds500" / "val").glob("*.jpg"))[:40]
    files = files or [ROOT / "samples" / "parrots.png"]
    rng = np.random.default_rng(seed)
    images = {}
    crops = []
    for _ in range(count):
        f = files[rng.integers(len(files))]
        if f not in images:
            images[f] = read_image(f)[0]
        img = images[f]
        h = int(rng.integers(1, min(img.shape[1], 200) + 1))
        w = int(rng.integers(1, min(img.shape[2], 200) + 1))
        top = int(rng.integers(0, img.shape[1] - h + 1))
        left = int(rng.integers(0, img.shape[2] - w + 1))
        crops.append(img[:, top : top + h, left : left + w].contiguous())
    return crops


@pytest.mark.parametrize("family,quality", CODECS)
def test_two_threads_encode_one_thread_fresh_process_decode(family, quality, tmp_path):
    codec = load_codec(family, quality)
    crops = random_crops(80, seed=quality)  # every decoder part is exact by construction; 80 sizes per point
    expected, paths = {}, []
    torch.set_num_threads(2)
    for i, crop in enumerate(crops):
        enc = encode_tensor(crop, ImageInfo(3, 8), codec, reconstruct=True)
        path = tmp_path / f"{i:03d}.bin"
        path.write_bytes(enc.data)
        paths.append(str(path))
        expected[str(path)] = hashlib.sha256(enc.reconstruction.numpy().tobytes()).hexdigest()
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", DECODE_WORKER, *paths], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    decoded = json.loads(proc.stdout.strip().splitlines()[-1])
    mismatched = [p for p in paths if decoded[p] != expected[p]]
    assert not mismatched, f"{len(mismatched)} of {len(paths)} files decode differently with 1 thread"


def _ulp_noise(fn):
    """Wrap a convolution so every output moves by up to ±4 ULPs, as another BLAS, CPU or GPU might give."""
    gen = torch.Generator().manual_seed(0)

    def noisy(*args, **kwargs):
        out = fn(*args, **kwargs)
        steps = torch.randint(-4, 5, out.shape, generator=gen)
        for _ in range(4):
            up, down = steps > 0, steps < 0
            out = torch.where(up, torch.nextafter(out, torch.full_like(out, float("inf"))), out)
            out = torch.where(down, torch.nextafter(out, torch.full_like(out, float("-inf"))), out)
            steps = steps - up.long() + down.long()
        return out

    return noisy


@pytest.mark.parametrize("family,quality", NETWORK_TABLES)
def test_hyper_decoder_is_immune_to_last_bit_noise(family, quality, sample_path, monkeypatch):
    codec = load_codec(family, quality)
    image, _ = read_image(sample_path)
    enc = encode_tensor(image, ImageInfo(3, 8), codec, reconstruct=True)
    header, chunks = unpack(enc.data)
    streams = codec.family.streams_from_chunks(chunks)
    clean = codec.decode_latents(streams, header.height, header.width)
    # only the hyper-decoder's convolutions get noise (the synthesis transform keeps its own)
    monkeypatch.setattr(fixed_point, "conv2d", _ulp_noise(torch.nn.functional.conv2d))
    monkeypatch.setattr(fixed_point, "conv_transpose2d", _ulp_noise(torch.nn.functional.conv_transpose2d))
    noisy = codec.decode_latents(streams, header.height, header.width)
    assert np.array_equal(clean.indexes, noisy.indexes)
    assert torch.equal(clean.means, noisy.means) and torch.equal(clean.y_symbols, noisy.y_symbols)
    decoded, _ = decode_bytes(enc.data)
    assert torch.equal(decoded, enc.reconstruction)


def test_integer_hyper_decoder_identical_across_threads(default_codec):
    z = torch.randint(-6, 7, (1, default_codec.net.N, 9, 13)).float()
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(default_codec.hyper_synthesis(z))
    torch.set_num_threads(2)
    assert torch.equal(results[0], results[1])


def test_tiled_coding_equals_whole_image(default_codec, sample_path, monkeypatch):
    """Tiles (forced small here) give the same bitstream and the same pixels (the synthesis is exact)."""
    image, _ = read_image(sample_path)
    whole = encode_tensor(image, ImageInfo(3, 8), default_codec, reconstruct=True)
    monkeypatch.setattr(default_codec, "tile_pixels", 128)
    monkeypatch.setattr(default_codec, "whole_image_max_pixels", 0)
    tiled = encode_tensor(image, ImageInfo(3, 8), default_codec, reconstruct=True)
    assert len(tiled.data) == len(whole.data)
    assert torch.equal(tiled.reconstruction, whole.reconstruction)
    decoded, _ = decode_bytes(tiled.data)
    assert torch.equal(decoded, tiled.reconstruction)


def test_tiled_integer_hyper_decoder_is_exact(default_codec):
    """The hyper-decoder runs in tiles on large images; being integer arithmetic, tiling changes nothing."""
    z_hat = default_codec.z_latent.values(torch.randint(-8, 9, (1, default_codec.net.N, 61, 37)))
    indexes, means = default_codec.entropy_parameters(z_hat)  # tiles of 24 with margin 3
    scales_whole, means_whole = default_codec.hyper_synthesis(z_hat).chunk(2, 1)
    idx_whole = np.searchsorted(default_codec.y_latent.tables.thresholds, scales_whole.numpy(), side="right")
    assert np.array_equal(indexes, idx_whole) and torch.equal(means, means_whole.float())


# kernel sets of the machines the project runs on, emulated on this one: oneDNN's, MKL's (float64 products) and
# ATen's instruction sets capped
KERNEL_SETS = {"AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
               "AVX-512 without VNNI": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
                                        "ATEN_CPU_CAPABILITY": "avx512"},
               "native": {}}


@pytest.mark.parametrize("family,quality", [("hyperprior", 6), ("checkerboard", 0), ("acgc", 6), ("vq", 1)])
def test_exact_families_decode_to_the_same_pixels_on_every_kernel_set(family, quality, tmp_path):
    """Files of codecs with an exact decoder decode to the pixels the encoder predicted, in fresh processes
    restricted to AVX2 or to AVX-512 without VNNI (int8 products there go through oneDNN's int16 pair sums)."""
    codec = load_codec(family, quality)
    assert codec.exact_pixels
    expected, paths = {}, []
    for i, crop in enumerate(random_crops(5, seed=100 + quality)):
        enc = encode_tensor(crop, ImageInfo(3, 8), codec, reconstruct=True)
        path = tmp_path / f"{i}.bin"
        path.write_bytes(enc.data)
        paths.append(str(path))
        expected[str(path)] = hashlib.sha256(enc.reconstruction.numpy().tobytes()).hexdigest()
    for name, overrides in KERNEL_SETS.items():
        env = dict(os.environ, PYTHONWARNINGS="ignore", **overrides)
        proc = subprocess.run([sys.executable, "-c", DECODE_WORKER, *paths], capture_output=True, text=True,
                              timeout=600, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        decoded = json.loads(proc.stdout.strip().splitlines()[-1])
        assert decoded == expected, f"other pixels with the {name} kernel set"
