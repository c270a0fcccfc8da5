"""Exact synthesis transforms: decoded pixels that are the same on every CPU, BLAS, thread count and GPU.

A float32 synthesis decodes a file to slightly different pixels on different machines (oneDNN picks its kernels,
and with them the order of its sums, by instruction set). Here the synthesis runs on integers instead, after
Ballé et al., "Integer networks for data compression with latent-variable models" (ICLR 2019). The integer network
is *derived* from the float one when a model file is loaded (nothing new is stored), so every file ever written,
and every model file, decodes exactly:

- **Activations** are integers on a per-layer grid of ``2**-frac_bits``, clamped to the range of their digits
  (the grids of a family are part of its format: changing them changes pixels).
- **Weights** are 14-bit integers with a power-of-two scale per output channel (the exponent from ``frexp``, the
  rounding one IEEE multiply: the same on every machine).
- **Convolutions** (k×k, and stride-2 transposed ones split into their four sub-pixel phases) are matrix
  products of *digits*: an activation of ``d`` digits and a weight of 2 digits are written in base 128 with
  digits in [-64, 64], and every digit product is an int8 × int8 → int32 matrix product (``torch._int_mm``;
  fast with VNNI or AMX). Digits of at most 64 in magnitude keep the products exact on CPUs without VNNI too
  (oneDNN's pairwise int16 sums there cannot saturate: 2 · 192 · 64 < 2**15), and a sum of K ≤ 2048 terms stays
  below 2**23, so the same products in float32 are exact as well (the fallback where ``_int_mm`` is missing).
  The two weight digits of each activation digit are combined in int32 (below 2**31), the rest in float64:
  |sum| ≤ 2**13 · 2**20 · 2**11 = 2**44 < 2**53, exact. A layer of few outputs (the last, to RGB) instead takes
  its input as whole integers (int16) and runs one float64 product per band (sums below 2**44: exact in any
  order).
- **Inverse GDN** rounds x² to a per-layer grid (at most 2**31 units), multiplies by 14-bit γ in float64 (an
  integer sum below 2**53: exact in any order and on any BLAS), then takes one correctly rounded square root
  and one product. Every elementwise step is a single IEEE operation (mul, add, sqrt, floor), which vectorised
  and scalar code compute alike.
- **Rounding** to the next grid is ``floor(x + 1/2)``; pixels are ``round(clamp(x, 0, 1) · 255)`` as in float.

The result is a fixed integer function of the decoded latent: tiles and whole images, 1 or 2 threads, AVX2,
AVX-512 and AMX give the same pixels. Layers run on bands of rows so that the intermediates stay in cache; only
the int8 digits of each layer's output are stored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DIGIT_BITS = 7
DIGIT_BASE = 1 << DIGIT_BITS
WEIGHT_DIGITS = 2
WEIGHT_LIMIT = (1 << (WEIGHT_DIGITS * DIGIT_BITS - 1)) - 1  # 8191
MAX_TERMS = 2048  # K of one product: 64 · 64 · 2048 = 2**23 (exact in float32 too; see combine_digit_products)
EXACT_LIMIT = float(1 << 53)
SQUARE_LIMIT = float((1 << 31) - 1)  # IGDN: x² on a per-layer grid, at most 2**31 units
GAMMA_BITS = 14
BAND_POSITIONS = 2048  # output positions per band of a layer (intermediates ≈ 4 MB)


def digit_limit(digits: int) -> float:
    """Largest magnitude of an integer of ``digits`` base-128 digits in [-64, 64] (the clamp of its grid)."""
    return float((1 << (digits * DIGIT_BITS - 1)) - 1)


def to_digits(a: Tensor, digits: int, out: Tensor | None = None) -> Tensor:
    """Base-128 digits of integer-valued ``a`` (|a| ≤ digit_limit(digits)), least significant first, along a new
    leading dimension: ``a = Σ_i d_i · 128**i`` with every d_i in [-64, 64]. int8, or written into ``out`` (any
    integer dtype, shape (digits, *a.shape))."""
    rest = a.to(torch.int32)
    if out is None:
        out = torch.empty((digits, *a.shape), dtype=torch.int8)
    for i in range(digits - 1):
        low = rest.add(64).bitwise_and_(DIGIT_BASE - 1).sub_(64)
        out[i] = low
        rest = rest.sub_(low).bitwise_right_shift_(DIGIT_BITS)
    out[digits - 1] = rest
    return out


def _frexp_exponent(peak: Tensor) -> Tensor:
    """k with peak = m · 2**k, m in [0.5, 1) (exact); 0 where peak is 0."""
    _, k = torch.frexp(peak.double())
    return torch.where(peak > 0, k, torch.zeros_like(k))


def quantize_per_channel(weight: Tensor, bits: int, out_dim: int) -> tuple[Tensor, Tensor]:
    """Integer weights (float64) with |q| < 2**(bits-1) and exponents e (float64) per output channel, q ≈ w · 2**e.

    The exponents come from ``frexp`` and the rounding is one IEEE multiply and ``round``: the same on every
    machine, so the integer network derived from a model file is too."""
    w = weight.detach().double()
    dims = [d for d in range(w.dim()) if d != out_dim]
    exp = (bits - 1) - _frexp_exponent(w.abs().amax(dim=dims)).double()
    shape = [1] * w.dim()
    shape[out_dim] = -1
    limit = float((1 << (bits - 1)) - 1)
    q = torch.round(w * torch.exp2(exp).view(shape)).clamp_(-limit, limit)
    return q, exp


def int_products(x: Tensor, w: Tensor) -> Tensor:
    """int32 (n, m) = x (n, K) int8 @ w (K, m) int8, exact (see the module docstring)."""
    if hasattr(torch, "_int_mm"):
        return torch._int_mm(x, w)
    return torch.round(x.float() @ w.float()).to(torch.int32)  # integer sums below 2**24: exact


def combine_digit_products(products: Tensor, in_digits: int, scale: Tensor, offset: Tensor) -> Tensor:
    """``scale · Σ_ij 128**(i+j) P[i, :, j, :] + offset`` (float64 (n, m)) of digit products ``products`` (int32
    (in_digits, n, 2, m): two weight digits), ``scale`` a power of two and ``offset`` a dyadic number per column
    (1, m).

    The two weight digits of each activation digit are combined in int32 (|P| ≤ 64 · 64 · 2048 = 2**23, so
    |P_i0 + 128 · P_i1| < 2**31); each of those times its power of two is exact, and so is every partial sum (a
    dyadic number of fewer than 53 bits: the accumulators are integers below 2**45), so the result is the exact
    value, whatever the hardware (a fused multiply-add gives the same: its product is exact)."""
    out = offset
    for i in range(in_digits - 1, -1, -1):
        pair = torch.add(products[i, :, 0], products[i, :, 1], alpha=DIGIT_BASE)
        out = torch.addcmul(out, pair, scale * float(DIGIT_BASE**i)) if i == in_digits - 1 else \
            out.addcmul_(pair, scale * float(DIGIT_BASE**i))
    return out


def weight_digit_matrix(weight: Tensor) -> Tensor:
    """(K, 2·m) int8 digits of integer weights (m, K): digit j of output c in column j·m + c."""
    return to_digits(weight, WEIGHT_DIGITS).permute(2, 0, 1).reshape(weight.shape[1], -1).contiguous()


class ExactConv(nn.Module):
    """A Conv2d (stride 1) or a stride-2 ConvTranspose2d on integer activations of ``in_digits`` digits.

    Inputs are digit planes (d, H + 2·halo + 1, W + 2·halo, C_in) — digits, then positions, channels last — zero
    outside the image (one spare row at the bottom: the flat views of the last row read past it).
    :meth:`accumulate` returns one phase's exact accumulators for a band of input rows, scaled.

    A layer of many outputs gathers its inputs (one row of taps · C_in per position) and runs one product per
    phase; a layer of few outputs (the last, to RGB) multiplies every input position by every tap's weights and
    adds the shifted products, which avoids gathering a large input 25 times.
    """

    def __init__(self, module: nn.Conv2d | nn.ConvTranspose2d, in_digits: int, in_frac_bits: int) -> None:
        super().__init__()
        transposed = isinstance(module, nn.ConvTranspose2d)
        k, pad = module.kernel_size[0], module.padding[0]
        if module.kernel_size[0] != module.kernel_size[1] or module.groups != 1 or module.dilation[0] != 1:
            raise ValueError("exact convolution: square kernels without groups or dilation only")
        q, exp = quantize_per_channel(module.weight, WEIGHT_DIGITS * DIGIT_BITS, 1 if transposed else 0)
        if transposed:
            if module.stride[0] != 2 or module.output_padding[0] != 1:
                raise ValueError("exact convolution: transposed convolutions of stride 2 that double the size only")
            q = q.permute(1, 0, 2, 3)  # (C_out, C_in, k, k); tap (ky, kx) of input i lands on output 2i - pad + ky
        elif module.stride[0] != 1:
            raise ValueError("exact convolution: stride-1 convolutions only")
        self.stride_up = 2 if transposed else 1
        self.in_frac_bits = in_frac_bits
        self.out_channels, self.in_channels = q.shape[0], q.shape[1]
        self.scatter = transposed and self.out_channels < 16  # e.g. the last layer, to RGB
        bias = (module.bias.detach().double() if module.bias is not None
                else torch.zeros(q.shape[0], dtype=torch.float64))
        self.register_buffer("bias", torch.round(bias * torch.exp2(exp + in_frac_bits)).view(1, -1))
        self.register_buffer("real_scale", torch.exp2(-(exp + in_frac_bits)).view(1, -1))
        self.phases: list[tuple[int, int, list[tuple[int, int]]]] = []  # (row parity, column parity, taps (dy, dx))
        self.halo = 0
        self.phase_weights: list[Tensor] = []  # gather form: digit matrices (taps · C_in, 2 · C_out)
        tap_weights = []
        most_terms = 0
        parities = (0, 1) if transposed else (0,)
        for r in parities:
            for s in parities:
                taps, columns = [], []
                for ky in range(k):
                    for kx in range(k):
                        if transposed:
                            if (r + pad - ky) % 2 or (s + pad - kx) % 2:
                                continue
                            dy, dx = (r + pad - ky) // 2, (s + pad - kx) // 2
                        else:
                            dy, dx = ky - pad, kx - pad
                        taps.append((dy, dx))
                        columns.append(q[:, :, ky, kx])
                        self.halo = max(self.halo, abs(dy), abs(dx))
                most_terms = max(most_terms, len(taps) * self.in_channels)
                if most_terms > MAX_TERMS:
                    raise ValueError("exact convolution: more than 2048 terms per output")
                if not self.scatter:  # (C_out, taps · C_in), tap-major like the gathered columns
                    self.phase_weights.append(weight_digit_matrix(torch.cat(columns, dim=1)))
                tap_weights.extend(columns)
                self.phases.append((r, s, taps))
        if self.scatter:  # every tap's integer weights stacked: (taps · C_out, C_in), float64
            self.tap_weight = torch.cat(tap_weights, dim=0).contiguous()
        bound = digit_limit(in_digits) * WEIGHT_LIMIT * most_terms
        if bound + float(self.bias.abs().max()) >= EXACT_LIMIT:
            raise ValueError("exact convolution could exceed 2**53")

    def tap_products(self, planes: Tensor, start: int, stop: int) -> Tensor:
        """Scatter form: every tap's products (float64 (taps, C_out, n')) for the padded rows a band of input rows
        [start, stop) reads. A scatter layer (few outputs) takes its input as whole integers (int16 or int32),
        channel-major ((C_in, 1, H', W') behind a (1, H', W', C_in) view), and multiplies them by the 14-bit weights
        in one float64 product: |sum| ≤ 128 · 2**13 · 2**13 · 9 taps < 2**37, exact in any order (snapped to
        integers all the same), and every tap's shifted range of positions is contiguous."""
        channel_major = planes.permute(3, 0, 1, 2)[:, 0]
        rows = channel_major[:, start : stop + 2 * self.halo + 1].reshape(channel_major.shape[0], -1).double()
        return torch.mm(self.tap_weight, rows).round_().view(-1, self.out_channels, rows.shape[1])

    def accumulate(self, digits: Tensor, index: int, start: int, stop: int, scale: Tensor, offset: Tensor,
                   taps_done: Tensor | None = None) -> Tensor:
        """``(accumulator + bias) · scale + offset`` (float64 ((stop - start) · W_padded, C_out), exact; ``scale`` a
        power of two and ``offset`` dyadic, per output channel) of phase ``index`` for input rows [start, stop) of
        the padded digit planes; the last 2·halo columns of each row are not outputs. ``taps_done``: the band's
        :meth:`tap_products` (scatter form)."""
        d, _, wp, c = digits.shape  # d is 1 for a scatter layer's whole-integer planes
        h = self.halo
        n = (stop - start) * wp
        taps = self.phases[index][2]
        if self.scatter:
            first = sum(len(p[2]) for p in self.phases[:index])
            acc = None
            for t, (dy, dx) in enumerate(taps):
                shift = (h + dy) * wp + h + dx
                part = taps_done[first + t, :, shift : shift + n]  # (C_out, n)
                acc = part.clone() if acc is None else acc.add_(part)
            return acc.add_(self.bias.T).mul_(scale.T).add_(offset.T).T.contiguous()  # exact: dyadic, < 2**53
        else:
            flat = digits.view(d, -1, c)
            views = [flat[:, (h + dy + start) * wp + h + dx :][:, :n] for dy, dx in taps]
            gathered = torch.cat(views, dim=-1).view(d * n, -1)  # (d · n, taps · C_in), positions × taps
            products = int_products(gathered, self.phase_weights[index]).view(d, n, WEIGHT_DIGITS, self.out_channels)
        return combine_digit_products(products, d, scale, self.bias * scale + offset)


