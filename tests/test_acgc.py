"""The ACGC family: exact slice-by-slice checkerboard coding on real images, whatever the machine or thread count.

The model under test is the shipped hyperprior q0 with context networks whose weights are random but seeded and
large enough to move table indexes (the attention's projections larger still, so its output varies over the
image): the context paths are exercised, not the zero start.
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
from neuralcodec.codecs.registry import get_family, load_codec, model_path
from neuralcodec.codecs.stages.acgc import linear_attention, slice_sizes
from neuralcodec.codecs.stages.checkerboard import anchor_mask
from neuralcodec.codecs.stages.fixed_point import ACT_FRAC_BITS, exact_linear_attention
from neuralcodec.coding import decode_bytes, encode_tensor
from neuralcodec.image_io import ImageInfo

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"
CONTEXT_NETWORKS = ("spatial_context", "channel_context", "global_context", "slice_parameters")


def randomize_context(net: torch.nn.Module, seed: int) -> None:
    """Seeded random weights (and biases) for every context network of an ACGC net."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in CONTEXT_NETWORKS:
            std = 0.3 if name == "global_context" else 0.02
            for module in net.get_submodule(name).modules():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.02)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return context_model_file("acgc", tmp_path_factory.mktemp("acgc"), lambda net: randomize_context(net, seed=0))


def test_slice_by_slice_decode_gives_exactly_the_coded_symbols(model_file):
    codec = load_codec(model_file=model_file)
    hyper = load_codec("hyperprior", 0)
    for image, info in odd_crops():
        enc = encode_tensor(image, info, codec, reconstruct=True)
        header, chunks = unpack(enc.data)
        assert header.family_id == 3 and len(chunks) == 2
        sent = codec.analyse(image)
        got = codec.decode_latents(codec.family.streams_from_chunks(chunks), header.height, header.width)
        assert torch.equal(sent.y_symbols, got.y_symbols) and torch.equal(sent.z_symbols, got.z_symbols)
        assert torch.equal(sent.means, got.means) and np.array_equal(sent.indexes, got.indexes)
        decoded, _ = decode_bytes(enc.data, model_file=model_file)
        assert torch.equal(decoded, enc.reconstruction)
        if image.shape[1] > 16:  # the contexts really move tables away from the hyperprior's choice
            assert not np.array_equal(hyper.analyse(image).indexes, sent.indexes)


def test_each_pass_depends_only_on_what_is_decoded_before_it(model_file):
    """Changing the latent at slice i's non-anchors and in every later slice leaves the tables and means of every
    earlier pass alone (and changes later ones): the decoder has exactly the encoder's inputs at each pass."""
    codec = load_codec(model_file=model_file)
    image, _ = odd_crops()[0]
    y = codec.analysis(image)
    z_symbols = codec.z_latent.symbols(codec.net.h_a(y))
    params = codec.hyper_parameters(codec.z_latent.values(z_symbols))
    anchors = anchor_mask(y.shape[2], y.shape[3])

    def code(latent: torch.Tensor):
        def step(index, positions, idx, mu):
            first, end = codec.bounds[index]
            return codec.y_latent.symbols(latent[:, first:end][:, :, positions].unsqueeze(-1), mu)
        return codec._code_y(params, step)

    clean = code(y)
    for index in (1, 3):
        first, end = codec.bounds[index]
        changed = y.clone()
        changed[:, first:end][:, :, ~anchors] += 2.5
        changed[:, end:] -= 3.5
        lat = code(changed)
        assert torch.equal(lat.means[:, :first], clean.means[:, :first])
        assert np.array_equal(lat.indexes[:, :first], clean.indexes[:, :first])
        assert torch.equal(lat.means[:, first:end][:, :, anchors], clean.means[:, first:end][:, :, anchors])
        assert np.array_equal(lat.indexes[:, first:end][:, :, anchors.numpy()],
                              clean.indexes[:, first:end][:, :, anchors.numpy()])
        assert not torch.equal(lat.means[:, end:], clean.means[:, end:])


