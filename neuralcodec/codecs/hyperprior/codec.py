"""Mean-scale hyperprior runtime codec: real compress / decompress through ``entropy/`` (not CompressAI's).

Data flow: image → g_a → y → h_a → z → factorized stage (stream ``z``); z_hat → exact fixed-point h_s →
(scale index, mean) → Gaussian conditional stage (stream ``y``); decoding mirrors it and runs g_s on
y_hat = symbols + mean. The family's declaration is :mod:`neuralcodec.codecs.hyperprior`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.codecs.family import CodecFamily
from neuralcodec.codecs.hyperprior.transforms import SYNTHESIS_GRIDS, SYNTHESIS_SQUARE_BITS, HyperpriorTransforms
from neuralcodec.codecs.model_file import MODEL_FORMAT, LoadedModel, compact_state_dict
from neuralcodec.codecs.stages import FactorizedLatent, GaussianConditionalLatent, pad_amounts, pad_replicate
from neuralcodec.codecs.stages.exact_synthesis import ExactSynthesis
from neuralcodec.codecs.stages.fixed_point import FixedPointSequential, dequantize_sequential, quantize_sequential
from neuralcodec.codecs.stages.tiling import tiled_apply
from neuralcodec.entropy import RansDecoder, RansEncoder
from neuralcodec.errors import DecodeError

# Tile margins (context beyond each tile) exceed the receptive fields: g_a sees ±61 input pixels,
# g_s ±3 latent pixels per output pixel, the hyper-decoder ±3 hyper-latent pixels.
ANALYSIS_MARGIN = 64  # input pixels
SYNTHESIS_MARGIN = 4  # latent pixels (64 output pixels)
HYPER_TILE, HYPER_MARGIN = 24, 3  # hyper-latent pixels (the exact receptive field is ±2)
# h_a and h_s are stored as int8 weights with power-of-two exponents; h_s runs exactly from them.
QUANTIZED_TRANSFORMS = ("h_a", "h_s")


def export_model(net: nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily],
                 quantized: tuple[str, ...] = QUANTIZED_TRANSFORMS) -> dict[str, Any]:
    """The compact model-file dict: fp16 transforms, int8 ``quantized`` transforms, integer tables.

    Families built on the hyperprior (e.g. the checkerboard context model) pass their own family and the
    extra exact networks to store as int8 (``nn.Sequential`` modules by name, nested names such as
    ``"slice_parameters.2"`` included).
    """
    net = copy.deepcopy(net).float().eval()
    hyper_q, hyper_exp = {}, {}
    with torch.no_grad():
        for name in quantized:
            q, exp = quantize_sequential(net.get_submodule(name), name)  # a name may be nested: "a.1"
            hyper_q.update(q)
            hyper_exp.update(exp)
    return {
        "format": MODEL_FORMAT,
        "family": family.name,
        "model_id": 0,
        "quality": int(quality),
        "arch": {"N": net.N, "M": net.M},
        "weights": compact_state_dict(net.state_dict(), skip=set(hyper_q)),
        "hyper_q": hyper_q,
        "hyper_exp": hyper_exp,
        **FactorizedLatent.export(net.entropy_bottleneck, "z"),
        **GaussianConditionalLatent.export("y"),
        "meta": meta,
    }


def float_state_dict(blob: dict[str, Any], net: nn.Module) -> dict[str, Tensor]:
    """Full float32 state dict of ``net`` (int8 weights dequantized): for warm starts and coding."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["weights"].items()}
    for name in sorted({key.rsplit(".", 2)[0] for key in blob["hyper_q"]}):  # keys are "{network}.{layer}.weight"
        state.update(dequantize_sequential(net.get_submodule(name), name, blob["hyper_q"], blob["hyper_exp"]))
    return state


@dataclass
class Latents:
    """Everything coded for one image: symbols of z and y, and y's table indexes and exact means."""

    z_symbols: Tensor  # int32 (1, N, H/64, W/64)
    y_symbols: Tensor  # int32 (1, M, H/16, W/16)
    indexes: np.ndarray  # Gaussian table index of every y symbol
    means: Tensor  # float32, exact


