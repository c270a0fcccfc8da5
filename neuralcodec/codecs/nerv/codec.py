"""The ``nerv`` video family's runtime: a fitted network ⇄ its two streams, and exact decoding of frames.

Streams (``docs/bitstream.md``, "NeRV streams"):

- ``model``: a layout byte, the architecture (varints), then per weighted layer in :meth:`NervNet.layers`
  order: per quantization group (output channel; the stem's rows are grouped by grid channel) the weight step
  exponent (int8) and the index of the geometric table its weights are coded with (uint8), then the layer's
  bias step exponent (int8) and bias table index (uint8);
- ``weights``: one rANS stream; per layer two sets: its integer weights, each coded with its group's table
  (:mod:`neuralcodec.entropy.geometric`), then its integer biases.

The clip's size and frame count come from the container header. Decoding runs the network in the exact
fixed-point arithmetic of :mod:`neuralcodec.codecs.stages.fixed_point` (int8-range weights with power-of-two steps,
integer activations, convolutions whose every sum is an integer below 2**53, the affine modulation in int64),
so every frame is bit-identical on any machine, thread count or BLAS. Nothing here trains: fitting lives in
:mod:`neuralcodec.training.nerv_fit`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import pixel_shuffle

from neuralcodec.bitstream.container import ByteReader, encode_varint
from neuralcodec.codecs.nerv.net import (
    BIAS_BITS,
    EMBED_FRAC_BITS,
    EXP_RANGE,
    GAMMA_LIMIT,
    MAX_PARAMETERS,
    NervArch,
    NervNet,
    layer_shapes,
    parameter_count,
    quantize_bias,
    quantize_weight,
    time_embedding,
)
from neuralcodec.codecs.stages.fixed_point import ACT_FRAC_BITS, ACT_LIMIT, IntLayer
from neuralcodec.entropy import RansDecoder, RansEncoder, decode_indexed, encode_indexed
from neuralcodec.entropy.geometric import code_lengths, geometric_tables
from neuralcodec.errors import DecodeError

LAYOUT_VERSION = 0
# Limits checked before anything is allocated from a stream's claims.
MAX_BLOCKS = 10
MAX_CHANNELS = 512
MAX_HIDDEN = 1024
MAX_FREQUENCIES = 64
# Per padded pixel of a frame: about 2–3× the most any quality of ``arch_for`` builds for frames of 1×1 … 8K
# (≈ 43k multiply-adds, 135 elements in the largest intermediate tensor).
MAX_MACS_PER_PIXEL = 1 << 17
MAX_ELEMENTS_PER_PIXEL = 256
MAX_SYMBOLS_PER_BYTE = 64  # 8 / 0.15 bits, the cheapest geometric table's most probable value, rounded up
DECODE_BATCH = 1  # frames per exact forward pass (the matmul convolutions take one frame)


# --- encoder side -------------------------------------------------------------------------------------------
def quantized_layers(net: NervNet) -> dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """(integer weights, weight exponents per group, integer biases, bias exponent) of every layer: exactly
    what the streams carry."""
    out = {}
    for name, layer in net.layers():
        q, exp = quantize_weight(layer.weight, net.arch.weight_bits, net.groups(layer))
        out[name] = (q, exp, *quantize_bias(layer.bias))
    return out


def _best_tables(groups: np.ndarray) -> np.ndarray:
    """The cheapest geometric table of each row (the encoder's choice, stored in the stream)."""
    return np.array([int(np.argmin(code_lengths(row))) for row in groups], dtype=np.uint8)


def write_streams(arch: NervArch, layers: dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]) -> dict[str, bytes]:
    """The ``model`` and ``weights`` streams of a quantized network."""
    model = bytearray([LAYOUT_VERSION])
    for value in (arch.blocks, arch.hidden, arch.stem_channels, *arch.channels, len(arch.frequencies),
                  *arch.frequencies, arch.weight_bits):
        model += encode_varint(value)
    encoder = RansEncoder()
    tables = list(geometric_tables())
    for name, shape, groups in layer_shapes(arch):
        q, exp, q_bias, exp_bias = layers[name]
        if tuple(q.shape) != shape or exp.numel() != groups or q_bias.numel() != shape[0]:
            raise ValueError(f"layer {name} does not match the architecture")
        grouped = q.reshape(groups, -1).numpy()
        choice = _best_tables(grouped)
        bias_choice = _best_tables(q_bias.view(1, -1).numpy())
        model += exp.numpy().astype(np.int8).tobytes() + choice.tobytes()
        model += exp_bias.numpy().astype(np.int8).tobytes() + bias_choice.tobytes()
        encode_indexed(encoder, grouped.astype(np.int32).ravel(), np.repeat(choice, grouped.shape[1]), tables)
        encode_indexed(encoder, q_bias.numpy().astype(np.int32), np.repeat(bias_choice, shape[0]), tables)
    return {"model": bytes(model), "weights": encoder.finish()}


def streams_hash(streams: dict[str, bytes]) -> bytes:
    """The 4-byte weights hash a nerv container carries: SHA-256 of both streams."""
    return hashlib.sha256(streams["model"] + streams["weights"]).digest()[:4]


