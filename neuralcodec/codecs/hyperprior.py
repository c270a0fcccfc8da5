"""Mean-scale hyperprior codec: real compress / decompress through ``entropy/`` (not CompressAI's).

Data flow: image → g_a → y → h_a → z → round(z − median) → factorized tables (chunk 0);
z_hat → exact fixed-point h_s → (scale index, mean) → round(y − mean) → Gaussian tables (chunk 1);
decoding mirrors it and runs g_s on y_hat = symbols + mean.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.fixed_point import FixedPointHyperSynthesis, dequantize_weight, quantize_weight
from neuralcodec.codecs.hyperprior_net import MeanScaleHyperpriorNet
from neuralcodec.codecs.model_file import MODEL_FORMAT, compact_state_dict, weights_hash
from neuralcodec.codecs.tiling import tile_spans, tiled_apply
from neuralcodec.entropy import (
    RansDecoder,
    RansEncoder,
    build_gaussian_tables,
    decode_indexed,
    encode_indexed,
    pack_tables,
    quantize_pmf,
    scale_table,
    unpack_tables,
)
from neuralcodec.errors import DecodeError

# Tile margins (context beyond each tile) exceed the receptive fields: g_a sees ±61 input pixels,
# g_s ±3 latent pixels per output pixel, the hyper-decoder ±3 hyper-latent pixels.
ANALYSIS_MARGIN = 64  # input pixels
SYNTHESIS_MARGIN = 4  # latent pixels (64 output pixels)
HYPER_TILE, HYPER_MARGIN = 24, 3  # hyper-latent pixels (the exact receptive field is ±2)

FAMILY = "hyperprior"
__all__ = ["FAMILY", "FAMILY_ID", "HyperpriorCodec", "MeanScaleHyperpriorNet", "build_net", "export_model",
           "float_state_dict"]
FAMILY_ID = 1
# (name in h_a / h_s, index in the Sequential, transposed?, out_dim of the weight, stride, padding, out_pad)
_HYPER_LAYERS = {
    "h_a": [(0, False, 1, 1), (2, False, 2, 2), (4, False, 2, 2)],
    "h_s": [(0, True, 2, 2), (2, True, 2, 2), (4, False, 1, 1)],
}


def _hyper_weight_keys() -> list[tuple[str, int, bool]]:
    return [(f"{name}.{i}.weight", i, transposed)
            for name, layers in _HYPER_LAYERS.items() for i, transposed, _, _ in layers]


def build_net(N: int = 128, M: int = 192, **_: Any) -> MeanScaleHyperpriorNet:
    """The training network for the given hyperparameters (other keys are ignored)."""
    return MeanScaleHyperpriorNet(int(N), int(M))


def export_model(net: MeanScaleHyperpriorNet, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The compact model-file dict: fp16 transforms, int8 hyper-transforms, integer tables."""
    net = copy.deepcopy(net).float().eval()
    eb = net.entropy_bottleneck
    with torch.no_grad():
        eb._update_quantiles()  # exact quantiles from the learned CDF, whatever the aux loss reached
        medians = eb.quantiles[:, 0, 1].detach().clone()
        minima = torch.clamp(torch.ceil(medians - eb.quantiles[:, 0, 0]), min=0).long()
        maxima = torch.clamp(torch.ceil(eb.quantiles[:, 0, 2] - medians), min=0).long()
        lengths = minima + maxima + 1
        samples = torch.arange(int(lengths.max()), dtype=torch.float32)[None, :] + (medians - minima)[:, None]
        pmf, lower, upper = eb._likelihood(samples[:, None, :].contiguous(), stop_gradient=True)
        z_tables = []
        for c, n in enumerate(lengths.tolist()):
            tail = torch.sigmoid(lower[c, 0, 0]) + torch.sigmoid(-upper[c, 0, n - 1])
            z_tables.append(quantize_pmf(pmf[c, 0, :n].double().numpy(), float(tail), -int(minima[c])))
    state = net.state_dict()
    hyper_q, hyper_exp = {}, {}
    for key, _i, transposed in _hyper_weight_keys():
        hyper_q[key], hyper_exp[key] = quantize_weight(state[key], 1 if transposed else 0)
    scales = scale_table()
    blob: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "family": FAMILY,
        "model_id": 0,
        "quality": int(quality),
        "arch": {"N": net.N, "M": net.M},
        "weights": compact_state_dict(state, skip=set(hyper_q)),
        "hyper_q": hyper_q,
        "hyper_exp": hyper_exp,
        "z_medians": medians.float(),
        "z_tables": {k: torch.from_numpy(v) for k, v in pack_tables(z_tables).items()},
        "scale_table": torch.from_numpy(scales),
        # geometric midpoints between table scales: the stored, exact index thresholds
        "scale_thresholds": torch.from_numpy(np.sqrt(scales[:-1] * scales[1:])),
        "y_tables": {k: torch.from_numpy(v) for k, v in pack_tables(build_gaussian_tables(scales)).items()},
        "meta": meta,
    }
    return blob


