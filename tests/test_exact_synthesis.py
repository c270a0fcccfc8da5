"""The exact synthesis (``stages.exact_synthesis``): integer arithmetic that reproduces the float transform closely,
exactly the same on any tiling, thread count or product implementation."""

from __future__ import annotations

import pytest
import torch

import neuralcodec.codecs.stages.exact_synthesis as exact
from neuralcodec.codecs.registry import load_codec
from neuralcodec.image_io import read_image


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 10 * torch.log10(torch.tensor(255.0**2 / mse)).item()


def test_digits_represent_every_integer_of_their_range():
    for digits in (2, 3):
        limit = int(exact.digit_limit(digits))
        a = torch.cat([torch.arange(-limit, -limit + 300), torch.randint(-limit, limit + 1, (5000,)),
                       torch.arange(limit - 300, limit + 1)]).double()
        d = exact.to_digits(a, digits).long()
        assert int(d.abs().max()) <= 64  # |digit| ≤ 64: no int16 saturation on CPUs without VNNI
        assert torch.equal(sum(d[i] * 128**i for i in range(digits)), a.long())


def test_int8_products_match_the_float32_fallback():
    """``_int_mm`` and the float32 form of the digit products are the same exact integers."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(-64, 65, (301, 1152), generator=gen, dtype=torch.int8)
    w = torch.randint(-64, 65, (1152, 37), generator=gen, dtype=torch.int8)
    reference = x.long() @ w.long()
    assert torch.equal(exact.int_products(x, w).long(), reference)
    assert torch.equal(torch.round(x.float() @ w.float()).long(), reference)


def _integer_reference(x: torch.Tensor, q: torch.Tensor, pad: int) -> torch.Tensor:
    """int64 stride-1 convolution of integers x (C_in, H, W) by q (C_out, C_in, k, k), zero padding: (H, W, C_out)."""
    _, height, width = x.shape
    k = q.shape[-1]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    out = torch.zeros(height * width, q.shape[0], dtype=torch.int64)
    for ky in range(k):
        for kx in range(k):
            window = padded[:, ky : ky + height, kx : kx + width].reshape(x.shape[0], -1).T
            out += window @ q[:, :, ky, kx].T
    return out.view(height, width, -1)


@pytest.mark.parametrize("digits", [2, 3])
def test_convolution_accumulators_are_exact_at_the_extremes_of_the_grid(digits):
    """Inputs at the limits of their digits and 14-bit weights, 3×3 × 192 inputs (1,728 terms): the combined digit
    products equal int64 arithmetic."""
    gen = torch.Generator().manual_seed(digits)
    conv = torch.nn.Conv2d(192, 40, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
    layer = exact.ExactConv(conv, digits, 0)
    q, _ = exact.quantize_per_channel(conv.weight, exact.WEIGHT_DIGITS * exact.DIGIT_BITS, 0)
    limit = int(exact.digit_limit(digits))
    x = torch.randint(-limit, limit + 1, (1, 192, 9, 11), generator=gen, dtype=torch.int64)
    x[..., :2, :] = limit * torch.sign(q[:, :, 1, 1].sum(0)).long()[None, :, None, None]  # extreme sums
    planes = exact.input_planes(layer, (digits, 0), x.double())
    ones, zeros = torch.ones(1, 40, dtype=torch.float64), torch.zeros(1, 40, dtype=torch.float64)
    got = layer.accumulate(planes, 0, 0, 9, ones, zeros).view(9, 11 + 2, 40)[:, :11]
    assert torch.equal(got.long(), _integer_reference(x[0], q.long(), 1))


@pytest.fixture(scope="module")
def decoded_latent(sample_path):
    codec = load_codec("hyperprior", 6)
    image, _ = read_image(sample_path)
    image = image[:, :200, :264]
    streams, _ = codec.compress(image)
    lat = codec.decode_latents(streams, image.shape[1], image.shape[2])
    return codec, image, codec.y_latent.values(lat.y_symbols, lat.means)


def test_exact_synthesis_is_close_to_the_float_transform(decoded_latent):
    codec, image, y_hat = decoded_latent
    with torch.no_grad():
        floating = codec.net.g_s(y_hat).clamp(0, 1).mul(255).round()[0, :, :200, :264]
    exact_pixels = codec.synthesis(y_hat)[0, :, :200, :264]
    assert exact_pixels.dtype == torch.uint8
    difference = (exact_pixels.double() - floating).abs()
    assert float(difference.max()) <= 3 and float(difference.mean()) < 0.25  # off by one where rounding flips
    assert abs(_psnr(exact_pixels, image) - _psnr(floating, image)) < 0.02


def test_exact_synthesis_of_a_window_equals_that_part_of_the_whole(decoded_latent):
    codec, _, y_hat = decoded_latent
    whole = codec.synthesis(y_hat)
    window = codec.synthesis(y_hat[:, :, 3:11, 2:15])
    # away from the window's border (its receptive field is under 2 latent pixels), pixels are identical
    inside = whole[:, :, 3 * 16 + 32 : 11 * 16 - 32, 2 * 16 + 32 : 15 * 16 - 32]
    assert torch.equal(window[:, :, 32:-32, 32:-32], inside)


def test_exact_synthesis_ignores_threads_bands_and_last_bit_noise(decoded_latent, monkeypatch, request):
    codec, _, y_hat = decoded_latent
    torch.set_num_threads(1)
    one = codec.synthesis(y_hat)
    torch.set_num_threads(2)
    assert torch.equal(codec.synthesis(y_hat), one)
    monkeypatch.setattr(exact, "BAND_POSITIONS", 300)  # other bands of rows
    assert torch.equal(codec.synthesis(y_hat), one)
    request.getfixturevalue("noisy_mm")  # float64 products off by ±1 ULP from here on
    assert torch.equal(codec.synthesis(y_hat), one)
    monkeypatch.setattr(exact.torch, "_int_mm", None, raising=False)
    monkeypatch.delattr(exact.torch, "_int_mm")  # the float32 fallback of the digit products
    assert torch.equal(codec.synthesis(y_hat), one)
