"""Exact fixed-point hyper-synthesis: the network that decides the decoder's probability tables.

The mean-scale hyperprior's ``h_s`` maps the decoded hyper-latent to a mean and a scale per latent; the
scale picks one of the integer Gaussian tables. If encoder and decoder computed a scale that differs
in its last bit and it sits on a table boundary, they would pick different tables and the stream would
decode to garbage — the cross-platform failure users of learned codecs report most.

Here ``h_s`` runs on integers. Weights are int8 with a power-of-two scale per output channel (they are
stored that way in the model file), activations are integers with ``ACT_FRAC_BITS`` fractional bits.
Convolutions run in float64 on integer-valued tensors: every product and partial sum is an integer
below 2**53 (checked when the module is built), so the result is exact whatever the summation order,
thread count, BLAS or device. Each result is snapped to the nearest integer (which also absorbs any
last-bit noise an inexact conv algorithm might add) before integer-only nonlinearities and
power-of-two rescaling. The outputs are exact dyadic numbers, compared with stored float64 thresholds.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import conv2d, conv_transpose2d

ACT_FRAC_BITS = 16
ACT_LIMIT = float(1 << 28)  # activations are clamped to ±2**28 (real values up to ±4096)
EXACT_LIMIT = float(1 << 53)
LEAKY_SHIFT = 7  # LeakyReLU slope 2**-7 (the training network uses the same slope)


def quantize_weight(weight: Tensor, out_dim: int) -> tuple[Tensor, Tensor]:
    """int8 weights and per-output-channel exponents with ``weight ≈ q * 2**-exp`` (export time)."""
    w = weight.detach().double()
    reduce_dims = [d for d in range(w.dim()) if d != out_dim]
    peak = w.abs().amax(dim=reduce_dims).clamp_min(1e-30)
    exp = torch.floor(torch.log2(127.0 / peak)).clamp(-8, 20)
    shape = [1] * w.dim()
    shape[out_dim] = -1
    q = torch.round(w * torch.exp2(exp).view(shape)).clamp(-127, 127)
    return q.to(torch.int8), exp.to(torch.int8)


def dequantize_weight(q: Tensor, exp: Tensor, out_dim: int) -> Tensor:
    """Float32 weights from int8 + exponents (exact: power-of-two scaling)."""
    shape = [1] * q.dim()
    shape[out_dim] = -1
    return q.float() * torch.exp2(-exp.float()).view(shape)


class _IntLayer(nn.Module):
    def __init__(self, q: Tensor, exp: Tensor, bias: Tensor, transposed: bool, stride: int, padding: int,
                 output_padding: int, leaky: bool) -> None:
        super().__init__()
        self.transposed, self.stride, self.padding = transposed, stride, padding
        self.output_padding, self.leaky = output_padding, leaky
        self.register_buffer("weight", q.double())
        scale = torch.exp2(exp.double() + ACT_FRAC_BITS).view(1, -1, 1, 1)  # accumulator units per real unit
        self.register_buffer("acc_scale", scale)
        self.register_buffer("exp_scale", torch.exp2(exp.double()).view(1, -1, 1, 1))
        self.register_buffer("bias", torch.round(bias.double().view(1, -1, 1, 1) * scale))
        fan_in = q[0].numel() if not transposed else q[:, 0].numel()
        bound = ACT_LIMIT * float(q.abs().max()) * fan_in + float(self.bias.abs().max())
        if bound >= EXACT_LIMIT:
            raise ValueError("fixed-point layer could exceed 2**53: exactness not guaranteed")

    def accumulate(self, a: Tensor) -> Tensor:
        if self.transposed:
            acc = conv_transpose2d(a, self.weight, None, self.stride, self.padding, self.output_padding)
        else:
            acc = conv2d(a, self.weight, None, self.stride, self.padding)
        return torch.round(acc) + self.bias  # snap: the sum is an integer by construction

    def forward(self, a: Tensor) -> Tensor:
        acc = self.accumulate(a)
        if self.leaky:
            acc = torch.where(acc >= 0, acc, torch.floor(acc / (1 << LEAKY_SHIFT)))
        # back to ACT_FRAC_BITS fractional bits: divide by 2**exp, round half up (exact in float64)
        return torch.floor(acc / self.exp_scale + 0.5).clamp(-ACT_LIMIT, ACT_LIMIT)


class FixedPointHyperSynthesis(nn.Module):
    """Integer ``h_s`` built from int8 weights; ``forward`` returns exact float64 (scales, means)."""

    def __init__(self, layers: list[dict]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_IntLayer(**spec) for spec in layers)

    @torch.no_grad()
    def forward(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        a = torch.round(z_hat.double() * (1 << ACT_FRAC_BITS)).clamp(-ACT_LIMIT, ACT_LIMIT)
        for layer in self.layers[:-1]:
            a = layer(a)
        last = self.layers[-1]
        params = last.accumulate(a) / last.acc_scale  # exact dyadic values
        scales, means = params.chunk(2, 1)
        return scales, means
