"""The ``coolchic`` family's runtime: fitted models ⇄ their three streams, and exact decoding.

An image is cut into tiles of at most ``tile``×``tile`` pixels (raster order; a Kodak image is one tile), each
fitted on its own, so that fitting and decoding a large image needs the memory of one tile. Streams
(``docs/bitstream.md``, "Cool-chic streams"):

- ``model``: layout byte, the tile size (varint), then per tile: varints levels, entropy-model layers, synthesis
  hidden width, residual layers and the fit's iterations; per module (entropy model, upsampling, synthesis) its
  layers in :func:`tensor_layout` order, each with its weight exponent (u8), bias exponent (u8, if it has
  biases) and the geometric tables of its weights and biases (u8 each);
- ``weights``: one rANS stream; per tile, one set per integer array (:mod:`neuralcodec.entropy.geometric`);
- ``latents``: one rANS stream; per tile, one set per *wavefront*: every latent of every level with
  ``x + 3·y = t`` (t = 0, 1, …), levels finest first, raster order within a level. Each latent is coded with
  the Laplace table (:mod:`neuralcodec.entropy.laplace`) its already decoded causal neighbours select through
  the exact entropy model (:mod:`neuralcodec.codecs.coolchic.exact`).

Decoding runs wavefront by wavefront (a few thousand steps for a Kodak image, each a batch), then the exact
upsampling and synthesis, tile after tile. Nothing here trains: fitting is :mod:`neuralcodec.training.coolchic_fit`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from neuralcodec.bitstream.container import ByteReader, encode_varint
from neuralcodec.codecs.coolchic.exact import (
    EXP_RANGE,
    FRAC_BITS,
    MAX_FAN_IN,
    WEIGHT_BITS,
    ExactEntropyModel,
    QuantizedModule,
    synthesize,
    upsample,
)
from neuralcodec.codecs.coolchic.net import (
    CONTEXT_OFFSETS,
    CONTEXT_SLOPE,
    LATENT_GAIN,
    CoolChicArch,
    CoolChicNet,
    grid_shapes,
)
from neuralcodec.entropy import RansDecoder, RansEncoder, decode_indexed, encode_indexed
from neuralcodec.entropy.geometric import code_lengths, geometric_tables
from neuralcodec.entropy.laplace import LaplaceTables, decode_laplace, encode_laplace, table_id
from neuralcodec.errors import DecodeError

LAYOUT_VERSION = 0
MODULES = ("arm", "upsampling", "synthesis")
MAX_LEVELS = 10
MAX_ARM_LAYERS = 4
MAX_HIDDEN = 128
MAX_RESIDUAL = 4
MAX_ITERATIONS = 10_000_000
# Tiles bound the work and memory of one decode step; a small tile costs a model per 65,536 pixels at least.
MIN_TILE, MAX_TILE = 256, 4096
DEFAULT_TILE = 768  # a Kodak image is one tile; larger images are fitted (and decoded) one tile at a time
LATENT_LIMIT = 1 << 15  # |latent| — a fit never comes near; a crafted stream is refused past it


def tensor_layout(arch: CoolChicArch) -> dict[str, list[tuple[str, tuple[int, ...], bool]]]:
    """Per module, its parameter tensors in stream order: (name, integer shape, has a bias)."""
    c = len(arch.context)
    return {
        "arm": [(f"hidden.{i}", (c, c), True) for i in range(arch.arm_layers)] + [("out", (2, c), True)],
        "upsampling": [("taps", (max(arch.levels - 1, 1), 4), False)],
        "synthesis": [("in", (arch.synthesis_hidden, arch.levels), True), ("out", (3, arch.synthesis_hidden), True)]
        + [(f"residual.{i}", (3, 27), True) for i in range(arch.synthesis_residual)],
    }


# --- float model ⇄ integer parameters -----------------------------------------------------------------------
def _float_tensors(net: CoolChicNet) -> dict[str, dict[str, tuple[Tensor, Tensor | None]]]:
    """The float parameters behind every integer tensor of :func:`tensor_layout`."""
    arm = {f"hidden.{i}": (layer.weight, layer.bias) for i, layer in enumerate(net.entropy.hidden)}
    arm["out"] = (net.entropy.out.weight, net.entropy.out.bias)
    syn = net.synthesis
    synthesis = {"in": (syn.pointwise_in.weight, syn.pointwise_in.bias),
                 "out": (syn.pointwise_out.weight, syn.pointwise_out.bias)}
    synthesis.update({f"residual.{i}": (conv.weight, conv.bias) for i, conv in enumerate(syn.residual)})
    return {"arm": arm, "upsampling": {"taps": (net.upsampling.half_taps, None)}, "synthesis": synthesis}


def quantize_layer(net: CoolChicNet, module: str, name: str, exponent: int,
                   bias_exponent: int = FRAC_BITS) -> tuple[np.ndarray, np.ndarray | None]:
    """One layer's integer weights (step 2**-exponent) and biases (step 2**-bias_exponent; ``None`` if it has none)."""
    limit = float(1 << WEIGHT_BITS)
    w, b = _float_tensors(net)[module][name]
    w = w.detach().double().reshape(w.shape[0], -1)
    q = torch.round(w * 2.0**exponent).clamp(-limit, limit).long().numpy()
    if b is None:
        return q, None
    return q, torch.round(b.detach().double() * 2.0**bias_exponent).clamp(-limit, limit).long().numpy()