def test_passes_in_bands_of_rows_equal_one_pass_over_the_latent(model_file, monkeypatch):
    """Large images run the context networks band by band (halos for the convolutions, the attention's sums
    accumulated over bands first): the same bits as one pass over the latent."""
    M = load_codec(model_file=model_file).net.M
    assert_bands_equal_one_pass(model_file, 2 * M, monkeypatch)


def test_the_global_attention_is_exercised(model_file):
    """The fixture's attention output varies over the image in every slice that has one."""
    codec = load_codec(model_file=model_file)
    image, _ = odd_crops()[0]
    lat = codec.analyse(image)
    params = codec.hyper_parameters(codec.z_latent.values(lat.z_symbols))
    y_hat = codec.y_latent.values(lat.y_symbols, lat.means)
    for index, (first, end) in enumerate(codec.bounds):
        if index:
            extra = codec.inter_slice_context(index, params, y_hat[:, :first], rows=params.shape[2])
            attention = extra[:, 2 * (end - first) :].double()
            assert float(attention.std(dim=(2, 3)).mean()) > 2.0**ACT_FRAC_BITS * 1e-3


def digest(image: torch.Tensor) -> str:
    return hashlib.sha256(image.numpy().tobytes()).hexdigest()


def test_two_threads_encode_and_decode_one_thread_fresh_process_decode(model_file, tmp_path):
    codec = load_codec(model_file=model_file)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected, paths = {}, []
        for i, crop in enumerate(random_crops(24, seed=23)):
            enc = encode_tensor(crop, ImageInfo(3, 8), codec, reconstruct=True)
            path = tmp_path / f"{i:03d}.bin"
            path.write_bytes(enc.data)
            paths.append(str(path))
            expected[str(path)] = digest(enc.reconstruction)
            if i % 6 == 0:  # a decode with 2 threads in this process, too
                assert digest(decode_bytes(enc.data, model_file)[0]) == expected[str(path)]
    finally:
        torch.set_num_threads(threads)
    decoded = fresh_process_decodes(model_file, paths)
    assert [p for p in paths if decoded[p] != expected[p]] == []


def test_context_networks_and_attention_are_immune_to_last_bit_noise(model_file, monkeypatch):
    codec = load_codec(model_file=model_file)
    image, info = odd_crops()[0]
    enc = encode_tensor(image, info, codec, reconstruct=True)
    header, chunks = unpack(enc.data)
    streams = codec.family.streams_from_chunks(chunks)
    clean = codec.decode_latents(streams, header.height, header.width)
    gen = torch.Generator().manual_seed(3)
    calls = {"matmul": 0}

    def noisy(fn, name=None):
        def wrapped(*args, **kwargs):
            if name:
                calls[name] += 1
            out = fn(*args, **kwargs)
            return out + torch.randint(-4, 5, out.shape, generator=gen).double() * 2.0**-52 * out.abs()
        return wrapped

    monkeypatch.setattr(fixed_point, "conv2d", noisy(torch.nn.functional.conv2d))
    monkeypatch.setattr(fixed_point, "conv_transpose2d", noisy(torch.nn.functional.conv_transpose2d))
    monkeypatch.setattr(fixed_point, "matmul", noisy(torch.matmul, "matmul"))  # masked convs and the attention
    noisy_lat = codec.decode_latents(streams, header.height, header.width)
    assert calls["matmul"] >= 3 * (len(codec.bounds) - 1)  # the attention's three products per slice were hit
    assert np.array_equal(clean.indexes, noisy_lat.indexes) and torch.equal(clean.means, noisy_lat.means)
    assert torch.equal(clean.y_symbols, noisy_lat.y_symbols)


def test_cli_encodes_and_decodes_with_the_model_file(run_cli, model_file, tmp_path, sample_path):
    out, png = tmp_path / "p.bin", tmp_path / "p.png"
    assert run_cli("encode", sample_path, "-o", out, "--codec", "acgc", "--model", model_file).returncode == 0
    info = run_cli("info", out)
    assert "3 (acgc)" in info.stdout
    assert run_cli("decode", out, "-o", png, "--model", model_file).returncode == 0
    assert png.is_file()