class ExactInverseGDN(nn.Module):
    """IGDN ``x · sqrt(β + Σ_j γ_ij x_j²)`` (see the module docstring): x² on a 2**-square_frac_bits grid (clamped to
    2**31), γ as 14-bit integers with a power-of-two scale per row, their sum in float64 (integers below 2**53:
    exact in any order), then one correctly rounded square root and product."""

    def __init__(self, gdn: nn.Module, square_frac_bits: int) -> None:
        super().__init__()
        with torch.no_grad():
            beta = gdn.beta_reparam(gdn.beta).double()
            gamma = gdn.gamma_reparam(gdn.gamma).double().clamp_min(0.0)
        channels = beta.numel()
        gamma = gamma.reshape(channels, channels)
        self.square_frac_bits = square_frac_bits
        _, exp = quantize_per_channel(gamma, GAMMA_BITS + 1, 0)  # γ ≥ 0: 14 magnitude bits
        # cap the exponent so that β stays below 2**51 on its grid (a row of γ ≈ 0 would otherwise blow it up)
        exp = torch.minimum(exp, (51 - square_frac_bits) - _frexp_exponent(beta).double())
        q = torch.round(gamma * torch.exp2(exp)[:, None])
        self.register_buffer("gamma_t", q.T.contiguous())  # (C_in, C_out): positions × channels products
        self.register_buffer("beta", torch.round(beta * torch.exp2(exp + square_frac_bits)).view(1, -1))
        self.register_buffer("norm_scale", torch.exp2(-(exp + square_frac_bits)).view(1, -1))
        if SQUARE_LIMIT * float(q.sum(dim=1).max()) + float(self.beta.max()) >= EXACT_LIMIT:
            raise ValueError("exact IGDN could exceed 2**53")

    def forward(self, x: Tensor, out_frac_bits: int, limit: float) -> Tensor:
        """x: (n, C) real inputs (float64, exact dyadic values) → integers on the 2**-out_frac_bits grid, clamped
        to ±limit."""
        square = (x * x).mul_(float(1 << self.square_frac_bits)).add_(0.5).floor_().clamp_(max=SQUARE_LIMIT)
        # the sum is an integer below 2**53; snapping it absorbs any last-bit noise an inexact product might add
        norm = torch.mm(square, self.gamma_t).round_().add_(self.beta)
        # sqrt(norm · 2**-e) · 2**f = sqrt(norm · 2**(2f - e)): the output grid folded into the scale (scaling by
        # powers of two commutes with correct rounding, so the result is the same bit for bit)
        norm.mul_(self.norm_scale * float(1 << (2 * out_frac_bits)))
        return norm.sqrt_().mul_(x).add_(0.5).floor_().clamp_(-limit, limit)


