"""The checkerboard context family: exact two-pass coding on real images, whatever the machine or thread count.

The model under test is the shipped hyperprior q0 with context networks whose weights are random but
seeded and large enough to move every table index: the context path is exercised, not the zero start.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from context_helpers import (
    assert_bands_equal_one_pass,
    context_model_file,
    fresh_process_decodes,
    odd_crops,
    random_crops,
)

import neuralcodec.codecs.stages.fixed_point as fixed_point
from neuralcodec.bitstream import unpack
from neuralcodec.codecs.model_file import load_model_file, save_model_file
from neuralcodec.codecs.registry import get_family, load_codec
from neuralcodec.codecs.stages.checkerboard import anchor_mask
from neuralcodec.coding import decode_bytes, encode_tensor
from neuralcodec.image_io import ImageInfo

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"


def randomize_context(net: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in [*net.context_prediction, *net.entropy_parameters]:
            if isinstance(module, torch.nn.Conv2d):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.02)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return context_model_file("checkerboard", tmp_path_factory.mktemp("cb"), randomize_context)


def test_two_pass_decode_gives_exactly_the_coded_symbols(model_file):
    codec = load_codec(model_file=model_file)
    hyper = load_codec("hyperprior", 0)
    for image, info in odd_crops():
        enc = encode_tensor(image, info, codec, reconstruct=True)
        header, chunks = unpack(enc.data)
        assert header.family_id == 2 and len(chunks) == 2
        sent = codec.analyse(image)
        got = codec.decode_latents(codec.family.streams_from_chunks(chunks), header.height, header.width)
        assert torch.equal(sent.y_symbols, got.y_symbols) and torch.equal(sent.z_symbols, got.z_symbols)
        assert torch.equal(sent.means, got.means) and np.array_equal(sent.indexes, got.indexes)
        decoded, _ = decode_bytes(enc.data, model_file=model_file)
        assert torch.equal(decoded, enc.reconstruction)
        # the context really moves tables: anchors and non-anchors differ from the hyperprior's choice
        hyper_lat = hyper.analyse(image)
        if image.shape[1] > 16:
            assert not np.array_equal(hyper_lat.indexes, sent.indexes)


def test_anchors_do_not_depend_on_non_anchors(model_file):
    """Pass 1 uses the hyper-latent only: changing non-anchor values leaves every anchor's table alone."""
    codec = load_codec(model_file=model_file)
    image, _ = odd_crops()[0]
    lat = codec.analyse(image)
    params = codec.hyper_parameters(codec.z_latent.values(lat.z_symbols))
    anchors = anchor_mask(params.shape[2], params.shape[3])
    y_hat = codec.y_latent.values(lat.y_symbols, lat.means)
    context = codec.anchor_context(y_hat, anchors)
    y_hat[:, :, ~anchors] += 3.0
    assert torch.equal(context, codec.anchor_context(y_hat, anchors))


def test_passes_in_bands_of_rows_equal_one_pass_over_the_latent(model_file, monkeypatch):
    """Large images run both passes band by band (a halo for the 5×5 context): the same bits as one pass over
    the latent."""
    M = load_codec(model_file=model_file).net.M
    assert_bands_equal_one_pass(model_file, 4 * M, monkeypatch)


def test_two_threads_encode_one_thread_fresh_process_decode(model_file, tmp_path):
    codec = load_codec(model_file=model_file)
    torch.set_num_threads(2)
    expected, paths = {}, []
    for i, crop in enumerate(random_crops(200, seed=17)):
        enc = encode_tensor(crop, ImageInfo(3, 8), codec, reconstruct=True)
        path = tmp_path / f"{i:03d}.bin"
        path.write_bytes(enc.data)
        paths.append(str(path))
        expected[str(path)] = hashlib.sha256(enc.reconstruction.numpy().tobytes()).hexdigest()
    decoded = fresh_process_decodes(model_file, paths)
    assert [p for p in paths if decoded[p] != expected[p]] == []


