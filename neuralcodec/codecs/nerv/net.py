"""NeRV with a conditional decoder: the network a ``nerv`` bitstream stores (training form, float32).

A clip of T frames is represented by a network that maps a frame index to that frame:

    frame index k → time embedding e(k) → MLP → hidden h(k)
                 → linear stem → C₀ × h₀ × w₀ feature grid
                 → blocks: 3×3 convolution → pixel shuffle ×2 → LeakyReLU → x · γᵢ(h) + βᵢ(h)
                 → 1×1 head → RGB frame (values 0…1), cropped to the clip's size

Where it follows the papers:

- NeRV (Chen et al., NeurIPS 2021): frame-index input through a positional encoding, an MLP whose last layer
  produces a small feature grid, then upsampling blocks of a 3×3 convolution and a pixel shuffle; the weights
  are the bitstream (quantized, then entropy coded).
- "Boosting Neural Representations for Videos with a Conditional Decoder" (Zhang et al., CVPR 2024): the
  temporal-aware affine transform — every block's features are scaled and shifted per channel by γ and β
  computed from the frame's time features, so that the shared decoder is conditioned on the frame.

Where it departs, and why:

- the time embedding is made of triangle waves at integer frequencies with period 2T, rounded to 2⁻¹⁶
  (:func:`time_embedding`), not sin/cos at frequencies 1.25ⁱ·π: it is computed with integers, so the decoder
  derives exactly the encoder's input on every machine;
- LeakyReLU with slope 2⁻⁷ instead of GELU, because it has an exact integer form
  (:mod:`neuralcodec.codecs.stages.fixed_point`): the decoder runs this network in exact fixed point;
- MSE loss (PSNR is what is reported), and a quantization-aware last phase with a rate term (bits of the
  weights) instead of post-training pruning and Huffman coding;
- weights are quantized per output channel to at most 8 bits with a power-of-two step (the fixed-point
  layers' form) instead of a float scale per tensor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import torch
from torch import Tensor, nn
from torch.nn.functional import leaky_relu, pixel_shuffle

from neuralcodec.codecs.nerv.qualities import QUALITIES

LEAKY_SLOPE = 2.0**-7  # fixed_point.LEAKY_SHIFT
EMBED_FRAC_BITS = 16  # the time embedding's grid: multiples of 2**-16
EXP_RANGE = (-8, 20)  # power-of-two step exponents a weight group may use (stored as int8)
MAX_PARAMETERS = 1 << 24  # the format's limit (checked by the decoder before anything is allocated)
GAMMA_LIMIT = 16.0  # |γ| of the affine modulation (keeps the decoder's products exact in float64)


@dataclass(frozen=True)
class NervArch:
    """Everything the decoder needs to rebuild the network (stored in the bitstream's ``model`` stream)."""

    height: int  # the clip's frame size and length
    width: int
    frames: int
    blocks: int  # ×2 upsampling blocks: the stem grid is the frame padded to a multiple of 2**blocks, / 2**blocks
    hidden: int  # MLP width
    stem_channels: int
    channels: tuple[int, ...]  # output channels of each block
    frequencies: tuple[int, ...]  # of the time embedding's triangle waves
    weight_bits: int  # quantized weights are integers in ±(2**(bits-1) - 1)

    def __post_init__(self) -> None:
        if len(self.channels) != self.blocks or self.blocks < 1:
            raise ValueError("one channel count per block")
        if not 2 <= self.weight_bits <= 8:
            raise ValueError("weight bits must be 2…8")

    @property
    def stride(self) -> int:
        return 1 << self.blocks

    @property
    def grid(self) -> tuple[int, int]:
        """(h₀, w₀) of the stem's feature grid."""
        return -(-self.height // self.stride), -(-self.width // self.stride)

    @property
    def embed_dim(self) -> int:
        return 2 * len(self.frequencies)

    def to_dict(self) -> dict:
        return asdict(self)


def default_frequencies(frames: int, count: int = 12) -> tuple[int, ...]:
    """Integer frequencies, roughly geometric from 1 to ``frames`` (distinct, ascending)."""
    top = max(frames, 1)
    return tuple(sorted({max(1, round(top ** (i / max(count - 1, 1)))) for i in range(count)}))


def time_embedding(index: int, frames: int, frequencies: tuple[int, ...]) -> list[int]:
    """The exact time embedding of frame ``index`` as integers (units of 2**-16): for each frequency f, the
    triangle waves tri(p) and tri(p + 1/4) of the phase p = f·index / (2·frames) — sin- and cos-like, in
    [-1, 1]. Integer and rational arithmetic only: the same on every machine."""
    period = 2 * frames
    out = []
    for f in frequencies:
        for quarter in (0, 1):
            phase = Fraction((f * index) % period, period) + Fraction(quarter, 4)
            phase -= math.floor(phase)
            # tri: 0 → 0, 1/4 → 1, 3/4 → -1, 1 → 0 (linear in between)
            value = 4 * phase if phase < Fraction(1, 4) else 2 - 4 * phase if phase < Fraction(3, 4) else 4 * phase - 4
            out.append(math.floor(value * (1 << EMBED_FRAC_BITS) + Fraction(1, 2)))
    return out


def embedding_table(arch: NervArch) -> Tensor:
    """(frames, embed_dim) float32 table of every frame's embedding (exact: multiples of 2**-16 in [-1, 1])."""
    rows = [time_embedding(k, arch.frames, arch.frequencies) for k in range(arch.frames)]
    return torch.tensor(rows, dtype=torch.float64).div(1 << EMBED_FRAC_BITS).float()


BIAS_BITS = 8  # biases: integers in ±127 with one power-of-two step per layer


def quantization_exponents(weight: Tensor, bits: int, groups: int) -> Tensor:
    """Exponent e per group of output rows (step 2**-e) such that the group's peak fits ±(2**(bits-1) - 1)."""
    peak = weight.detach().abs().reshape(groups, -1).amax(1).clamp_min(1e-30)
    qmax = (1 << (bits - 1)) - 1
    return torch.floor(torch.log2(qmax / peak)).clamp(*EXP_RANGE)


def _row_scale(exp: Tensor, weight: Tensor) -> Tensor:
    """2**exp of each group, broadcast over the weight's rows (groups are runs of consecutive rows)."""
    rows = exp.repeat_interleave(weight.shape[0] // exp.numel())
    return torch.exp2(rows).view(-1, *[1] * (weight.dim() - 1))


def quantize_weight(weight: Tensor, bits: int, groups: int) -> tuple[Tensor, Tensor]:
    """Integer weights (int64, the weight's shape) and per-group exponents (int64)."""
    exp = quantization_exponents(weight, bits, groups)
    qmax = (1 << (bits - 1)) - 1
    q = torch.round(weight.detach().double() * _row_scale(exp, weight).double()).clamp(-qmax, qmax)
    return q.long(), exp.long()


def quantize_bias(bias: Tensor) -> tuple[Tensor, Tensor]:
    """Integer biases (int64) and the layer's one exponent (int64, shape (1,))."""
    return quantize_weight(bias.view(1, -1), BIAS_BITS, 1)[0].view(-1), quantization_exponents(
        bias.view(1, -1), BIAS_BITS, 1).long()


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001 - autograd signature
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        return grad


def fake_quantize(weight: Tensor, bits: int, groups: int) -> tuple[Tensor, Tensor]:
    """(dequantized weight, integer weight) with straight-through rounding: what quantization-aware fitting
    trains through. The integers carry gradients for the rate term."""
    exp = quantization_exponents(weight, bits, groups)
    qmax = (1 << (bits - 1)) - 1
    scale = _row_scale(exp, weight)
    q = _RoundSTE.apply(weight * scale).clamp(-qmax, qmax)
    return q / scale, q


def laplace_bits(q: Tensor) -> Tensor:
    """A differentiable estimate of the bits of integer weights coded per output channel with a fitted
    discrete Laplacian: n · log₂(2e · (mean|q| + 1/4)) per channel (the +1/4 keeps near-zero channels finite)."""
    flat = q.flatten(1)
    mean_abs = flat.abs().mean(1) + 0.25
    return (flat.shape[1] * torch.log2(2 * math.e * mean_abs)).clamp_min(0).sum()


class NervNet(nn.Module):
    """The training network; :meth:`forward` maps frame indices to frames (float, 0…1)."""

    def __init__(self, arch: NervArch) -> None:
        super().__init__()
        self.arch = arch
        h0, w0 = arch.grid
        self.register_buffer("embedding", embedding_table(arch), persistent=False)
        self.mlp = nn.Linear(arch.embed_dim, arch.hidden)
        self.stem = nn.Linear(arch.hidden, arch.stem_channels * h0 * w0)
        ins = (arch.stem_channels, *arch.channels[:-1])
        self.convs = nn.ModuleList(nn.Conv2d(c_in, 4 * c_out, 3, padding=1)
                                   for c_in, c_out in zip(ins, arch.channels, strict=True))
        self.modulations = nn.ModuleList(nn.Linear(arch.hidden, 2 * c) for c in arch.channels)
        for mod, c in zip(self.modulations, arch.channels, strict=True):  # start as the identity: γ = 1, β = 0
            nn.init.zeros_(mod.weight)
            nn.init.constant_(mod.bias[:c], 1.0)
            nn.init.zeros_(mod.bias[c:])
        self.head = nn.Conv2d(arch.channels[-1], 3, 1)  # NeRV's 1×1 head
        nn.init.constant_(self.head.bias, 0.5)
        self.quantize_bits: int | None = None  # set: weights go through fake quantization (QAT)

    def layers(self) -> list[tuple[str, nn.Module]]:
        """Every weighted layer in bitstream order."""
        out = [("mlp", self.mlp), ("stem", self.stem)]
        for i, (conv, mod) in enumerate(zip(self.convs, self.modulations, strict=True)):
            out += [(f"convs.{i}", conv), (f"modulations.{i}", mod)]
        return [*out, ("head", self.head)]

    def groups(self, layer: nn.Module) -> int:
        """Quantization groups (one step exponent and one entropy table each) of a layer's weight: its output
        channels, except the stem's, whose rows are grouped by feature-grid channel."""
        return self.arch.stem_channels if layer is self.stem else layer.weight.shape[0]

    def _weight(self, layer: nn.Module) -> Tensor:
        if self.quantize_bits is None:
            return layer.weight
        return fake_quantize(layer.weight, self.quantize_bits, self.groups(layer))[0]

    def _bias(self, layer: nn.Module) -> Tensor:
        if self.quantize_bits is None:
            return layer.bias
        return fake_quantize(layer.bias.view(1, -1), BIAS_BITS, 1)[0].view(-1)

    def weight_bits_estimate(self) -> Tensor:
        """Differentiable estimate of the bits the quantized weights will take (rate term of the QAT phase)."""
        bits = self.quantize_bits or self.arch.weight_bits
        return sum(laplace_bits(fake_quantize(layer.weight, bits, self.groups(layer))[1].reshape(
            self.groups(layer), -1)) for _, layer in self.layers())

    def _linear(self, layer: nn.Linear, x: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, self._weight(layer), self._bias(layer))

    def _conv(self, layer: nn.Conv2d, x: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(x, self._weight(layer), self._bias(layer), padding=layer.padding)

    def forward(self, indices: Tensor) -> Tensor:
        """(B,) frame indices → (B, 3, height, width) frames."""
        arch = self.arch
        h = leaky_relu(self._linear(self.mlp, self.embedding[indices]), LEAKY_SLOPE)
        x = leaky_relu(self._linear(self.stem, h), LEAKY_SLOPE).view(len(indices), arch.stem_channels, *arch.grid)
        for conv, mod, c in zip(self.convs, self.modulations, arch.channels, strict=True):
            x = leaky_relu(pixel_shuffle(self._conv(conv, x), 2), LEAKY_SLOPE)
            gamma, beta = self._linear(mod, h).split(c, dim=1)
            gamma = gamma.clamp(-GAMMA_LIMIT, GAMMA_LIMIT)  # the exact decoder's bound
            x = x * gamma[:, :, None, None] + beta[:, :, None, None]
        return self._conv(self.head, x)[:, :, : arch.height, : arch.width]


def layer_shapes(arch: NervArch) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, weight shape, quantization groups) of every weighted layer, in bitstream order."""
    h0, w0 = arch.grid
    out = [("mlp", (arch.hidden, arch.embed_dim), arch.hidden),
           ("stem", (arch.stem_channels * h0 * w0, arch.hidden), arch.stem_channels)]
    ins = (arch.stem_channels, *arch.channels[:-1])
    for i, (c_in, c_out) in enumerate(zip(ins, arch.channels, strict=True)):
        out += [(f"convs.{i}", (4 * c_out, c_in, 3, 3), 4 * c_out),
                (f"modulations.{i}", (2 * c_out, arch.hidden), 2 * c_out)]
    return [*out, ("head", (3, arch.channels[-1], 1, 1), 3)]


def parameter_count(arch: NervArch) -> int:
    """Weights and biases of the network."""
    return sum(math.prod(shape) + shape[0] for _, shape, _ in layer_shapes(arch))


# Output channels of the last two blocks, which run at the two largest resolutions, are capped: they are most of a
# frame's decoding work and few of its parameters (≥ 25 frames/s at 416×240 on 2 cores, docs/results.md).
LAST_BLOCK_CHANNELS = (12, 8)


def _arch_of_width(height: int, width: int, frames: int, blocks: int, base: int, bits: int) -> NervArch:
    # channels shrink towards the output, where feature maps are large (multiples of 4: faster products)
    channels = [max(8, 4 * round(base * 0.75**i / 4)) for i in range(blocks)]
    last = len(LAST_BLOCK_CHANNELS)  # arch_for builds ≥ 3 blocks
    channels[-last:] = [min(c, cap) for c, cap in zip(channels[-last:], LAST_BLOCK_CHANNELS, strict=True)]
    return NervArch(height=height, width=width, frames=frames, blocks=blocks, hidden=max(16, round(base * 4 / 3)),
                    stem_channels=base, channels=tuple(channels), frequencies=default_frequencies(frames),
                    weight_bits=bits)


def arch_for(height: int, width: int, frames: int, quality: int) -> NervArch:
    """The architecture of a rate point for a clip: the widest network (stem width 8…256 in steps of 4) whose
    parameters fit the quality's rate (:data:`~neuralcodec.codecs.nerv.qualities.QUALITIES`); the stem grid is at
    most ≈ 16 cells on its longer side.
    """
    if quality not in QUALITIES:
        raise ValueError(f"nerv quality must be one of {', '.join(map(str, QUALITIES))}")
    blocks = max(3, math.ceil(math.log2(max(height, width) / 16)))
    bits = QUALITIES[quality].weight_bits
    budget = QUALITIES[quality].bpp * height * width * frames / (bits - 1)
    best = _arch_of_width(height, width, frames, blocks, 8, bits)
    for base in range(12, 257, 4):
        arch = _arch_of_width(height, width, frames, blocks, base, bits)
        if parameter_count(arch) > min(budget, MAX_PARAMETERS):
            break
        best = arch
    return best