class HyperpriorCodec(LoadedModel):
    """One rate point of the mean-scale hyperprior, loaded from a model-file dict."""

    transforms: type[nn.Module] = HyperpriorTransforms  # the runtime network (no entropy models, no CompressAI)
    # Images of more pixels than this (after padding) are transformed in overlapping tiles of
    # ``tile_pixels`` a side, to bound memory; the bitstream does not depend on either. Multiple of 64.
    whole_image_max_pixels = 1 << 20
    tile_pixels = 512

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        self.net = self.transforms(int(blob["arch"]["N"]), int(blob["arch"]["M"]))
        missing = self.net.load_state_dict(float_state_dict(blob, self.net), strict=False).missing_keys
        if missing:
            raise ValueError(f"weights missing from the model file: {', '.join(missing[:3])}")
        # channels_last lets oneDNN pick faster conv kernels on CPU (≈1.5× for g_a / g_s here)
        self.net.eval().to(memory_format=torch.channels_last)
        self.hyper_synthesis = FixedPointSequential(self.net.h_s, "h_s", blob["hyper_q"], blob["hyper_exp"],
                                                    blob["weights"])
        self.z_latent = FactorizedLatent.from_model_file(blob, "z")
        self.y_latent = GaussianConditionalLatent.from_model_file(blob, "y")
        if len(self.z_latent.tables) != self.net.N:
            raise ValueError("model file tables do not match the architecture")

    # --- shared pieces of encoder and decoder -------------------------------------------------------
    def entropy_parameters(self, z_hat: Tensor) -> tuple[np.ndarray, Tensor]:
        """Gaussian table index (uint8, exact) and mean (float32, exact) of every latent."""
        return self.y_latent.parameters(self.hyper_synthesis, z_hat, self.net.M, up=4, tile=HYPER_TILE,
                                        margin=HYPER_MARGIN)

    def padded_pixels(self, height: int, width: int) -> int:
        """Pixels the transforms process for an image of this size (after padding to a multiple of 64)."""
        ph, pw = pad_amounts(height, width, self.net.downsampling)
        return (height + ph) * (width + pw)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of y and z for an image of this size (after padding to a multiple of 64)."""
        ph, pw = pad_amounts(height, width, self.net.downsampling)
        hp, wp = height + ph, width + pw
        return (1, self.net.M, hp // 16, wp // 16), (1, self.net.N, hp // 64, wp // 64)

    # --- coding ---------------------------------------------------------------------------------------
    def _g_a(self, pixels: Tensor) -> Tensor:
        x = (pixels.float() / 255.0).contiguous(memory_format=torch.channels_last)
        return self.net.g_a(x)

    def _analysis(self, pixels: Tensor) -> Tensor:
        if pixels.shape[2] * pixels.shape[3] <= self.whole_image_max_pixels:
            return self._g_a(pixels)
        return tiled_apply(self._g_a, pixels, self.net.M, self.tile_pixels, ANALYSIS_MARGIN, down=16)

    @cached_property
    def synthesis(self) -> ExactSynthesis:
        """g_s's exact integer twin (a file decodes to the same pixels on every machine); built when first needed,
        so encoding without a reconstruction does not pay for it."""
        return ExactSynthesis(self.net.g_s, list(SYNTHESIS_GRIDS), list(SYNTHESIS_SQUARE_BITS))

    def _g_s_pixels(self, y_hat: Tensor) -> Tensor:
        """uint8 pixels of the exact synthesis (integer arithmetic: the same on a tile as on the whole image)."""
        return self.synthesis(y_hat)

    def _synthesis(self, y_hat: Tensor) -> Tensor:
        """uint8 pixels (1, 3, 16·h, 16·w) of ŷ; large images in tiles, so no float image is ever whole."""
        if y_hat.shape[2] * y_hat.shape[3] * 256 <= self.whole_image_max_pixels:
            return self._g_s_pixels(y_hat)
        return tiled_apply(self._g_s_pixels, y_hat, 3, self.tile_pixels // 16, SYNTHESIS_MARGIN, up=16,
                           out_dtype=torch.uint8)

    @torch.no_grad()
    def analysis(self, image: Tensor) -> Tensor:
        """The latent ``y = g_a(x)`` (1, M, H'/16, W'/16) of a uint8 RGB image, padded as for coding."""
        return self._analysis(pad_replicate(image, self.net.downsampling))

    @torch.no_grad()
    def analyse(self, image: Tensor) -> Latents:
        """The symbols (and exact means) the encoder will code for a uint8 RGB image (3, H, W)."""
        y = self.analysis(image)
        z_symbols = self.z_latent.symbols(self.net.h_a(y))
        lat = self.analyse_y(y, self.z_latent.values(z_symbols))
        lat.z_symbols = z_symbols
        return lat

    def analyse_y(self, y: Tensor, z_hat: Tensor) -> Latents:
        """y's symbols, table indexes and exact means, given the decoded hyper-latent (the encoder's side of
        :meth:`decode_y`)."""
        indexes, means = self.entropy_parameters(z_hat)
        return Latents(torch.empty(0), self.y_latent.symbols(y, means), indexes, means)

    def compress(self, image: Tensor, reconstruct: bool = False) -> tuple[dict[str, bytes], Tensor | None]:
        """Code a uint8 RGB image (3, H, W) into the streams ``z`` and ``y``.

        With ``reconstruct`` it also returns what the decoder will output (costs a synthesis pass).
        """
        lat = self.analyse(image)
        enc_z, enc_y = RansEncoder(), RansEncoder()
        self.z_latent.encode(enc_z, lat.z_symbols)
        self.encode_y(enc_y, lat)
        x_hat = None
        if reconstruct:
            with torch.no_grad():
                x_hat = self._synthesize(self.y_latent.values(lat.y_symbols, lat.means), image.shape[1],
                                         image.shape[2])
        return {"z": enc_z.finish(), "y": enc_y.finish()}, x_hat

    def encode_y(self, encoder: RansEncoder, lat: Latents) -> None:
        """Code y's symbols into the ``y`` stream (one set, tables from the hyper-decoder)."""
        self.y_latent.encode(encoder, lat.y_symbols, lat.indexes)

    def decode_y(self, z_hat: Tensor, decoder: RansDecoder) -> Latents:
        """y's symbols, table indexes and means from the ``y`` stream, given the decoded hyper-latent."""
        indexes, means = self.entropy_parameters(z_hat)
        return Latents(torch.empty(0), self.y_latent.decode(decoder, indexes), indexes, means)

    @torch.no_grad()
    def decode_latents(self, streams: dict[str, bytes], height: int, width: int) -> Latents:
        """Entropy-decode the symbols of an image of the given size from the streams of :meth:`compress`;
        every stream must be consumed exactly."""
        _, z_shape = self.latent_shapes(height, width)
        try:
            z_decoder = RansDecoder(streams["z"])
            z_symbols = self.z_latent.decode(z_decoder, z_shape)
            z_decoder.finish()
            y_decoder = RansDecoder(streams["y"])
            lat = self.decode_y(self.z_latent.values(z_symbols), y_decoder)
            y_decoder.finish()
        except (ValueError, RuntimeError, OverflowError) as exc:  # how constriction reports bad data
            raise DecodeError(f"entropy-coded data is invalid: {exc}") from None
        lat.z_symbols = z_symbols
        return lat

    def decode_symbols(self, streams: dict[str, bytes], height: int, width: int) -> dict[str, np.ndarray]:
        """The decoded int32 symbols of each stream."""
        lat = self.decode_latents(streams, height, width)
        return {"z": lat.z_symbols.numpy(), "y": lat.y_symbols.numpy()}

    def decompress(self, streams: dict[str, bytes], height: int, width: int) -> Tensor:
        """uint8 RGB image (3, height, width) from the streams written by :meth:`compress`."""
        lat = self.decode_latents(streams, height, width)
        with torch.no_grad():
            y_hat = self.y_latent.values(lat.y_symbols, lat.means)
            del lat  # symbols, indexes and means: ≈ 9 bytes a latent element, freed before the synthesis
            return self._synthesize(y_hat, height, width)

    def _synthesize(self, y_hat: Tensor, height: int, width: int) -> Tensor:
        """uint8 RGB (3, height, width) of the dequantized latent ŷ."""
        return self._synthesis(y_hat.contiguous(memory_format=torch.channels_last))[0, :, :height, :width]

    @torch.no_grad()
    def forward_rounded(self, image: Tensor) -> Tensor:
        """In-memory pass with rounding and the float hyper-synthesis (reference for tests)."""
        y = self._g_a(pad_replicate(image, self.net.downsampling))
        z_hat = self.z_latent.values(self.z_latent.symbols(self.net.h_a(y)))
        _, means = self.net.h_s(z_hat).chunk(2, 1)
        y_hat = torch.round(y - means) + means
        x_hat = self.net.g_s(y_hat)[0, :, : image.shape[1], : image.shape[2]]
        return torch.round(x_hat.clamp(0, 1) * 255.0).to(torch.uint8)
