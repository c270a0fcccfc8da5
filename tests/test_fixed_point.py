"""The general fixed-point network: every layer kind, exact under thread changes and last-bit noise."""

from __future__ import annotations

import torch
from torch import nn

import neuralcodec.codecs.stages.fixed_point as fixed_point
from neuralcodec.codecs.stages.fixed_point import (
    FixedPointSequential,
    dequantize_sequential,
    exact_add,
    quantize_sequential,
    to_fixed_point,
)


class MaskedConv2d(nn.Conv2d):
    """A checkerboard-style masked convolution: the mask is a buffer, as in CompressAI's ``MaskedConv2d``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        mask = torch.zeros_like(self.weight)
        mask[:, :, 0::2, 1::2] = 1
        mask[:, :, 1::2, 0::2] = 1
        self.register_buffer("mask", mask)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    slope = 2.0**-fixed_point.LEAKY_SHIFT
    return nn.Sequential(
        MaskedConv2d(6, 8, 5, padding=2), nn.LeakyReLU(slope),
        nn.ConvTranspose2d(8, 8, 5, stride=2, padding=2, output_padding=1), nn.LeakyReLU(slope),
        nn.Conv2d(8, 8, 3, padding=1), nn.LeakyReLU(slope),
        nn.Conv2d(8, 4, 1),
    )


def _fixed(net: nn.Sequential) -> FixedPointSequential:
    q, exp = quantize_sequential(net, "ctx")
    bias = {f"ctx.{i}.bias": m.bias.detach() for i, m in enumerate(net) if hasattr(m, "bias")}
    return FixedPointSequential(net, "ctx", q, exp, bias)


def test_matches_the_float_network_with_its_stored_weights():
    net = _net()
    fixed = _fixed(net)
    q, exp = quantize_sequential(net, "ctx")
    dequantized = dequantize_sequential(net, "ctx", q, exp)
    for i, module in enumerate(net):  # the float network with the stored (masked, int8) weights
        if f"ctx.{i}.weight" in dequantized:
            module.weight.data = dequantized[f"ctx.{i}.weight"]
            if hasattr(module, "mask"):
                module.mask.fill_(1)  # already applied to the stored weights
    x = torch.randint(-20, 21, (1, 6, 9, 11)).float() / 4
    got = fixed(x)
    want = net.double()(x.double())
    assert got.shape == (1, 4, 18, 22) and got.dtype == torch.float64
    assert float((got - want).abs().max()) < 1e-2  # activations keep 16 fractional bits


def test_exact_under_threads_and_last_bit_noise(monkeypatch):
    fixed = _fixed(_net())
    x = torch.randint(-40, 41, (1, 6, 16, 16)).float() / 8
    torch.set_num_threads(1)
    one = fixed(x)
    torch.set_num_threads(2)
    assert torch.equal(one, fixed(x))
    noise = torch.Generator().manual_seed(1)

    def noisy(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            ulps = torch.randint(-4, 5, out.shape, generator=noise).double() * 2.0**-52  # ±4 ULPs
            return out + ulps * out.abs()
        return wrapped

    monkeypatch.setattr(fixed_point, "conv2d", noisy(torch.nn.functional.conv2d))
    monkeypatch.setattr(fixed_point, "conv_transpose2d", noisy(torch.nn.functional.conv_transpose2d))
    monkeypatch.setattr(fixed_point, "matmul", noisy(torch.matmul))
    assert torch.equal(one, fixed(x))


def test_masked_kernel_matmul_equals_the_dense_convolution():
    fixed = _fixed(_net())
    masked = fixed.layers[0]
    assert masked.taps is not None and len(masked.taps) == 12  # 5×5 checkerboard: 12 live taps
    a = to_fixed_point(torch.randint(-40, 41, (1, 6, 13, 9)).float() / 8)
    dense = torch.round(torch.nn.functional.conv2d(a, masked.weight, None, 1, 2)) + masked.bias
    assert torch.equal(masked.accumulate(a), dense)


def test_exact_add_and_masked_weights():
    a, b = to_fixed_point(torch.tensor([1.5, 2.0])), to_fixed_point(torch.tensor([0.25, 4095.0]))
    assert torch.equal(exact_add(a, b), to_fixed_point(torch.tensor([1.75, 4096.0])))  # clamped at ±2**12
    q, _ = quantize_sequential(_net(), "ctx")
    assert int(q["ctx.0.weight"][:, :, 0, 0].abs().sum()) == 0  # masked positions are stored as zeros


def test_layers_without_an_exact_form_are_refused():
    import pytest

    from neuralcodec.errors import ModelError

    net = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1))
    q, exp = quantize_sequential(net, "p")
    with pytest.raises(ModelError, match="no exact fixed-point form"):
        FixedPointSequential(net, "p", q, exp, {f"p.{i}.bias": torch.zeros(2) for i in (0, 2)})