def quantize_module(net: CoolChicNet, module: str, exponents: dict[str, int],
                    bias_exponents: dict[str, int] | None = None) -> QuantizedModule:
    """The integer twin of one module, with each layer's weight (and bias) step: the layers named in
    ``exponents`` (while steps are searched, the others stay float)."""
    bias_exponents = bias_exponents or {}
    weights, biases, kept_bias_exponents = {}, {}, {}
    for name in _float_tensors(net)[module]:
        if name not in exponents:
            continue
        kb = bias_exponents.get(name, FRAC_BITS)
        q, qb = quantize_layer(net, module, name, exponents[name], kb)
        weights[name] = q
        if qb is not None:
            biases[name], kept_bias_exponents[name] = qb, kb
    return QuantizedModule(weights, biases, dict(exponents), kept_bias_exponents)


@torch.no_grad()
def load_module(net: CoolChicNet, module: str, quantized: QuantizedModule) -> None:
    """Set the float parameters of ``module`` to the values its integer twin stands for (exact)."""
    for name, (w, b) in _float_tensors(net)[module].items():
        if name not in quantized.weights:
            continue
        w.copy_(torch.from_numpy(quantized.weights[name]).double().mul(2.0**-quantized.exponents[name]).view_as(w))
        if b is not None and name in quantized.biases:
            b.copy_(torch.from_numpy(quantized.biases[name]).double().mul(2.0**-quantized.bias_exponents[name]))


def module_bits(quantized: QuantizedModule) -> float:
    """Bits the weights stream spends on a module (cheapest geometric table per tensor)."""
    arrays = [*quantized.weights.values(), *quantized.biases.values()]
    return float(sum(code_lengths(a).min() for a in arrays))


def latent_integers(net: CoolChicNet) -> list[np.ndarray]:
    """The rounded latent grids (finest first) the bitstream carries."""
    return [torch.round(p.detach() * LATENT_GAIN)[0, 0].long().clamp(-LATENT_LIMIT, LATENT_LIMIT).numpy()
            for p in net.latents]


# --- the latent pyramid's wavefront order ---------------------------------------------------------------------
@dataclass
class Wavefronts:
    """Where every latent lives in one flat buffer of zero-padded grids, and the order it is coded in."""

    shapes: list[tuple[int, int]]
    buffer_size: int
    grid_starts: list[int]  # buffer index of each grid's (0, 0)
    strides: list[int]
    order: np.ndarray  # buffer index of every latent in coding order
    order_stride: np.ndarray  # row stride of each latent's grid, in coding order
    bounds: np.ndarray  # order[bounds[t]:bounds[t+1]] is wavefront t
    offsets_dy: np.ndarray
    offsets_dx: np.ndarray

    @classmethod
    def build(cls, shapes: list[tuple[int, int]], context: tuple[tuple[int, int], ...]) -> Wavefronts:
        top = -min(dy for dy, _ in context)
        left = -min(dx for _, dx in context)
        right = max(dx for _, dx in context)
        starts, strides, keys, indexes, level_strides, size = [], [], [], [], [], 0
        for h, w in shapes:
            stride = w + left + right
            start = size + top * stride + left
            ys, xs = np.divmod(np.arange(h * w, dtype=np.int64), w)
            keys.append(xs + CONTEXT_SLOPE * ys)
            indexes.append(start + ys * stride + xs)
            level_strides.append(np.full(h * w, stride, dtype=np.int64))
            starts.append(start)
            strides.append(stride)
            size += (h + top) * stride
        key = np.concatenate(keys)
        order = np.argsort(key, kind="stable")  # levels finest first, raster order within each wavefront
        bounds = np.concatenate([[0], np.cumsum(np.bincount(key))])
        dy = np.array([d for d, _ in context], dtype=np.int64)
        dx = np.array([d for _, d in context], dtype=np.int64)
        return cls(list(shapes), size, starts, strides, np.concatenate(indexes)[order],
                   np.concatenate(level_strides)[order], bounds, dy, dx)

    def context_indexes(self, lo: int, hi: int) -> np.ndarray:
        """(n, C) buffer indexes of the context of latents ``order[lo:hi]``."""
        return (self.order[lo:hi, None] + self.offsets_dy[None, :] * self.order_stride[lo:hi, None]
                + self.offsets_dx[None, :])

    def fill(self, grids: list[np.ndarray]) -> np.ndarray:
        buffer = np.zeros(self.buffer_size, dtype=np.int64)
        for g, start, stride in zip(grids, self.grid_starts, self.strides, strict=True):
            h, w = g.shape
            rows = start + np.arange(h)[:, None] * stride + np.arange(w)[None, :]
            buffer[rows] = g
        return buffer

    def grids(self, buffer: np.ndarray) -> list[np.ndarray]:
        out = []
        for (h, w), start, stride in zip(self.shapes, self.grid_starts, self.strides, strict=True):
            out.append(buffer[start + np.arange(h)[:, None] * stride + np.arange(w)[None, :]])
        return out