def float_state_dict(blob: dict[str, Any]) -> dict[str, Tensor]:
    """Full float32 state dict of the network (hyper weights dequantized): for warm starts and coding."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["weights"].items()}
    for key, _i, transposed in _hyper_weight_keys():
        state[key] = dequantize_weight(blob["hyper_q"][key], blob["hyper_exp"][key], 1 if transposed else 0)
    return state


@dataclass
class Latents:
    """Everything coded for one image: symbols of z and y, and y's table indexes and exact means."""

    z_symbols: Tensor  # int32 (1, N, H/64, W/64)
    y_symbols: Tensor  # int32 (1, M, H/16, W/16)
    indexes: np.ndarray  # Gaussian table index of every y symbol
    means: Tensor  # float32, exact


def _pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int]:
    return (-height) % multiple, (-width) % multiple


class HyperpriorCodec:
    """One rate point of the mean-scale hyperprior, loaded from a model-file dict."""

    family = FAMILY
    family_id = FAMILY_ID
    # Images of more pixels than this (after padding) are transformed in overlapping tiles of
    # ``tile_pixels`` a side, to bound memory; the bitstream does not depend on either. Multiple of 64.
    whole_image_max_pixels = 1 << 20
    tile_pixels = 512

    def __init__(self, blob: dict[str, Any]) -> None:
        self.quality = int(blob["quality"])
        self.model_id = int(blob["model_id"])
        self.weights_hash = weights_hash(blob)
        self.meta = dict(blob.get("meta", {}))
        arch = blob["arch"]
        self.net = MeanScaleHyperpriorNet(int(arch["N"]), int(arch["M"]))
        self.net.load_state_dict(float_state_dict(blob), strict=False)
        # channels_last lets oneDNN pick faster conv kernels on CPU (≈1.5× for g_a / g_s here)
        self.net.eval().to(memory_format=torch.channels_last)
        layers = []
        for key, i, transposed in _hyper_weight_keys():
            if not key.startswith("h_s."):
                continue
            _, _, stride, pad = next(spec for spec in _HYPER_LAYERS["h_s"] if spec[0] == i)
            layers.append({
                "q": blob["hyper_q"][key], "exp": blob["hyper_exp"][key],
                "bias": blob["weights"][key.replace(".weight", ".bias")],
                "transposed": transposed, "stride": stride, "padding": pad,
                "output_padding": 1 if transposed else 0, "leaky": i < 4,
            })
        self.hyper_synthesis = FixedPointHyperSynthesis(layers)
        self.z_medians = blob["z_medians"].float()
        self.z_tables = unpack_tables(**{k: v.numpy() for k, v in blob["z_tables"].items()})
        self.y_tables = unpack_tables(**{k: v.numpy() for k, v in blob["y_tables"].items()})
        self.scale_thresholds = blob["scale_thresholds"].double().numpy()
        if len(self.z_tables) != self.net.N or len(self.y_tables) != len(self.scale_thresholds) + 1:
            raise ValueError("model file tables do not match the architecture")

    # --- shared pieces of encoder and decoder -------------------------------------------------------
    def _z_hat(self, z_symbols: Tensor) -> Tensor:
        return z_symbols.float() + self.z_medians.view(1, -1, 1, 1)

    def _entropy_parameters(self, z_hat: Tensor) -> tuple[np.ndarray, Tensor]:
        """Gaussian table index (uint8, exact) and mean (float32, exact) of every latent.

        Runs the integer hyper-decoder on tiles of z (exact, so tiling changes nothing) to bound memory.
        """
        _, _, zh, zw = z_hat.shape
        indexes = np.empty((1, self.net.M, zh * 4, zw * 4), dtype=np.uint8)
        means = torch.empty(1, self.net.M, zh * 4, zw * 4)
        for r0, r1, a0, a1 in tile_spans(zh, HYPER_TILE, HYPER_MARGIN):
            for c0, c1, b0, b1 in tile_spans(zw, HYPER_TILE, HYPER_MARGIN):
                scales, mu = self.hyper_synthesis(z_hat[:, :, a0:a1, b0:b1])
                rows = slice(4 * (r0 - a0), 4 * (r1 - a0))
                cols = slice(4 * (c0 - b0), 4 * (c1 - b0))
                idx = np.searchsorted(self.scale_thresholds, scales[:, :, rows, cols].numpy(), side="right")
                indexes[:, :, 4 * r0 : 4 * r1, 4 * c0 : 4 * c1] = idx
                means[:, :, 4 * r0 : 4 * r1, 4 * c0 : 4 * c1] = mu[:, :, rows, cols].float()
        return indexes, means

    def _z_channel_indexes(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)

    def padded_pixels(self, height: int, width: int) -> int:
        """Pixels the transforms process for an image of this size (after padding to a multiple of 64)."""
        ph, pw = _pad_amounts(height, width, self.net.downsampling)
        return (height + ph) * (width + pw)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of y and z for an image of this size (after padding to a multiple of 64)."""
        ph, pw = _pad_amounts(height, width, self.net.downsampling)
        hp, wp = height + ph, width + pw
        return (1, self.net.M, hp // 16, wp // 16), (1, self.net.N, hp // 64, wp // 64)

    # --- coding ---------------------------------------------------------------------------------------
    def _padded_input(self, image: Tensor) -> Tensor:
        """uint8 (1, 3, H', W') padded to a multiple of 64 by edge replication (cheaper edges than zeros)."""
        ph, pw = _pad_amounts(image.shape[1], image.shape[2], self.net.downsampling)
        if ph or pw:  # padded in uint8: a float copy of a 24-megapixel image would cost 288 MB
            image = torch.cat([image, image[:, -1:, :].expand(-1, ph, -1)], dim=1)
            image = torch.cat([image, image[:, :, -1:].expand(-1, -1, pw)], dim=2)
        return image.unsqueeze(0)

    def _g_a(self, pixels: Tensor) -> Tensor:
        x = (pixels.float() / 255.0).contiguous(memory_format=torch.channels_last)
        return self.net.g_a(x)

    def _analysis(self, pixels: Tensor) -> Tensor:
        if pixels.shape[2] * pixels.shape[3] <= self.whole_image_max_pixels:
            return self._g_a(pixels)
        return tiled_apply(self._g_a, pixels, self.net.M, self.tile_pixels, ANALYSIS_MARGIN, down=16)

    def _synthesis(self, y_hat: Tensor) -> Tensor:
        if y_hat.shape[2] * y_hat.shape[3] * 256 <= self.whole_image_max_pixels:
            return self.net.g_s(y_hat)
        return tiled_apply(self.net.g_s, y_hat, 3, self.tile_pixels // 16, SYNTHESIS_MARGIN, up=16)

    @torch.no_grad()
    def analyse(self, image: Tensor) -> Latents:
        """The symbols (and exact means) the encoder will code for a uint8 RGB image (3, H, W)."""
        y = self._analysis(self._padded_input(image))
        z = self.net.h_a(y)
        z_symbols = torch.round(z - self.z_medians.view(1, -1, 1, 1)).to(torch.int32)
        indexes, means = self._entropy_parameters(self._z_hat(z_symbols))
        y_symbols = torch.round(y - means).to(torch.int32)
        return Latents(z_symbols, y_symbols, indexes, means)

    def compress(self, image: Tensor, reconstruct: bool = False) -> tuple[list[bytes], Tensor | None]:
        """Code a uint8 RGB image (3, H, W) into chunks.

        With ``reconstruct`` it also returns what the decoder will output (costs a synthesis pass).
        """
        lat = self.analyse(image)
        enc_z, enc_y = RansEncoder(), RansEncoder()
        encode_indexed(enc_z, lat.z_symbols.numpy(), self._z_channel_indexes(lat.z_symbols.shape), self.z_tables)
        encode_indexed(enc_y, lat.y_symbols.numpy(), lat.indexes, self.y_tables)
        x_hat = None
        if reconstruct:
            with torch.no_grad():
                x_hat = self._synthesize(lat.y_symbols, lat.means, image.shape[1], image.shape[2])
        return [enc_z.finish(), enc_y.finish()], x_hat

    @torch.no_grad()
    def decode_latents(self, chunks: list[bytes], height: int, width: int) -> Latents:
        """Entropy-decode the symbols of an image of the given size from the chunks of :meth:`compress`."""
        if len(chunks) != 2:
            raise DecodeError(f"hyperprior stream needs 2 chunks, found {len(chunks)}")
        y_shape, z_shape = self.latent_shapes(height, width)
        try:
            z_symbols = decode_indexed(RansDecoder(chunks[0]), self._z_channel_indexes(z_shape), self.z_tables)
            z_symbols = torch.from_numpy(z_symbols)
            indexes, means = self._entropy_parameters(self._z_hat(z_symbols))
            y_symbols = torch.from_numpy(decode_indexed(RansDecoder(chunks[1]), indexes, self.y_tables))
        except (ValueError, RuntimeError, OverflowError) as exc:  # how constriction reports bad data
            raise DecodeError(f"entropy-coded data is invalid: {exc}") from None
        return Latents(z_symbols, y_symbols, indexes, means)

    def decompress(self, chunks: list[bytes], height: int, width: int) -> Tensor:
        """uint8 RGB image (3, height, width) from the two chunks written by :meth:`compress`."""
        lat = self.decode_latents(chunks, height, width)
        with torch.no_grad():
            return self._synthesize(lat.y_symbols, lat.means, height, width)

    def _synthesize(self, y_symbols: Tensor, means: Tensor, height: int, width: int) -> Tensor:
        y_hat = (y_symbols.float() + means).contiguous(memory_format=torch.channels_last)
        del y_symbols, means
        x_hat = self._synthesis(y_hat)[0, :, :height, :width]
        return x_hat.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)  # in place: no extra image copies

    @torch.no_grad()
    def forward_rounded(self, image: Tensor) -> Tensor:
        """In-memory pass with rounding and the float hyper-synthesis (reference for tests)."""
        y = self._g_a(self._padded_input(image))
        z_hat = self._z_hat(torch.round(self.net.h_a(y) - self.z_medians.view(1, -1, 1, 1)))
        _, means = self.net.h_s(z_hat).chunk(2, 1)
        y_hat = torch.round(y - means) + means
        x_hat = self.net.g_s(y_hat)[0, :, : image.shape[1], : image.shape[2]]
        return torch.round(x_hat.clamp(0, 1) * 255.0).to(torch.uint8)