def test_a_context_stage_model_file_stores_only_its_context_networks(model_file, tmp_path):
    """Transforms exactly those of the shipped hyperprior: the file holds the context networks and a reference
    to that file; merged, it is the full model (same weights, same bitstream)."""
    import neuralcodec.codecs.registry as registry

    family = get_family("acgc")
    full = registry.read_model_file(model_file)
    stored = family.file_blob(full)
    assert stored["base"]["family"] == "hyperprior" and "g_s.0.weight" not in stored["weights"]
    assert all(key.startswith(CONTEXT_NETWORKS) for key in (*stored["weights"], *stored["hyper_q"]))
    delta_path = tmp_path / "acgc-q0.pt"
    save_model_file(stored, delta_path)
    assert delta_path.stat().st_size < 1.5e6 < model_file.stat().st_size
    merged = registry.read_model_file(delta_path)
    for key in ("weights", "hyper_q", "hyper_exp"):
        assert merged[key].keys() == full[key].keys()
        assert all(torch.equal(merged[key][k], full[key][k]) for k in full[key])
    image, _ = odd_crops()[1]
    a, b = load_codec(model_file=model_file), load_codec(model_file=delta_path)
    assert a.compress(image)[0] == b.compress(image)[0]


# --- the training network -----------------------------------------------------------------------------------
def small_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = get_family("acgc").build_net(N=32, M=48).eval()
    with torch.no_grad():
        for name in CONTEXT_NETWORKS:
            for module in net.get_submodule(name).modules():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.normal_(0, 0.3 if name == "global_context" else 0.05)
                    module.bias.normal_(0, 0.05)
    return net


def test_training_rate_by_phase_grids_equals_the_dense_passes():
    """The fast training path (networks only where their outputs are used) computes the dense passes' numbers,
    values and gradients."""
    net = small_net()
    assert slice_sizes(48) == (4, 4, 8, 16, 16)
    y = (torch.randn(2, 48, 12, 8) * 3).requires_grad_()
    params = net.h_s(torch.round(net.h_a(y.detach())))
    fast, fast_means = net._latent_rate_by_phases(y, params)
    dense, dense_means = net._latent_rate_dense(y, params)
    assert torch.allclose(fast, dense, rtol=1e-4, atol=1e-6)
    assert torch.allclose(fast_means, dense_means, rtol=1e-4, atol=1e-5)
    for weight in (net.spatial_context[2][0].weight, net.global_context["3"][0].weight,
                   net.channel_context["4"][0].weight):
        g_fast = torch.autograd.grad(torch.log(fast).sum(), weight, retain_graph=True)[0]
        g_dense = torch.autograd.grad(torch.log(dense).sum(), weight, retain_graph=True)[0]
        assert g_dense.norm() > 0 and (g_fast - g_dense).norm() <= 1e-4 * g_dense.norm()


def test_training_parameters_equal_a_straightforward_reference():
    """The dense training pass against a literal per-slice, per-pass, per-position reference written here."""
    net = small_net(seed=1)
    y = torch.randn(1, 48, 8, 4) * 3
    params = net.h_s(torch.round(net.h_a(y)))
    with torch.no_grad():
        _, means = net._latent_rate_dense(y, params)
        scales_h, means_h = params.chunk(2, 1)
        y_hat = torch.zeros_like(y)
        ref_means = torch.zeros_like(y)
        start = 0
        for i, size in enumerate(slice_sizes(48)):
            end = start + size
            hyper = torch.cat([scales_h[:, start:end], means_h[:, start:end]], 1)
            extra = []
            if i:
                earlier = y_hat[:, :start]
                q, k, v = net.global_context[str(i)](torch.cat([hyper, earlier], 1)).chunk(3, 1)
                q, k, v = q.clamp(0, 16).flatten(2)[0], k.clamp(0, 16).flatten(2)[0], v.clamp(-16, 16).flatten(2)[0]
                n = q.shape[1]
                weights = [[float(q[:, p] @ k[:, j]) for j in range(n)] for p in range(n)]
                attention = torch.stack([sum(wj * v[:, j] for j, wj in enumerate(row)) / n / (sum(row) / n + 2**-12)
                                         for row in weights], dim=1).reshape(1, -1, *y.shape[2:])
                extra = [net.channel_context[str(i)](earlier), attention]
            anchors_hat = torch.zeros(1, size, *y.shape[2:])
            for anchor_pass in (True, False):
                for r in range(y.shape[2]):
                    for c in range(y.shape[3]):
                        if ((r + c) % 2 == 0) != anchor_pass:
                            continue
                        spatial = torch.zeros(1, 2 * size, 1, 1)
                        if not anchor_pass:  # the masked 5×5 kernel over this slice's decoded anchors
                            window = torch.nn.functional.pad(anchors_hat, (2, 2, 2, 2))[:, :, r : r + 5, c : c + 5]
                            conv = net.spatial_context[i][0]
                            spatial = (torch.einsum("oiyx,iyx->o", conv.weight * conv.mask, window[0])
                                       + conv.bias).view(1, -1, 1, 1)
                        at = [x[:, :, r : r + 1, c : c + 1] for x in (hyper, *extra)]
                        out = at[0] + net.slice_parameters[i](torch.cat([at[0], spatial, *at[1:]], 1))
                        mu = out.chunk(2, 1)[1]
                        ref_means[:, start:end, r, c] = mu[:, :, 0, 0]
                        y_hat[:, start:end, r, c] = torch.round(y[:, start:end, r, c] - mu[:, :, 0, 0]) + mu[:, :, 0, 0]
                        if anchor_pass:
                            anchors_hat[:, :, r, c] = y_hat[:, start:end, r, c]
            start = end
    assert torch.allclose(means, ref_means, rtol=1e-4, atol=1e-4)