# --- tiles ---------------------------------------------------------------------------------------------------------
def tile_boxes(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of every tile, raster order; the last row and column may be smaller."""
    return [(top, left, min(tile, height - top), min(tile, width - left))
            for top in range(0, height, tile) for left in range(0, width, tile)]


@dataclass
class FittedModel:
    """One tile's fitted model: the architecture, the integer networks and the latent grids."""

    arch: CoolChicArch
    iterations: int
    modules: dict[str, QuantizedModule]
    grids: list[np.ndarray]

    def reconstruct(self) -> np.ndarray:
        """uint8 (3, h, w): the exact upsampling and synthesis of the latents."""
        features = upsample(self.grids, self.modules["upsampling"])
        return synthesize(features, self.modules["synthesis"], self.arch.synthesis_residual)


# --- encoder side -----------------------------------------------------------------------------------------------
def _write_tile_model(model: bytearray, fit: FittedModel, encoder: RansEncoder) -> None:
    arch = fit.arch
    for value in (arch.levels, arch.arm_layers, arch.synthesis_hidden, arch.synthesis_residual, fit.iterations):
        model += encode_varint(value)
    tables = list(geometric_tables())
    for name, layout in tensor_layout(arch).items():
        module = fit.modules[name]
        for tensor, shape, has_bias in layout:
            model.append(module.exponents[tensor])
            if has_bias:
                model.append(module.bias_exponents[tensor])
            arrays = [(module.weights[tensor], shape)] + ([(module.biases[tensor], shape[:1])] if has_bias else [])
            for values, expected in arrays:
                if values.size != int(np.prod(expected)):
                    raise ValueError(f"{name}.{tensor} does not match the architecture")
                choice = int(np.argmin(code_lengths(values)))
                model.append(choice)
                flat = values.astype(np.int32).ravel()
                encode_indexed(encoder, flat, np.full(flat.size, choice, dtype=np.uint8), tables)


def _write_tile_latents(fit: FittedModel, encoder: RansEncoder, laplace: LaplaceTables) -> None:
    waves = Wavefronts.build([g.shape for g in fit.grids], fit.arch.context)
    buffer = waves.fill(fit.grids)
    arm = ExactEntropyModel(fit.modules["arm"], fit.arch.arm_layers)
    means, phases, scales = arm(buffer[waves.context_indexes(0, len(waves.order))])
    values = buffer[waves.order]
    ids = table_id(scales, phases)
    for t in range(len(waves.bounds) - 1):
        lo, hi = int(waves.bounds[t]), int(waves.bounds[t + 1])
        encode_laplace(encoder, laplace, values[lo:hi], means[lo:hi], ids[lo:hi])


def write_streams(tile: int, fits: list[FittedModel]) -> dict[str, bytes]:
    """The ``model``, ``weights`` and ``latents`` streams of the quantized fits of every tile (raster order)."""
    if not MIN_TILE <= tile <= MAX_TILE:
        raise ValueError(f"tile size {tile} outside {MIN_TILE}…{MAX_TILE}")
    if any(fit.iterations > MAX_ITERATIONS for fit in fits):
        raise ValueError(f"more than {MAX_ITERATIONS} iterations cannot be recorded")
    model = bytearray([LAYOUT_VERSION]) + encode_varint(tile)
    weights, latents, laplace = RansEncoder(), RansEncoder(), LaplaceTables()
    for fit in fits:
        _write_tile_model(model, fit, weights)
        _write_tile_latents(fit, latents, laplace)
    return {"model": bytes(model), "weights": weights.finish(), "latents": latents.finish()}


# --- decoder side -----------------------------------------------------------------------------------------------
@dataclass
class TileHeader:
    """What the model stream says of one tile."""

    box: tuple[int, int, int, int]
    arch: CoolChicArch
    iterations: int
    exponents: dict[str, dict[str, int]]  # module → layer → weight exponent
    bias_exponents: dict[str, dict[str, int]]
    choices: list[int]


def _read_tile_header(r: ByteReader, box: tuple[int, int, int, int]) -> TileHeader:
    levels, arm_layers, hidden, residual = (r.varint(w) for w in ("levels", "layers", "hidden", "residual"))
    iterations = r.varint("iterations")
    if not (1 <= levels <= MAX_LEVELS and 0 <= arm_layers <= MAX_ARM_LAYERS and 1 <= hidden <= MAX_HIDDEN
            and 0 <= residual <= MAX_RESIDUAL and iterations <= MAX_ITERATIONS):
        raise DecodeError("coolchic architecture outside its limits")
    arch = CoolChicArch(levels=levels, arm_layers=arm_layers, synthesis_hidden=hidden,
                        synthesis_residual=residual, context=CONTEXT_OFFSETS)
    choices: list[int] = []
    exponents: dict[str, dict[str, int]] = {}
    bias_exponents: dict[str, dict[str, int]] = {}
    for name, tensors in tensor_layout(arch).items():
        exponents[name], bias_exponents[name] = {}, {}
        for tensor, shape, has_bias in tensors:
            if shape[-1] > MAX_FAN_IN:
                raise DecodeError("coolchic layer wider than the format allows")
            exponents[name][tensor] = r.u8("exponent")
            if not EXP_RANGE[0] <= exponents[name][tensor] <= EXP_RANGE[1]:
                raise DecodeError("coolchic weight exponent out of range")
            if has_bias:
                bias_exponents[name][tensor] = r.u8("bias exponent")
                if bias_exponents[name][tensor] > FRAC_BITS:
                    raise DecodeError("coolchic bias exponent out of range")
            choices.append(r.u8("table"))
            if has_bias:
                choices.append(r.u8("table"))
    if max(choices) >= len(geometric_tables()):
        raise DecodeError("coolchic table index out of range")
    return TileHeader(box, arch, iterations, exponents, bias_exponents, choices)


def read_model(streams: dict[str, bytes], height: int, width: int) -> tuple[int, list[TileHeader]]:
    """The tile size and every tile's header, from the ``model`` stream."""
    r = ByteReader(streams["model"])
    if r.u8("layout") != LAYOUT_VERSION:
        raise DecodeError("unknown coolchic model layout")
    tile = r.varint("tile size")
    if not MIN_TILE <= tile <= MAX_TILE:
        raise DecodeError(f"coolchic tile size {tile} outside {MIN_TILE}…{MAX_TILE}")
    headers = [_read_tile_header(r, box) for box in tile_boxes(height, width, tile)]
    if r.pos != len(streams["model"]):
        raise DecodeError("coolchic model stream has trailing bytes")
    return tile, headers


def describe_model(streams: dict[str, bytes], height: int, width: int) -> list[tuple[str, object]]:
    """The fitted architecture and fit length, as ``codec info`` shows them (of the first tile, and the tiles)."""
    tile, headers = read_model(streams, height, width)
    first = headers[0]
    arch, exponents = first.arch, first.exponents
    shapes = grid_shapes(first.box[2], first.box[3], arch.levels)
    params = sum(int(np.prod(shape)) + (shape[0] if bias else 0)
                 for tensors in tensor_layout(arch).values() for _, shape, bias in tensors)
    rows: list[tuple[str, object]] = []
    if len(headers) > 1:
        rows.append(("tiles", f"{len(headers)} of up to {tile}x{tile}, each fitted on its own (first shown)"))
    return rows + [
        ("latent grids", f"{arch.levels} ({' '.join(f'{w}x{h}' for h, w in shapes)})"),
        ("entropy model", f"{len(arch.context)}-neighbour context, {arch.arm_layers} residual layers, "
                          f"weight steps {_steps(exponents['arm'])}, bias steps {_steps(first.bias_exponents['arm'])}"),
        ("upsampling", f"8-tap per level, weight step {_steps(exponents['upsampling'])}"),
        ("synthesis", f"1x1 {arch.levels}-{arch.synthesis_hidden}-3, {arch.synthesis_residual} residual 3x3, "
                      f"weight steps {_steps(exponents['synthesis'])}, "
                      f"bias steps {_steps(first.bias_exponents['synthesis'])}"),
        ("network parameters", params),
        ("fit iterations", first.iterations),
    ]


def _steps(exponents: dict[str, int]) -> str:
    return " ".join(f"2^-{k}" for k in exponents.values())


def _read_tile_weights(decoder: RansDecoder, header: TileHeader) -> dict[str, QuantizedModule]:
    tables = list(geometric_tables())
    limit = 1 << WEIGHT_BITS
    modules, k = {}, 0
    for name, layout in tensor_layout(header.arch).items():
        weights, biases = {}, {}
        for tensor, shape, has_bias in layout:
            for target, size in ((weights, shape), (biases, shape[:1])) if has_bias else ((weights, shape),):
                count = int(np.prod(size))
                values = decode_indexed(decoder, np.full(count, header.choices[k], dtype=np.uint8), tables)
                k += 1
                if np.abs(values.astype(np.int64)).max(initial=0) > limit:
                    raise DecodeError("coolchic weight outside its range")
                target[tensor] = values.astype(np.int64).reshape(size)
        modules[name] = QuantizedModule(weights, biases, header.exponents[name], header.bias_exponents[name])
    return modules


def decode_latents(decoder: RansDecoder, laplace: LaplaceTables, arch: CoolChicArch,
                   arm_module: QuantizedModule, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """One tile's latent grids, wavefront by wavefront (see the module docstring)."""
    waves = Wavefronts.build(shapes, arch.context)
    buffer = np.zeros(waves.buffer_size, dtype=np.int64)
    arm = ExactEntropyModel(arm_module, arch.arm_layers)
    for t in range(len(waves.bounds) - 1):
        lo, hi = int(waves.bounds[t]), int(waves.bounds[t + 1])
        means, phases, scales = arm(buffer[waves.context_indexes(lo, hi)])
        values = decode_laplace(decoder, laplace, means, table_id(scales, phases))
        if np.abs(values).max(initial=0) > LATENT_LIMIT:
            raise DecodeError("coolchic latent outside its range")
        buffer[waves.order[lo:hi]] = values
    return waves.grids(buffer)


def read_tiles(streams: dict[str, bytes], height: int, width: int) -> Iterator[tuple[TileHeader, FittedModel]]:
    """Every tile's fitted model, its weights and latents decoded one tile at a time (the memory of one tile)."""
    _, headers = read_model(streams, height, width)
    try:
        weights = RansDecoder(streams["weights"])
        latents, laplace = RansDecoder(streams["latents"]), LaplaceTables()
    except ValueError as exc:
        raise DecodeError(f"coolchic stream is damaged: {exc}") from None
    for header in headers:
        try:
            modules = _read_tile_weights(weights, header)
        except (ValueError, RuntimeError, IndexError) as exc:
            raise DecodeError(f"coolchic weights stream is damaged: {exc}") from None
        _, _, h, w = header.box
        try:
            grids = decode_latents(latents, laplace, header.arch, modules["arm"], grid_shapes(h, w, header.arch.levels))
        except (ValueError, RuntimeError, IndexError) as exc:
            raise DecodeError(f"coolchic latents stream is damaged: {exc}") from None
        yield header, FittedModel(header.arch, header.iterations, modules, grids)
    try:
        weights.finish()
        latents.finish()
    except (ValueError, RuntimeError) as exc:
        raise DecodeError(f"coolchic stream is damaged: {exc}") from None


class CoolChicDecoder:
    """Exact decoding of a coolchic bitstream's streams."""

    def __init__(self, streams: dict[str, bytes], height: int, width: int) -> None:
        self.streams, self.height, self.width = streams, height, width
        read_model(streams, height, width)  # a malformed model stream fails here, before any work

    @classmethod
    def from_streams(cls, streams: dict[str, bytes], height: int, width: int) -> CoolChicDecoder:
        return cls(streams, height, width)

    def decompress(self) -> Tensor:
        """uint8 (3, H, W), tile by tile."""
        out = np.empty((3, self.height, self.width), dtype=np.uint8)
        for header, model in read_tiles(self.streams, self.height, self.width):
            top, left, h, w = header.box
            out[:, top : top + h, left : left + w] = model.reconstruct()
        return torch.from_numpy(out)
