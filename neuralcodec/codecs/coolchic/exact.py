"""The integer twin of the overfitted image codec's networks: what the decoder runs, exact on every machine.

Weights are integers ``q`` standing for ``q · 2^-k`` and biases integers ``b`` standing for ``b · 2^-kb`` (one
weight and one bias exponent per layer, ``kb`` at most FRAC_BITS), activations integers in units of
``2^-FRAC_BITS``. Every layer multiplies and sums integers in float64: each product and partial sum is an
integer below 2**53 (every activation, the latents entering a network and the entropy model's outputs included,
is clamped to ±2**ACT_BITS units; weights to ±2**WEIGHT_BITS; a layer has at most MAX_FAN_IN inputs:
2**23 · 2**21 · 2**8 = 2**52), so the result is exact whatever the summation order, BLAS, thread count or
instruction set; each product is also snapped to the nearest integer, which undoes a few ULPs of noise an inexact
BLAS could add. The sum is then rounded back to the activation grid (half up).
The outputs that choose probability tables (a mean to 1/16 and a scale index) are derived from integers by
integer rules, and the decoded pixel is ``round(255 · value)`` computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.coolchic.net import LOG_SCALE_SHIFT

FRAC_BITS = 12  # activations and biases: units of 2**-12
ACT_BITS = 23  # |activation| ≤ 2**23 units (± 2048)
WEIGHT_BITS = 21  # |q| ≤ 2**21
MAX_FAN_IN = 256
EXP_RANGE = (0, 16)  # weight exponents k: steps 1 … 2**-16
_ACT_LIMIT = float(1 << ACT_BITS)
_UNIT = float(1 << FRAC_BITS)


@dataclass
class QuantizedModule:
    """One module's integer parameters, per layer: weights (units of 2**-exponents[layer]) and biases (units of
    2**-bias_exponents[layer])."""

    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    exponents: dict[str, int]
    bias_exponents: dict[str, int]

    def bias_units(self, name: str) -> np.ndarray:
        """A layer's bias in accumulator units (2**-(FRAC_BITS + k)): exact, a power-of-two multiple."""
        shift = FRAC_BITS + self.exponents[name] - self.bias_exponents[name]
        return self.biases[name].astype(np.float64) * float(1 << shift)


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """``round(acc / 2**shift)``, halves up, for integer-valued float64 (exact: a power-of-two division and
    a floor)."""
    if shift <= 0:
        return acc * float(1 << -shift)
    return np.floor((acc + float(1 << (shift - 1))) / float(1 << shift))


def clamp(x: np.ndarray) -> np.ndarray:
    """Clamp activations to ±2**ACT_BITS units, in place (two ufuncs: cheaper than np.clip per wavefront)."""
    np.minimum(x, _ACT_LIMIT, out=x)
    return np.maximum(x, -_ACT_LIMIT, out=x)


# Every matrix product of integer-valued float64 goes through these two (tests wrap them with last-bit noise, as
# another BLAS might give): each result is snapped to the nearest integer, which it already is when the sum is
# exact, and which undoes up to ±4 ULPs of noise on sums below 2**48.
numpy_products = np.matmul
torch_products = torch.matmul


def _exact_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.rint(numpy_products(a, b))


def _exact_torch(a: Tensor, b: Tensor) -> Tensor:
    return torch_products(a, b).round_()


