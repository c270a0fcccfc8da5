"""Exact fixed-point networks: for every network whose outputs choose probability tables (or means).

The mean-scale hyperprior's ``h_s`` maps the decoded hyper-latent to a mean and a scale per latent; the
scale picks one of the integer Gaussian tables. If encoder and decoder computed a scale that differs
in its last bit and it sits on a table boundary, they would pick different tables and the stream would
decode to garbage — the cross-platform failure users of learned codecs report most. Context models have
the same need for their context and parameter networks.

Such networks run on integers here: :class:`FixedPointSequential` holds k×k (1×1 included, optionally
masked) and transposed convolutions with an optional integer LeakyReLU (slope 2⁻⁷) after each;
:func:`exact_add` adds two activations (e.g. a hyper and a context branch);
:func:`exact_linear_attention` is a global linear attention on integers (see its docstring for its bit budget).
 Weights are int8 with a power-of-two scale per output channel (they are
stored that way in the model file), activations are integers with ``ACT_FRAC_BITS`` fractional bits.
Convolutions run in float64 on integer-valued tensors: every product and partial sum is an integer
below 2**53 (checked when the module is built), so the result is exact whatever the summation order,
thread count, BLAS or device. Each result is snapped to the nearest integer (which also absorbs any
last-bit noise an inexact conv algorithm might add) before integer-only nonlinearities and
power-of-two rescaling. The outputs are exact dyadic numbers, compared with stored float64 thresholds.
"""

from __future__ import annotations

import torch
from torch import Tensor, matmul, nn
from torch.nn.functional import conv2d, conv_transpose2d, pad

from neuralcodec.errors import ModelError

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