# --- decoder side -------------------------------------------------------------------------------------------
def read_streams(streams: dict[str, bytes], height: int, width: int,
                 frames: int) -> tuple[NervArch, dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]]:
    """The architecture and quantized layers from the streams; ``DecodeError`` on anything malformed,
    before any large allocation."""
    r = ByteReader(streams["model"])
    if r.u8("layout") != LAYOUT_VERSION:
        raise DecodeError("unknown nerv model layout")
    blocks, hidden, stem = r.varint("blocks"), r.varint("hidden"), r.varint("stem channels")
    if not (1 <= blocks <= MAX_BLOCKS and 1 <= hidden <= MAX_HIDDEN and 1 <= stem <= MAX_CHANNELS):
        raise DecodeError("nerv architecture outside its limits")
    channels = tuple(r.varint("channels") for _ in range(blocks))
    count = r.varint("frequencies")
    if not 1 <= count <= MAX_FREQUENCIES or not all(1 <= c <= MAX_CHANNELS for c in channels):
        raise DecodeError("nerv architecture outside its limits")
    frequencies = tuple(r.varint("frequency") for _ in range(count))
    bits = r.varint("weight bits")
    try:
        arch = NervArch(height=height, width=width, frames=frames, blocks=blocks, hidden=hidden,
                        stem_channels=stem, channels=channels, frequencies=frequencies, weight_bits=bits)
    except ValueError as exc:
        raise DecodeError(f"nerv architecture: {exc}") from None
    if parameter_count(arch) > MAX_PARAMETERS:
        raise DecodeError(f"nerv network of {parameter_count(arch)} parameters exceeds {MAX_PARAMETERS}")
    # no table codes a value in fewer than 0.15 bits: a stream this short cannot hold that many weights
    if parameter_count(arch) > MAX_SYMBOLS_PER_BYTE * len(streams["weights"]) + 4096:
        raise DecodeError("nerv weights stream is too short for its architecture")
    check_work(arch)
    qmax, bias_max = (1 << (bits - 1)) - 1, (1 << (BIAS_BITS - 1)) - 1
    tables = list(geometric_tables())

    def side_info(groups: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        exp = np.frombuffer(r.take(groups, f"{what} exponents"), dtype=np.int8).astype(np.int64)
        choice = np.frombuffer(r.take(groups, f"{what} tables"), dtype=np.uint8)
        if (exp < EXP_RANGE[0]).any() or (exp > EXP_RANGE[1]).any() or (choice >= len(tables)).any():
            raise DecodeError(f"nerv {what} exponent or table index out of range")
        return exp, choice

    def values(choice: np.ndarray, per_group: int, limit: int, what: str) -> np.ndarray:
        out = decode_indexed(decoder, np.repeat(choice, per_group), tables).astype(np.int64)  # |-2**31| fits
        if np.abs(out).max(initial=0) > limit:
            raise DecodeError(f"nerv {what} outside its bit range")
        return out

    layers = {}
    try:
        decoder = RansDecoder(streams["weights"])
        for name, shape, groups in layer_shapes(arch):
            exp, choice = side_info(groups, "weight")
            exp_bias, bias_choice = side_info(1, "bias")
            q = values(choice, int(np.prod(shape)) // groups, qmax, "weight")
            q_bias = values(bias_choice, shape[0], bias_max, "bias")
            layers[name] = (torch.from_numpy(q).reshape(shape), torch.from_numpy(exp), torch.from_numpy(q_bias),
                            torch.from_numpy(exp_bias))
        decoder.finish()
    except (ValueError, RuntimeError, IndexError) as exc:
        raise DecodeError(f"nerv weights stream is damaged: {exc}") from None
    if r.pos != len(streams["model"]):
        raise DecodeError("nerv model stream has trailing bytes")
    return arch, layers


def frame_work(arch: NervArch) -> tuple[int, int]:
    """(multiply-adds, largest intermediate tensor in elements) of decoding one frame: what a file may cost."""
    h0, w0 = arch.grid
    macs = arch.hidden * (arch.embed_dim + arch.stem_channels * h0 * w0)
    peak = arch.stem_channels * h0 * w0
    ins = (arch.stem_channels, *arch.channels[:-1])
    for i, (c_in, c_out) in enumerate(zip(ins, arch.channels, strict=True)):
        positions = (h0 << i) * (w0 << i)  # the block's input grid; its output is 2× larger per side
        macs += positions * 4 * c_out * 9 * c_in + arch.hidden * 2 * c_out
        peak = max(peak, positions * 9 * c_in, positions * 4 * c_out)  # the taps copy, the convolution output
    positions = (h0 << arch.blocks) * (w0 << arch.blocks)
    return macs + positions * 3 * arch.channels[-1], max(peak, positions * arch.channels[-1])


def check_work(arch: NervArch) -> None:
    """Refuse architectures far costlier per pixel than any the encoder builds (a crafted file could otherwise
    ask for days of work or tens of GB per frame while its frame size looks small)."""
    if arch.blocks > max(3, math.ceil(math.log2(max(arch.height, arch.width) / 16))) + 1:
        raise DecodeError(f"nerv network upsamples {arch.stride}× a {arch.width}×{arch.height} frame: too many blocks")
    macs, peak = frame_work(arch)
    padded = (arch.grid[0] << arch.blocks) * (arch.grid[1] << arch.blocks)
    if macs > MAX_MACS_PER_PIXEL * padded or peak > MAX_ELEMENTS_PER_PIXEL * padded:
        raise DecodeError("nerv network is costlier per pixel than the format allows")


def _int_layer(q: Tensor, exp: Tensor, q_bias: Tensor, exp_bias: Tensor, leaky: bool, padding: int = 0) -> IntLayer:
    if q.dim() == 2:  # a linear layer: a 1×1 convolution on a 1×1 map
        q = q[:, :, None, None]
    rows = exp.repeat_interleave(q.shape[0] // exp.numel())  # one exponent per output channel
    bias = q_bias.double() * torch.exp2(-exp_bias.double())  # exact: integer times a power of two
    return IntLayer(q.to(torch.int8), rows.to(torch.int8), bias, transposed=False, stride=1, padding=padding,
                    output_padding=0, leaky=leaky, dense_as_matmul=True)


GAMMA_UNITS = float(GAMMA_LIMIT * (1 << ACT_FRAC_BITS))  # |γ| ≤ 16 = 2**20 units: every x·γ < 2**48


def _modulate(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """x · γ + β on integer activations (float64), rounded half up to the activation grid. Exact: |x| ≤ 2**28
    and |γ| ≤ 2**20 make every product an integer below 2**48; halving by 2**16 and flooring are exact.
    Works in place on ``x`` (the caller's fresh convolution output): a frame's largest tensor."""
    gamma = gamma.clamp(-GAMMA_UNITS, GAMMA_UNITS)[:, :, None, None]
    x.mul_(gamma).add_(1 << (ACT_FRAC_BITS - 1)).div_(1 << ACT_FRAC_BITS).floor_()
    return x.add_(beta[:, :, None, None]).clamp_(-ACT_LIMIT, ACT_LIMIT)


class NervDecoder:
    """Exact frames of a nerv bitstream: :meth:`frames` yields uint8 (3, H, W) tensors in order."""

    def __init__(self, arch: NervArch, layers: dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]) -> None:
        self.arch = arch
        self.mlp = _int_layer(*layers["mlp"], leaky=True)
        self.stem = _int_layer(*layers["stem"], leaky=True)
        self.convs = [_int_layer(*layers[f"convs.{i}"], leaky=True, padding=1) for i in range(arch.blocks)]
        self.modulations = [_int_layer(*layers[f"modulations.{i}"], leaky=False) for i in range(arch.blocks)]
        self.head = _int_layer(*layers["head"], leaky=False)
        # the head's accumulator counts units of 2**-(exp + ACT_FRAC_BITS) per output channel
        shift = (layers["head"][1].long() + ACT_FRAC_BITS).view(1, -1, 1, 1)
        self.head_unit = torch.ones_like(shift) << shift

    @classmethod
    def from_streams(cls, streams: dict[str, bytes], height: int, width: int, frames: int) -> NervDecoder:
        arch, layers = read_streams(streams, height, width, frames)
        try:
            return cls(arch, layers)
        except (ValueError, RuntimeError) as exc:  # e.g. a fixed-point bound a crafted file breaks
            raise DecodeError(f"nerv network cannot be built exactly: {exc}") from None

    def embedding(self, indices: list[int]) -> Tensor:
        """Integer activations (ACT_FRAC_BITS fractional bits) of the frames' time embeddings."""
        rows = [time_embedding(k, self.arch.frames, self.arch.frequencies) for k in indices]
        shift = ACT_FRAC_BITS - EMBED_FRAC_BITS
        return torch.tensor(rows, dtype=torch.float64).mul(1 << shift)[:, :, None, None]

    @torch.no_grad()
    def decode_batch(self, indices: list[int]) -> Tensor:
        """uint8 (B, 3, H, W) frames of the given indices."""
        arch = self.arch
        h = self.mlp(self.embedding(indices))
        x = self.stem(h).view(len(indices), arch.stem_channels, *arch.grid)
        for conv, mod, c in zip(self.convs, self.modulations, arch.channels, strict=True):
            x = pixel_shuffle(conv(x), 2)
            gamma_beta = mod(h).view(len(indices), 2 * c)
            x = _modulate(x, gamma_beta[:, :c], gamma_beta[:, c:])
        acc = self.head.accumulate(x)[:, :, : arch.height, : arch.width].long()
        # pixel = round(255 · value), value = acc · 2**-shift: int64 (|acc| < 2**53, · 255 < 2**61)
        pixels = torch.div(acc * 255 + self.head_unit // 2, self.head_unit, rounding_mode="floor")
        return pixels.clamp(0, 255).to(torch.uint8)

    def frames(self, batch: int = DECODE_BATCH) -> Iterator[Tensor]:
        """Every frame, in order, as uint8 (3, H, W)."""
        for start in range(0, self.arch.frames, batch):
            yield from self.decode_batch(list(range(start, min(start + batch, self.arch.frames))))