def store(planes: Tensor, rows: slice, cols: slice, values: Tensor, digits: int) -> None:
    """Write integer activations (h, w, C) into a layer's input planes: as digits, or as whole integers for a
    scatter layer (int16 or int32 planes)."""
    if planes.dtype != torch.int8:
        planes[0, rows, cols] = values
    else:
        to_digits(values, digits, planes[:, rows, cols])


def input_planes(layer: ExactConv, grid: tuple[int, int], values: Tensor) -> Tensor:
    """``layer``'s input planes holding exactly representable ``values`` (1, C, h, w) rounded half up to ``grid``
    (digits, fractional bits) and clamped to its range."""
    digits, frac = grid
    _, _, height, width = values.shape
    planes = ExactSynthesis._planes(layer, digits, height, width)
    a = torch.floor(values[0].permute(1, 2, 0).double().mul_(float(1 << frac)).add_(0.5))
    halo = layer.halo
    store(planes, slice(halo, halo + height), slice(halo, halo + width),
          a.clamp_(-digit_limit(digits), digit_limit(digits)), digits)
    return planes


class ExactSynthesis(nn.Module):
    """The integer twin of a synthesis ``nn.Sequential`` of convolutions, each optionally followed by an inverse GDN.

    ``grids`` gives (digits, fractional bits) of each convolution's input; the first is the latent's grid.
    ``square_frac_bits`` gives the grid of x² in each inverse GDN, in order. ``forward`` maps a float latent
    (1, C, h, w) of exactly representable values (e.g. symbols plus exact means) to uint8 pixels (1, C_out, H, W).
    """

    def __init__(self, seq: nn.Sequential, grids: list[tuple[int, int]], square_frac_bits: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.norms: list[ExactInverseGDN | None] = []
        squares = list(square_frac_bits)
        for i, module in enumerate(seq):
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                if len(self.layers) >= len(grids):
                    raise ValueError("one grid per convolution")
                self.layers.append(ExactConv(module, *grids[len(self.layers)]))
                self.norms.append(None)
            elif getattr(module, "inverse", False) and self.layers and self.norms[-1] is None and squares:
                self.norms[-1] = ExactInverseGDN(module, squares.pop(0))
            else:
                raise ValueError(f"synthesis layer {i}: {type(module).__name__} has no exact form here")
        if len(self.layers) != len(grids) or self.norms[-1] is not None or squares:
            raise ValueError("one grid per convolution, one square grid per inverse GDN, and a convolution last")
        self._norm_modules = nn.ModuleList(n for n in self.norms if n is not None)
        self.grids = list(grids)

    @staticmethod
    def _planes(layer: ExactConv, digits: int, height: int, width: int) -> Tensor:
        """Digit planes (d, H + 2·halo + 1, W + 2·halo, C) for ``layer``'s input, zero outside the H × W interior
        (which the caller fills); channel-major underneath for a scatter layer (see :meth:`ExactConv.tap_products`)."""
        halo, channels = layer.halo, layer.in_channels
        if layer.scatter:  # whole integers (int16 up to 2 digits' range), channel-major
            planes = torch.empty(channels, 1, height + 2 * halo + 1, width + 2 * halo,
                                 dtype=torch.int16 if digits <= 2 else torch.int32).permute(1, 2, 3, 0)
        else:
            planes = torch.empty(digits, height + 2 * halo + 1, width + 2 * halo, channels, dtype=torch.int8)
        planes[:, :halo].zero_()
        planes[:, halo + height :].zero_()
        planes[:, :, :halo].zero_()
        planes[:, :, halo + width :].zero_()
        return planes

    def _stage(self, index: int) -> tuple[Tensor, Tensor]:
        """(scale, offset) of layer ``index``'s accumulators for the step after it: the real value for an inverse
        GDN or the pixels, the next grid plus ½ (to round by flooring) otherwise."""
        layer = self.layers[index]
        if index == len(self.layers) - 1 or self.norms[index] is not None:
            return layer.real_scale, torch.zeros_like(layer.real_scale)
        frac = self.grids[index + 1][1]
        return layer.real_scale * float(1 << frac), torch.full_like(layer.real_scale, 0.5)

    def _finish(self, index: int, value: Tensor) -> Tensor:
        """Layer ``index``'s scaled accumulators (n, C) (see :meth:`_stage`) → the next layer's integer
        activations (n, C)."""
        norm = self.norms[index]
        digits, frac = self.grids[index + 1]
        limit = digit_limit(digits)
        if norm is None:
            return value.floor_().clamp_(-limit, limit)  # floor(v · 2**f + ½): round half up, exact
        return norm(value, frac, limit)

    @torch.no_grad()
    def forward(self, latent: Tensor) -> Tensor:
        _, _, height, width = latent.shape
        halo = self.layers[0].halo
        planes = input_planes(self.layers[0], self.grids[0], latent)
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            up = layer.stride_up
            out_h, out_w = height * up, width * up
            scale, offset = self._stage(index)
            if index == last:
                out = torch.empty(layer.out_channels, out_h, out_w, dtype=torch.uint8)
                out_halo = 0
            else:
                out_digits = self.grids[index + 1][0]
                out_halo = self.layers[index + 1].halo
                out = self._planes(self.layers[index + 1], out_digits, out_h, out_w)
            wp = width + 2 * halo
            band = max(1, BAND_POSITIONS // wp)
            for start in range(0, height, band):
                stop = min(start + band, height)
                taps_done = layer.tap_products(planes, start, stop) if layer.scatter else None
                for p, (r, s, _) in enumerate(layer.phases):
                    value = layer.accumulate(planes, p, start, stop, scale, offset, taps_done)
                    rows = slice(out_halo + up * start + r, out_halo + up * stop, up)
                    cols = slice(out_halo + s, out_halo + out_w, up)
                    if index == last:
                        pixels = value.clamp_(0.0, 1.0).mul_(255.0).round_()
                        out[:, rows, cols] = pixels.view(stop - start, wp, -1)[:, :width].permute(2, 0, 1)
                    else:
                        a = self._finish(index, value).view(stop - start, wp, -1)[:, :width]
                        store(out, rows, cols, a, out_digits)
            planes, height, width, halo = out, out_h, out_w, out_halo
        return planes[None]


def _whole(layer: ExactConv, planes: Tensor, height: int, width: int, scale: Tensor, offset: Tensor) -> Tensor:
    """A stride-1 gather layer over all rows at once (a small latent grid): scaled values (H, W, C_out)."""
    if layer.scatter or layer.stride_up != 1:
        raise ValueError("whole-grid layers are stride-1 gather layers")
    wp = width + 2 * layer.halo
    return layer.accumulate(planes, 0, 0, height, scale, offset).view(height, wp, -1)[:, :width]


class ExactResidualDecoder(nn.Module):
    """The integer twin of a stride-1 decoder on the latent grid: a convolution, then residual blocks
    ``x + conv(LeakyReLU(conv(x)))`` (the ``vq`` family's ``from_code``). Returns exact real values (float64) for an
    :class:`ExactSynthesis` to take on its own grid.

    ``grids``: (digits, fractional bits) of the input, of the residual stream x and of each block's inner
    activation. The LeakyReLU is one IEEE float64 product of the exact value (its slope need not be a power of two),
    then rounding to the inner grid; the skip sum is exact (integers on x's grid).
    """

    def __init__(self, seq: nn.Sequential, grids: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]) -> None:
        super().__init__()
        (in_digits, in_frac), (x_digits, x_frac), (inner_digits, inner_frac) = grids
        self.grids = grids
        first, *blocks = list(seq)
        if not isinstance(first, nn.Conv2d) or not all(hasattr(b, "body") for b in blocks):
            raise ValueError("exact residual decoder: a convolution, then residual blocks")
        self.first = ExactConv(first, in_digits, in_frac)
        self.blocks = nn.ModuleList()
        self.slopes: list[float] = []
        for block in blocks:
            conv_a, act, conv_b = list(block.body)
            if not isinstance(act, nn.LeakyReLU):
                raise ValueError("exact residual decoder: blocks of conv, LeakyReLU, conv")
            self.blocks.append(nn.ModuleList([ExactConv(conv_a, x_digits, x_frac),
                                              ExactConv(conv_b, inner_digits, inner_frac)]))
            self.slopes.append(float(act.negative_slope))

    @torch.no_grad()
    def forward(self, vectors: Tensor) -> Tensor:
        _, (x_digits, x_frac), (inner_digits, inner_frac) = self.grids
        _, _, h, w = vectors.shape
        planes = input_planes(self.first, self.grids[0], vectors)
        x_limit, inner_limit = digit_limit(x_digits), digit_limit(inner_digits)
        to_x = self.first.real_scale * float(1 << x_frac)
        x = _whole(self.first, planes, h, w, to_x, torch.full_like(to_x, 0.5)).floor_().clamp_(-x_limit, x_limit)
        for (conv_a, conv_b), slope in zip(self.blocks, self.slopes, strict=True):
            planes = ExactSynthesis._planes(conv_a, x_digits, h, w)
            store(planes, slice(1, 1 + h), slice(1, 1 + w), x, x_digits)
            value = _whole(conv_a, planes, h, w, conv_a.real_scale, torch.zeros_like(conv_a.real_scale))
            value = torch.where(value < 0, value * slope, value)  # one IEEE product: the same everywhere
            inner = value.mul_(float(1 << inner_frac)).add_(0.5).floor_().clamp_(-inner_limit, inner_limit)
            planes = ExactSynthesis._planes(conv_b, inner_digits, h, w)
            store(planes, slice(1, 1 + h), slice(1, 1 + w), inner, inner_digits)
            to_x = conv_b.real_scale * float(1 << x_frac)
            body = _whole(conv_b, planes, h, w, to_x, torch.full_like(to_x, 0.5))  # on x's grid, + ½
            x = body.add_(x).floor_().clamp_(-x_limit, x_limit)  # round(x + body) on x's grid: exact
        return x.mul_(1.0 / (1 << x_frac)).permute(2, 0, 1)[None]