def test_context_networks_are_immune_to_last_bit_noise(model_file, monkeypatch):
    codec = load_codec(model_file=model_file)
    image, info = odd_crops()[0]
    enc = encode_tensor(image, info, codec, reconstruct=True)
    header, chunks = unpack(enc.data)
    streams = codec.family.streams_from_chunks(chunks)
    clean = codec.decode_latents(streams, header.height, header.width)
    gen = torch.Generator().manual_seed(3)

    def noisy(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            return out + torch.randint(-4, 5, out.shape, generator=gen).double() * 2.0**-52 * out.abs()
        return wrapped

    monkeypatch.setattr(fixed_point, "conv2d", noisy(torch.nn.functional.conv2d))
    monkeypatch.setattr(fixed_point, "conv_transpose2d", noisy(torch.nn.functional.conv_transpose2d))
    monkeypatch.setattr(fixed_point, "matmul", noisy(torch.matmul))  # the masked context convolution
    noisy_lat = codec.decode_latents(streams, header.height, header.width)
    assert np.array_equal(clean.indexes, noisy_lat.indexes) and torch.equal(clean.means, noisy_lat.means)
    assert torch.equal(clean.y_symbols, noisy_lat.y_symbols)


def test_cli_encodes_and_decodes_with_the_model_file(run_cli, model_file, tmp_path, sample_path):
    out, png = tmp_path / "p.bin", tmp_path / "p.png"
    assert run_cli("encode", sample_path, "-o", out, "--model", model_file).returncode == 0
    info = run_cli("info", out)
    assert "2 (checkerboard)" in info.stdout
    assert run_cli("decode", out, "-o", png, "--model", model_file).returncode == 0
    assert png.is_file()


def test_a_context_stage_model_file_stores_only_its_context_networks(model_file, tmp_path, monkeypatch):
    """Transforms exactly those of the shipped hyperprior: the file holds the context networks and a reference
    to that file; merged, it is the full model (same weights hash, same bitstream)."""
    import neuralcodec.codecs.registry as registry
    from neuralcodec.errors import ModelError

    family = get_family("checkerboard")
    shipped = registry.WEIGHTS_DIR
    full = registry.read_model_file(model_file)
    stored = family.file_blob(full)
    assert stored["base"]["family"] == "hyperprior" and "g_s.0.weight" not in stored["weights"]
    delta_path = tmp_path / "checkerboard-q0.pt"
    save_model_file(stored, delta_path)
    assert delta_path.stat().st_size < 3e6 < model_file.stat().st_size
    merged = registry.read_model_file(delta_path)
    for key in ("weights", "hyper_q", "hyper_exp"):
        assert merged[key].keys() == full[key].keys()
        assert all(torch.equal(merged[key][k], full[key][k]) for k in full[key])
    image, _ = odd_crops()[1]
    a, b = load_codec(model_file=model_file), load_codec(model_file=delta_path)
    assert a.compress(image)[0] == b.compress(image)[0]
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "empty")  # an install without the base
    with pytest.raises(ModelError, match=r"extends hyperprior-q0\.pt"):
        registry.read_model_file(delta_path)
    other = tmp_path / "other"
    other.mkdir()
    base = load_model_file(shipped / "hyperprior-q0.pt")
    base["weights"]["g_s.0.bias"] = base["weights"]["g_s.0.bias"] + 1
    save_model_file(base, other / "hyperprior-q0.pt")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", other)  # a base with other weights is refused
    with pytest.raises(ModelError, match="but the installed file has weights"):
        registry.read_model_file(delta_path)
    trained = dict(full, weights=dict(full["weights"]))  # transforms changed (a joint stage): stored whole
    trained["weights"]["g_s.0.bias"] = trained["weights"]["g_s.0.bias"] + 1
    monkeypatch.setattr(registry, "WEIGHTS_DIR", shipped)
    assert "base" not in family.file_blob(trained)


def test_training_rate_by_phase_grids_equals_the_dense_passes():
    """The fast training path (networks only where their outputs are used) computes the dense passes' numbers,
    values and gradients."""
    torch.manual_seed(0)
    net = get_family("checkerboard").build_net(N=32, M=48).eval()
    with torch.no_grad():
        for module in [*net.context_prediction, *net.entropy_parameters]:
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, 0.05)
                module.bias.normal_(0, 0.05)
    y = (torch.randn(2, 48, 12, 8) * 3).requires_grad_()
    params = net.h_s(torch.round(net.h_a(y.detach())))
    fast, fast_means = net._latent_rate_by_phases(y, params)
    dense, dense_means = net._latent_rate_dense(y, params)
    assert torch.allclose(fast, dense, rtol=1e-4, atol=1e-6)
    assert torch.allclose(fast_means, dense_means, rtol=1e-4, atol=1e-5)
    weight = net.context_prediction[0].weight
    g_fast = torch.autograd.grad(torch.log(fast).sum(), weight)[0]
    g_dense = torch.autograd.grad(torch.log(dense).sum(), weight)[0]
    assert (g_fast - g_dense).norm() <= 1e-4 * g_dense.norm()  # float32 summation order only