def quantize_sequential(seq: nn.Sequential, prefix: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """int8 weights and exponents of every convolution in ``seq``, keyed ``{prefix}.{i}.weight`` (export time).

    A masked convolution (a module with a ``mask`` buffer, as CompressAI's ``MaskedConv2d``) is stored with
    its mask applied.
    """
    q, exp = {}, {}
    for i, module in enumerate(seq):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = module.weight * module.mask if hasattr(module, "mask") else module.weight
            key = f"{prefix}.{i}.weight"
            q[key], exp[key] = quantize_weight(weight, 1 if isinstance(module, nn.ConvTranspose2d) else 0)
    return q, exp


def dequantize_sequential(seq: nn.Sequential, prefix: str, q: dict[str, Tensor],
                          exp: dict[str, Tensor]) -> dict[str, Tensor]:
    """Float32 weights of every convolution of ``seq`` from its stored int8 weights and exponents."""
    out = {}
    for i, module in enumerate(seq):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            key = f"{prefix}.{i}.weight"
            out[key] = dequantize_weight(q[key], exp[key], 1 if isinstance(module, nn.ConvTranspose2d) else 0)
    return out


class IntLayer(nn.Module):
    """One exact convolution (k×k or transposed; a linear layer is a 1×1 convolution on a 1×1 map) with an
    optional integer LeakyReLU: integer activations (``ACT_FRAC_BITS`` fractional bits) in and out."""

    def __init__(self, q: Tensor, exp: Tensor, bias: Tensor, transposed: bool, stride: int, padding: int,
                 output_padding: int, leaky: bool, dense_as_matmul: bool = False) -> None:
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
        # A masked kernel (zero taps for every channel pair, e.g. a checkerboard context) runs as one matrix
        # product per live tap: half the work of a dense convolution for a checkerboard mask, and as exact
        # (integer sums). A dense kernel may run that way too (``dense_as_matmul``): float64 matrix products on
        # views of the input are ≈ 1.3–1.5× faster than float64 conv2d on a CPU, and copy nothing.
        live = (q != 0).any(dim=1).any(dim=0) if not transposed and stride == 1 else None
        self.taps = None
        if (live is not None and q.shape[-1] > 1 and 0 < int(live.sum())
                and (dense_as_matmul or int(live.sum()) < live.numel())):
            self.taps = [(int(dy), int(dx)) for dy, dx in live.nonzero()]
            self.register_buffer("tap_weight", torch.stack([self.weight[:, :, dy, dx] for dy, dx in self.taps]))

    def _tapped(self, a: Tensor) -> Tensor:
        """The convolution of one map as a sum over live taps of (out × in) · (in × positions) products.

        In the padded map flattened row by row (row length ``width``), tap (dy, dx) of output position
        (y, x) reads element (y + dy) · width + x + dx: for every output position at once that is one contiguous
        range of the flat map, offset by dy · width + dx, so each product reads a view and nothing is copied.
        The outputs are computed for all ``width`` columns of a row; the last kw - 1 are dropped.
        """
        _, c, h, w = a.shape
        kh, kw = self.weight.shape[-2:]
        pad_by = self.padding
        width = w + 2 * pad_by
        h_out, w_out = h + 2 * pad_by - kh + 1, width - kw + 1
        # one extra zero row: the last output row's taps read up to kw - 1 elements past the padded map
        flat = pad(a, (pad_by, pad_by, pad_by, pad_by + 1)).reshape(c, -1)
        count = h_out * width
        out = None
        for (dy, dx), weight in zip(self.taps, self.tap_weight, strict=True):
            view = flat[:, dy * width + dx : dy * width + dx + count]
            out = matmul(weight, view) if out is None else out.addmm_(weight, view)
        return out.view(1, -1, h_out, width)[..., :w_out]

    def accumulate(self, a: Tensor) -> Tensor:
        if self.transposed:
            acc = conv_transpose2d(a, self.weight, None, self.stride, self.padding, self.output_padding)
        elif self.taps is not None and a.shape[0] == 1:
            acc = self._tapped(a)
        else:
            acc = conv2d(a, self.weight, None, self.stride, self.padding)
        # snap: the sum is an integer by construction (in place: ``acc`` is this call's own tensor, and the
        # tail of a large layer is bound by memory traffic, not arithmetic)
        return acc.round_().add_(self.bias)

    def forward(self, a: Tensor) -> Tensor:
        acc = self.accumulate(a)
        if self.leaky:
            # for integers, max(acc, ⌊acc / 2**7⌋) is acc when acc ≥ 0 and ⌊acc / 2**7⌋ when acc < 0
            torch.maximum(acc, torch.div(acc, 1 << LEAKY_SHIFT).floor_(), out=acc)
        # back to ACT_FRAC_BITS fractional bits: divide by 2**exp, round half up (exact in float64)
        return acc.div_(self.exp_scale).add_(0.5).floor_().clamp_(-ACT_LIMIT, ACT_LIMIT)


def to_fixed_point(x: Tensor) -> Tensor:
    """Integer activations (float64, ``ACT_FRAC_BITS`` fractional bits) of an exactly representable tensor."""
    return torch.round(x.double() * (1 << ACT_FRAC_BITS)).clamp(-ACT_LIMIT, ACT_LIMIT)


def exact_add(a: Tensor, b: Tensor) -> Tensor:
    """Sum of two integer activations (same fractional bits): exact, clamped like every activation."""
    return (a + b).clamp(-ACT_LIMIT, ACT_LIMIT)


class FixedPointSequential(nn.Module):
    """An integer network of convolutions and LeakyReLUs; ``forward`` returns exact float64 outputs.

    Built from the float network's structure (``nn.Sequential`` of ``Conv2d`` / ``ConvTranspose2d`` and
    ``LeakyReLU(2**-7)``) and the int8 weights, exponents and float32 biases stored in a model file.
    """

    def __init__(self, seq: nn.Sequential, prefix: str, q: dict[str, Tensor], exp: dict[str, Tensor],
                 bias: dict[str, Tensor]) -> None:
        super().__init__()
        specs: list[dict] = []
        for i, module in enumerate(seq):
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                transposed = isinstance(module, nn.ConvTranspose2d)
                key = f"{prefix}.{i}.weight"
                specs.append({
                    "q": q[key], "exp": exp[key], "bias": bias[f"{prefix}.{i}.bias"], "transposed": transposed,
                    "stride": module.stride[0], "padding": module.padding[0],
                    "output_padding": module.output_padding[0] if transposed else 0, "leaky": False,
                })
            elif isinstance(module, nn.LeakyReLU) and specs and module.negative_slope == 2.0**-LEAKY_SHIFT:
                specs[-1]["leaky"] = True
            else:
                raise ModelError(f"{prefix}.{i}: {type(module).__name__} has no exact fixed-point form")
        if specs[-1]["leaky"]:
            raise ModelError(f"{prefix}: the last layer must be a convolution")
        self.layers = nn.ModuleList(IntLayer(**spec) for spec in specs)

    @torch.no_grad()
    def forward_fixed(self, a: Tensor) -> Tensor:
        """Exact float64 outputs from integer activations (see :func:`to_fixed_point`)."""
        for layer in self.layers[:-1]:
            a = layer(a)
        last = self.layers[-1]
        return last.accumulate(a) / last.acc_scale  # exact dyadic values

    def forward(self, x: Tensor) -> Tensor:
        """Exact float64 outputs for an input whose values are exactly representable (e.g. dequantized symbols)."""
        return self.forward_fixed(to_fixed_point(x))


# --- exact linear attention ---------------------------------------------------------------------------------
ATTN_FRAC_BITS = 8  # queries, keys and values are rounded to multiples of 2**-8 ...
ATTN_LIMIT = 1 << 12  # ... and clamped to ±2**12 units (real values up to ±16; queries and keys to 0…16)
ATTN_MAX_DIM = 32  # query/key and value channels
ATTN_MAX_POSITIONS = 1 << 19  # > the largest padded latent the format allows (≈ 2.7e5 positions)
ATTN_EPSILON_BITS = 12  # the normaliser's ε = 2**-12 (smooth gradients in training where the weights are ≈ 0)
ATTN_SNAP_LIMIT = 1 << 48  # float64 sums stay below this: a few ulps of noise stay below 1/2, snapped away
# the bit budget of exact_linear_attention's docstring, checked once: the float64 sums Σ k vᵀ and q·S̄ stay below
# ATTN_SNAP_LIMIT, and the int64 numerator 2**16 · q·S̄ below 2**63
assert ATTN_MAX_POSITIONS * ATTN_LIMIT**2 <= ATTN_SNAP_LIMIT
assert ATTN_MAX_DIM * ATTN_LIMIT**3 <= ATTN_SNAP_LIMIT
assert ATTN_MAX_DIM * ATTN_LIMIT**3 << ACT_FRAC_BITS < 1 << 63


def attention_grid(x: Tensor, low: float) -> Tensor:
    """Exact real values (float64) → integers in units of 2**-ATTN_FRAC_BITS, rounded half up and clamped to
    ``[low, 1] · ATTN_LIMIT`` (``low = 0`` for the ReLU feature map of queries and keys, ``-1`` for values)."""
    return torch.floor(x * (1 << ATTN_FRAC_BITS) + 0.5).clamp(low * ATTN_LIMIT, ATTN_LIMIT)


def exact_linear_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Global linear attention ``out_p = Σ_j (q_p·k_j) v_j / (Σ_j q_p·k_j + ε)`` over all positions, exactly.

    ``q``, ``k`` (1, D, H, W) and ``v`` (1, Dv, H, W) are exact real values (float64, e.g. a
    :class:`FixedPointSequential`'s output); queries and keys go through the feature map
    ``clamp(x, 0, 16)``, values through ``clamp(x, -16, 16)``, all on the 2**-8 grid
    (:func:`attention_grid`). Returns integer activations (``ACT_FRAC_BITS`` fractional bits, |·| ≤ 2**20).

    Bit budget, with q, k ∈ [0, 2**12], |v| ≤ 2**12 (integer units), n ≤ 2**19 positions, D, Dv ≤ 32:

    - ``S = Σ_j k_j v_jᵀ`` (D×Dv): |S| ≤ n · 2**24 ≤ 2**43; ``s = Σ_j k_j`` ≤ 2**31 (float64, exact: integers);
    - the means over positions, floored in int64: ``S̄ = ⌊S / n⌋`` (16 fractional bits, |S̄| ≤ 2**24) and
      ``s̄ = ⌊2**8 s / n⌋`` (16 fractional bits, ≤ 2**20);
    - per position ``num = q·S̄`` ≤ 32 · 2**12 · 2**24 = 2**41 and ``den = q·s̄`` ≤ 2**37 (24 fractional bits,
      float64, exact);
    - ``out = ⌊2**16 num / (den + 2**12)⌋`` in int64 (2**16 num ≤ 2**57 < 2**63): a weighted mean of the
      values, so |out| ≤ 2**20. The ``2**12`` is ε = 2**-12: a position whose weights are all zero gives 0.

    Every float64 sum is an integer below 2**48 whatever its order or thread count, so its result is exact, and
    snapping it to the nearest integer also absorbs a few ulps of noise an inexact matmul might add. The
    training network computes the same formula in float (:func:`neuralcodec.codecs.stages.acgc.linear_attention`).
    """
    _, d, h, w = q.shape
    sums = attention_sums(k, v)
    return attention_apply(q, attention_means(*sums, h * w))


def _check_attention(d: int, dv: int, n: int) -> None:
    if max(d, dv) > ATTN_MAX_DIM or n > ATTN_MAX_POSITIONS:
        raise ValueError(f"attention of {d}/{dv} channels over {n} positions exceeds its exact bit budget")


def attention_sums(k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """The integer sums ``(Σ_j k_j v_jᵀ, Σ_j k_j)`` (int64, (D, Dv) and (D, 1)) over the positions of ``k`` and
    ``v`` (1, D|Dv, H, W; exact real values): the first half of :func:`exact_linear_attention`. Sums of blocks
    of positions add up to the sums of the whole exactly (integers), so a large latent is summed tile by tile."""
    d, dv, n = k.shape[1], v.shape[1], k.shape[2] * k.shape[3]
    _check_attention(d, dv, n)
    keys = attention_grid(k, 0.0).reshape(d, n)
    values = attention_grid(v, -1.0).reshape(dv, n).T
    return torch.round(matmul(keys, values)).long(), torch.round(keys.sum(dim=1, keepdim=True)).long()


def attention_means(kv: Tensor, key_sum: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """``(S̄, s̄)``: the sums of :func:`attention_sums` over all ``n`` positions, as floored means (float64
    integers with 16 fractional bits)."""
    _check_attention(kv.shape[0], kv.shape[1], n)
    kv_mean = torch.div(kv, n, rounding_mode="floor").double()
    key_mean = torch.div(key_sum << ATTN_FRAC_BITS, n, rounding_mode="floor").double()
    return kv_mean, key_mean


def attention_apply(q: Tensor, means: tuple[Tensor, Tensor]) -> Tensor:
    """The attention's output at the positions of ``q`` (1, D, H, W; exact real values) from the means of
    :func:`attention_means`: integer activations (``ACT_FRAC_BITS`` fractional bits), position by position, so
    it may be computed on any block of positions."""
    kv_mean, key_mean = means
    _, d, h, w = q.shape
    dv, n = kv_mean.shape[1], h * w
    _check_attention(d, dv, n)
    if kv_mean.shape[0] != d:
        raise ValueError("queries and keys differ in channels")
    queries = attention_grid(q, 0.0).reshape(d, n).T
    num = torch.round(matmul(queries, kv_mean)).long()  # (n, Dv), |·| ≤ 2**41
    den = torch.round(matmul(queries, key_mean)).long()  # (n, 1), ≤ 2**37
    out = torch.div(num << ACT_FRAC_BITS, den + (1 << ATTN_EPSILON_BITS), rounding_mode="floor")
    return out.double().T.reshape(1, dv, h, w)