class ExactEntropyModel:
    """The auto-regressive model on integers: context latents → (integer mean, phase, scale index).

    Called once per wavefront while decoding (thousands of small batches), so the weights are prepared once and
    each step works in place: products snapped to integers, then :func:`round_shift` and :func:`clamp`."""

    def __init__(self, module: QuantizedModule, layers: int) -> None:
        # per layer: (in, out) float64 weights, the bias in accumulator units, and the weight exponent
        names = [f"hidden.{i}" for i in range(layers)]
        self.hidden = [self._prepare(module, name) for name in names]
        self.out = self._prepare(module, "out")

    @staticmethod
    def _prepare(module: QuantizedModule, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        w = np.ascontiguousarray(module.weights[name].T, dtype=np.float64)
        return w, module.bias_units(name), module.exponents[name]

    @staticmethod
    def _layer(h: np.ndarray, w: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        acc = _exact_np(h, w)
        acc += b
        if k > 0:
            acc += float(1 << (k - 1))
            acc *= 2.0**-k  # exact: a power of two
            np.floor(acc, out=acc)
        return acc

    def __call__(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, C) integer latents → int64 means (integer part), phases (0…15) and scale indexes."""
        h = context.astype(np.float64)
        h *= _UNIT
        clamp(h)
        for w, b, k in self.hidden:
            y = self._layer(h, w, b, k)
            y += h
            np.maximum(y, 0.0, out=y)
            h = clamp(y)
        out = clamp(self._layer(h, *self.out))
        # mean to the nearest 1/16: m16 = round(mean · 16); scale index j = round(8 · (log scale + shift))
        m16 = np.floor((out[:, 0] + float(1 << (FRAC_BITS - 5))) * 2.0 ** (4 - FRAC_BITS)).astype(np.int64)
        shifted = out[:, 1] * 8.0 + (float(8 * LOG_SCALE_SHIFT) * _UNIT + _UNIT / 2)
        j = np.floor(shifted * (1.0 / _UNIT)).astype(np.int64)
        return m16 >> 4, m16 & 15, j


def upsample2(x: np.ndarray, taps: np.ndarray, exponent: int, height: int, width: int) -> np.ndarray:
    """(C, h, w) activations → (C, height, width): the float model's 8-tap transposed convolution (stride 2,
    edges replicated), as two polyphase passes of 4 taps, each rounded back to the activation grid."""
    k = np.concatenate([taps, taps[::-1]]).astype(np.float64)
    for axis, size in ((1, height), (2, width)):
        n = x.shape[axis]
        xp = np.concatenate([np.take(x, [0], axis)] * 2 + [x] + [np.take(x, [n - 1], axis)] * 2, axis=axis)
        # output 2p + r of the kept range = Σ_t k[2t + 1 - r] · xp[p + 3 + r - t]
        phases = []
        for r in (0, 1):
            acc = sum(k[2 * t + 1 - r] * np.take(xp, np.arange(3 + r - t, 3 + r - t + n), axis) for t in range(4))
            phases.append(round_shift(acc, exponent))
        both = np.stack(phases, axis=axis + 1)
        shape = list(x.shape)
        shape[axis] = 2 * n
        x = clamp(both.reshape(shape))
        x = np.take(x, np.arange(size), axis)
    return x


def upsample(grids: list[np.ndarray], module: QuantizedModule) -> np.ndarray:
    """Integer latent grids (finest first) → (levels, H, W) activations."""
    taps = module.weights["taps"]
    x = clamp(grids[-1][None].astype(np.float64) * _UNIT)
    for i in range(len(grids) - 2, -1, -1):
        target = grids[i]
        x = upsample2(x, taps[i], module.exponents["taps"], *target.shape)
        x = np.concatenate([clamp(target[None].astype(np.float64) * _UNIT), x])
    return x


def _round_shift_(acc: Tensor, shift: int) -> Tensor:
    """In-place :func:`round_shift` of a float64 tensor."""
    return acc.add_(float(1 << (shift - 1))).mul_(2.0**-shift).floor_() if shift > 0 else acc.mul_(float(1 << -shift))


def _pointwise(x: Tensor, module: QuantizedModule, name: str, relu: bool) -> Tensor:
    """(in, P) → (out, P) channel-major 1×1 layer on the activation grid (in place after the product)."""
    q, exponent = module.weights[name], module.exponents[name]
    w = torch.from_numpy(q.reshape(q.shape[0], -1).astype(np.float64))
    acc = _exact_torch(w, x)
    acc.add_(torch.from_numpy(module.bias_units(name))[:, None])
    _round_shift_(acc, exponent)
    if relu:
        acc.clamp_(min=0.0)
    return acc.clamp_(-_ACT_LIMIT, _ACT_LIMIT)


def synthesize(features: np.ndarray, module: QuantizedModule, residual: int, band: int = 64) -> np.ndarray:
    """(levels, H, W) activations → uint8 (3, H, W) pixels, computed in bands of ``band`` rows (each with the
    rows its 3×3 layers reach) so that memory stays bounded."""
    c, height, width = features.shape
    feats = torch.from_numpy(features)
    halo = residual
    out = np.empty((3, height, width), dtype=np.uint8)
    for top in range(0, height, band):
        lo, hi = max(0, top - halo), min(height, top + band + halo)
        x = feats[:, lo:hi].reshape(c, -1)
        x = _pointwise(x, module, "in", relu=True)
        img = _pointwise(x, module, "out", relu=False).view(3, hi - lo, width)
        for i in range(residual):
            p = _pad_edges(img, lo == 0, hi == height)
            rows = p.shape[1] - 2
            w = module.weights[f"residual.{i}"].reshape(3, 3, 9).astype(np.float64)
            acc = torch.zeros(3, rows * width, dtype=torch.float64)
            for tap in range(9):
                dy, dx = divmod(tap, 3)
                acc += _exact_torch(torch.from_numpy(np.ascontiguousarray(w[:, :, tap])),
                                    p[:, dy : dy + rows, dx : dx + width].reshape(3, -1))
            acc.add_(torch.from_numpy(module.bias_units(f"residual.{i}"))[:, None])
            _round_shift_(acc, module.exponents[f"residual.{i}"])
            if i < residual - 1:
                acc.clamp_(min=0.0)
            # an inner band edge has halo rows instead of replicated ones, and loses one per 3×3 layer
            cut_top, cut_bottom = int(lo > 0), int(hi < height)
            img = img[:, cut_top : img.shape[1] - cut_bottom] + acc.view(3, rows, width)
            img.clamp_(-_ACT_LIMIT, _ACT_LIMIT)
            lo, hi = lo + cut_top, hi - cut_bottom
        pixels = img.mul_(255.0).add_(_UNIT / 2).mul_(1.0 / _UNIT).floor_().clamp_(0, 255)
        keep_top = top - lo
        out[:, top : min(height, top + band)] = pixels[:, keep_top : keep_top + min(band, height - top)].to(
            torch.uint8).numpy()
    return out


def _pad_edges(img: Tensor, at_top: bool, at_bottom: bool) -> Tensor:
    """Replicate one column each side, and one row at the image's top/bottom edge (inner band edges have their
    halo rows instead, and lose one row per 3×3 layer)."""
    rows = [img[:, :1]] * at_top + [img] + [img[:, -1:]] * at_bottom
    img = torch.cat(rows, dim=1) if at_top or at_bottom else img
    return torch.cat([img[:, :, :1], img, img[:, :, -1:]], dim=2)
