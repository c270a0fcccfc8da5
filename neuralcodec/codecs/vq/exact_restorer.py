"""The integer twin of the ``vq`` restorer, and the member draw it drives: the same draws on every machine.

The lower ``vq`` rate points decode each position as one member of its coded group, drawn from the restorer's
probabilities (:mod:`neuralcodec.codecs.vq.members`). A float transformer gives slightly different probabilities
on different CPUs, and so, now and then, a different draw. Here the transformer runs on integers on fixed grids,
derived from the float weights when the model file loads (nothing new is stored), with the rules of
:mod:`neuralcodec.codecs.stages.exact_synthesis`: every sum is a float64 sum of integers below 2**53 (exact in any
order, on any BLAS), every other step a single correctly rounded IEEE operation (add, multiply, divide, square
root), each rounding to a grid ``floor(x · 2**f + ½)``:

- **Linear layers:** 14-bit weights with a power-of-two scale per output, integer inputs of at most 20 bits.
- **Layer norms:** the mean and variance from exact integer sums (inputs of at most 18 bits, 128 channels), then
  subtract, divide by the correctly rounded square root, multiply by γ and add β, one operation each.
- **Softmax** (attention, and the draw): no ``exp``. Differences to the row's maximum are rounded to 1/1024 of a
  binary octave and looked up in a table of 20-bit integers ``2**20 · 2**(-b/1024)``, computed with integer
  square roots only (Python integers: the same everywhere), then shifted right by the whole octaves. Attention
  divides the exact integer sum of weights × values by the exact sum of weights (one IEEE division).
- **The draw:** the members' integer weights, their exact cumulative sum, and an integer drawn below their total
  by NumPy's PCG64 generator (platform independent) pick the member, position by position in a fixed order.

The draws therefore depend on the file and the seed only. They are not the float transformer's draws (those were
never the same on every machine): a point decoded this way shows other, equally likely textures.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neuralcodec.codecs.stages.exact_synthesis import EXACT_LIMIT, quantize_per_channel

WEIGHT_BITS = 14
WEIGHT_LIMIT = float((1 << (WEIGHT_BITS - 1)) - 1)
EXP_FRAC_BITS = 10  # softmax exponents rounded to 2**-10 of an octave
EXP_WEIGHT_BITS = 20  # the largest softmax weight: 2**20
LOG2_E = 1.4426950408889634  # log2(e), the nearest double

# (magnitude bits, fractional bits) of each kind of activation. Part of the format of the draw: the decoded pixels
# of vq q0–q2 depend on them. Ranges: ≥ 4× the largest values measured on BSDS500 training images.
INPUT_GRID = (16, 12)  # code vectors, ±16
STREAM_GRID = (18, 12)  # the residual stream, ±64 (≤ 18 bits: the layer norms' sums stay below 2**53)
NORMED_GRID = (18, 12)  # layer-norm outputs, ±64
QK_GRID = (18, 13)  # queries and keys, ±32
VALUE_GRID = (18, 13)  # values and the attention's outputs, ±32
HIDDEN_GRID = (20, 14)  # the feed-forward hidden layer after ReLU, ±64
LOGIT_GRID = (20, 14)  # logits, ±64


def to_grid(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """Integers (float64) ``floor(x · 2**f + ½)`` clamped to ±(2**bits - 1): one exact scaling, one rounded add."""
    bits, frac = grid
    limit = float((1 << bits) - 1)
    return (x.double() * float(1 << frac)).add_(0.5).floor_().clamp_(-limit, limit)


def exp2_table(frac_bits: int = EXP_FRAC_BITS, weight_bits: int = EXP_WEIGHT_BITS) -> Tensor:
    """int64 ``round(2**weight_bits · 2**(-b / 2**frac_bits))`` for b = 0 … 2**frac_bits - 1, from integer square
    roots only (``math.isqrt`` on Python integers: the same on every machine and Python version)."""
    precision = 96
    roots = []  # roots[k] = 2**(1 / 2**(k+1)) in fixed point of 2**-precision
    root = math.isqrt(2 << (2 * precision))
    for _ in range(frac_bits):
        roots.append(root)
        root = math.isqrt(root << precision)
    table = []
    for b in range(1 << frac_bits):
        value = 1 << (weight_bits + precision)
        for k in range(frac_bits):  # bit frac_bits-1-k of b stands for 2**(-1 / 2**(k+1))
            if (b >> (frac_bits - 1 - k)) & 1:
                value = (value << precision) // roots[k]
        table.append((value + (1 << (precision - 1))) >> precision)
    return torch.tensor(table, dtype=torch.int64)


class SoftmaxWeights:
    """Integer softmax weights ``≈ 2**20 · exp(κ' · (x - max x))`` of integer scores along the last dimension."""

    octaves = 40  # weights below 2**(20 - 40) are 0 well before

    def __init__(self, score_scale: float) -> None:
        # score units → 2**-EXP_FRAC_BITS octaves; one rounded product per score, the same everywhere
        self.octave_units = score_scale * LOG2_E * float(1 << EXP_FRAC_BITS)
        table = exp2_table()
        # every weight at once: entry a · 2**10 + b is table[b] >> a (floor), held as float64 for the products
        whole = torch.cat([torch.bitwise_right_shift(table, a) for a in range(self.octaves)])
        self.weights = whole.double()
        self.last = float(len(whole) - 1)

    def __call__(self, scores: Tensor, keep: Tensor | None = None) -> Tensor:
        """Integer weights (float64) of float64 integer ``scores``; zero where ``keep`` is False (each row keeps
        one at least)."""
        if keep is not None:
            scores = scores.masked_fill(~keep, -EXACT_LIMIT)
        below = scores.amax(-1, keepdim=True) - scores  # exact: integers
        units = below.mul_(self.octave_units).add_(0.5).floor_().clamp_(max=self.last).long()
        weights = self.weights[units]
        return weights if keep is None else weights.masked_fill_(~keep, 0.0)


class ExactLinear(nn.Module):
    """``x @ Wᵀ + b`` of integer inputs on a grid of ``in_frac`` fractional bits: exact real outputs (float64)."""

    def __init__(self, weight: Tensor, bias: Tensor | None, in_grid: tuple[int, int]) -> None:
        super().__init__()
        in_bits, in_frac = in_grid
        q, exp = quantize_per_channel(weight, WEIGHT_BITS, 0)
        if float(1 << in_bits) * WEIGHT_LIMIT * q.shape[1] >= EXACT_LIMIT / 2:
            raise ValueError("exact linear layer could exceed 2**53")
        self.register_buffer("weight_t", q.T.contiguous())
        b = bias.detach().double() if bias is not None else torch.zeros(q.shape[0], dtype=torch.float64)
        self.register_buffer("bias", torch.round(b * torch.exp2(exp + in_frac)))
        self.register_buffer("scale", torch.exp2(-(exp + in_frac)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.mm(x, self.weight_t).round_().add_(self.bias).mul_(self.scale)  # snapped: an integer sum


class ExactLayerNorm(nn.Module):
    """LayerNorm over C channels of integers on ``grid``, to integers on ``out_grid``: C² · 2**(2 · bits) < 2**53
    (128 channels of 18 bits) keeps its sums exact."""

    def __init__(self, norm: nn.LayerNorm, grid: tuple[int, int], out_grid: tuple[int, int]) -> None:
        super().__init__()
        bits, frac = grid
        channels = norm.normalized_shape[0]
        if float(channels) ** 2 * float(1 << (2 * bits)) >= EXACT_LIMIT:
            raise ValueError("exact layer norm: too many channels for the grid")
        self.channels, self.frac, self.out_grid, self.eps = float(channels), frac, out_grid, float(norm.eps)
        self.register_buffer("gamma", norm.weight.detach().double())
        self.register_buffer("beta", norm.bias.detach().double())

    def forward(self, x: Tensor) -> Tensor:
        channels = self.channels
        total = x.sum(-1, keepdim=True)  # integers, and their squares' sum: exact (see the class docstring)
        squares = (x * x).sum(-1, keepdim=True)
        unit = float(1 << self.frac)
        # channels² · variance in grid units², exact; then one division (exact for 128 channels)
        variance = (squares * channels - total * total) / (channels * channels * unit * unit)
        deviation = torch.sqrt(variance + self.eps)
        centred = (x * channels - total) / (channels * unit)  # x - mean: one division of an exact integer
        return to_grid(centred / deviation * self.gamma + self.beta, self.out_grid)


class ExactEncoderLayer(nn.Module):
    """A pre-norm ``nn.TransformerEncoderLayer`` (ReLU, no dropout) on the integer residual stream."""

    def __init__(self, layer: nn.TransformerEncoderLayer) -> None:
        super().__init__()
        attn = layer.self_attn
        if not layer.norm_first or layer.activation is not torch.nn.functional.relu or not attn._qkv_same_embed_dim:
            raise ValueError("exact encoder layer: pre-norm, ReLU, one input projection")
        self.heads = attn.num_heads
        self.head_dim = attn.embed_dim // attn.num_heads
        self.norm1 = ExactLayerNorm(layer.norm1, STREAM_GRID, NORMED_GRID)
        self.in_proj = ExactLinear(attn.in_proj_weight, attn.in_proj_bias, NORMED_GRID)
        self.out_proj = ExactLinear(attn.out_proj.weight, attn.out_proj.bias, VALUE_GRID)
        self.norm2 = ExactLayerNorm(layer.norm2, STREAM_GRID, NORMED_GRID)
        self.linear1 = ExactLinear(layer.linear1.weight, layer.linear1.bias, NORMED_GRID)
        self.linear2 = ExactLinear(layer.linear2.weight, layer.linear2.bias, HIDDEN_GRID)
        # scores are integer q·k on 2**-(2·f) units; softmax(q·k / sqrt(d)) as in the float layer
        self.softmax = SoftmaxWeights(1.0 / float(1 << (2 * QK_GRID[1])) / math.sqrt(float(self.head_dim)))

    def attention(self, x: Tensor) -> Tensor:
        n, width = x.shape
        qkv = self.in_proj(self.norm1(x))
        q, k = to_grid(qkv[:, :width], QK_GRID), to_grid(qkv[:, width : 2 * width], QK_GRID)
        v = to_grid(qkv[:, 2 * width :], VALUE_GRID)
        if float(1 << EXP_WEIGHT_BITS) * float(1 << VALUE_GRID[0]) * n >= EXACT_LIMIT:
            raise ValueError("exact attention: too many tokens")
        out = torch.empty_like(v)
        for h in range(self.heads):
            part = slice(h * self.head_dim, (h + 1) * self.head_dim)
            weights = self.softmax(torch.mm(q[:, part], k[:, part].T).round_())
            # exact integer sums (weights < 2**21, values < 2**18, < 2**14 tokens), then one division
            out[:, part] = torch.mm(weights, v[:, part]).round_() / weights.sum(-1, keepdim=True)
        return self.out_proj(to_grid(out * (1.0 / float(1 << VALUE_GRID[1])), VALUE_GRID))

    def forward(self, x: Tensor) -> Tensor:
        limit = float((1 << STREAM_GRID[0]) - 1)  # the stream stays within the layer norms' 18 bits
        x = (x + to_grid(self.attention(x), STREAM_GRID)).clamp_(-limit, limit)
        hidden = to_grid(self.linear1(self.norm2(x)).clamp_(min=0.0), HIDDEN_GRID)
        return (x + to_grid(self.linear2(hidden), STREAM_GRID)).clamp_(-limit, limit)


class ExactRestorer(nn.Module):
    """The integer twin of :class:`~neuralcodec.codecs.vq.restore.IndexRestorer`: integer logits (float64) on
    ``LOGIT_GRID`` from code vectors and a mask."""

    def __init__(self, restorer: nn.Module) -> None:
        super().__init__()
        self.embed = ExactLinear(restorer.embed.weight, restorer.embed.bias, INPUT_GRID)
        self.register_buffer("mask_token", to_grid(restorer.mask_token.detach(), STREAM_GRID))
        position = restorer.position  # depthwise 3×3: 9 integer weights per channel
        q, exp = quantize_per_channel(position.weight.reshape(position.out_channels, -1), WEIGHT_BITS, 0)
        self.register_buffer("position_weight", q.T.contiguous())  # (9, C)
        frac = STREAM_GRID[1]
        self.register_buffer("position_bias", torch.round(position.bias.detach().double() * torch.exp2(exp + frac)))
        self.register_buffer("position_scale", torch.exp2(-(exp + frac)))
        self.layers = nn.ModuleList(ExactEncoderLayer(layer) for layer in restorer.blocks.layers)
        self.norm = ExactLayerNorm(restorer.norm, STREAM_GRID, NORMED_GRID)
        self.head = ExactLinear(restorer.head.weight, restorer.head.bias, NORMED_GRID)

    @torch.no_grad()
    def forward(self, vectors: Tensor, lost: Tensor) -> Tensor:
        """Integer logits (1, H, W, K) (float64, on ``LOGIT_GRID``) from code vectors (1, D, H, W) and a lost mask
        (1, H, W), as the float restorer's call."""
        _, _, h, w = vectors.shape
        flat = vectors[0].permute(1, 2, 0).reshape(h * w, -1)
        tokens = to_grid(self.embed(to_grid(flat, INPUT_GRID)), STREAM_GRID)
        tokens = torch.where(lost.reshape(-1, 1), self.mask_token, tokens)
        # the position convolution: 9 shifted products per channel, integers summed exactly
        grid = nn.functional.pad(tokens.view(h, w, -1).permute(2, 0, 1), (1, 1, 1, 1)).permute(1, 2, 0)
        acc = torch.zeros_like(tokens).view(h, w, -1)
        for tap in range(9):
            dy, dx = divmod(tap, 3)
            acc += grid[dy : dy + h, dx : dx + w] * self.position_weight[tap]
        position = (acc.view(h * w, -1) + self.position_bias) * self.position_scale
        x = to_grid(tokens * (1.0 / float(1 << STREAM_GRID[1])) + position, STREAM_GRID)
        for layer in self.layers:
            x = layer(x)
        return to_grid(self.head(self.norm(x)), LOGIT_GRID).view(1, h, w, -1)