def test_exact_attention_matches_its_float_twin_and_its_bit_budget():
    torch.manual_seed(0)

    def dyadic(*shape, scale):  # exact real values with 16 fractional bits, as a fixed-point network gives
        return torch.round(torch.randn(*shape, dtype=torch.float64) * scale * 2**16) / 2**16

    q, k, v = dyadic(1, 32, 13, 9, scale=3), dyadic(1, 32, 13, 9, scale=3), dyadic(1, 24, 13, 9, scale=6)
    exact = exact_linear_attention(q, k, v) / 2**ACT_FRAC_BITS
    assert (exact - linear_attention(q, k, v)).abs().max() < 2e-3
    perm = torch.randperm(13 * 9)  # a global mean: the order of positions changes nothing but the output's order
    shuffled = [x.flatten(2)[:, :, perm].reshape(x.shape) for x in (q, k, v)]
    assert torch.equal(exact_linear_attention(*shuffled).flatten(2), (exact * 2**ACT_FRAC_BITS).flatten(2)[:, :, perm])
    # the bit budget's worst cases (every input beyond its clamp), against Python's unbounded integers
    limit = 1 << 12
    for d, dv, h, w, sign in ((4, 4, 512, 1024, 1), (32, 32, 4, 4, -1)):  # the most positions, the most channels
        n = h * w
        big = torch.full((1, d, h, w), 20.0, dtype=torch.float64)
        out = exact_linear_attention(big, big, sign * torch.full((1, dv, h, w), 20.0, dtype=torch.float64))
        kv_mean = n * limit * sign * limit // n
        num, den = d * limit * kv_mean, d * limit * ((n * limit << 8) // n)
        assert torch.all(out == (num << 16) // (den + (1 << 12)))


def test_an_untrained_model_codes_as_the_hyperprior_it_starts_from(tmp_path):
    """The parameter networks' last layers start at zero: the warm-started model's tables and means are exactly
    the hyperprior's (so the context stage starts from the hyperprior's rate, never worse)."""
    family = get_family("acgc")
    blob = load_model_file(model_path("hyperprior", 0))
    net = family.build_net(**blob["arch"])
    net.load_state_dict(get_family("hyperprior").float_state_dict(blob), strict=False)
    path = tmp_path / "acgc-q0.pt"
    save_model_file(family.export(net, 0, {}), path)
    image, _ = odd_crops()[1]
    lat, hyper_lat = load_codec(model_file=path).analyse(image), load_codec("hyperprior", 0).analyse(image)
    assert np.array_equal(lat.indexes, hyper_lat.indexes) and torch.equal(lat.means, hyper_lat.means)
    assert torch.equal(lat.y_symbols, hyper_lat.y_symbols)
