"""ACGC entropy model runtime codec: the hyperprior's ``z`` stream, and ``y`` slice by slice in checkerboard passes.

Data flow: image → g_a → y → h_a → z (factorized stage, stream ``z``); ẑ → exact h_s → hyper parameters P (exact;
the networks see them in fixed point, the corrections are added to the exact values). Then for each slice i in
order (:func:`neuralcodec.codecs.stages.acgc.slice_bounds`): the channel context and the global attention from
the decoded earlier slices ŷ_<i (once per slice); pass 1, anchors:
(σ, μ) = P_i + slice_parameters[i](P_i, 0, channel, global) → one set of stream ``y``; pass 2, non-anchors: the
spatial context of the slice's decoded anchors, then (σ, μ) = P_i + slice_parameters[i](P_i, spatial, channel,
global) → the next set. Stream ``y`` thus holds 2 sets per slice (10 for M = 192), in decoding order.

Every network and the attention run in :mod:`neuralcodec.codecs.stages.fixed_point`, so the decoder derives the
encoder's tables and means bit for bit on any machine. On large latents they run in bands of rows (halos for the
convolutions; the attention's integer sums accumulated over all bands first), which changes no bit and bounds
memory. The declaration is :mod:`neuralcodec.codecs.acgc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.family import CodecFamily
from neuralcodec.codecs.hyperprior.codec import (
    HYPER_MARGIN,
    HYPER_TILE,
    QUANTIZED_TRANSFORMS,
    HyperpriorCodec,
    Latents,
    export_model,
)
from neuralcodec.codecs.hyperprior.transforms import HyperpriorTransforms
from neuralcodec.codecs.stages.acgc import (
    ATTENTION_DIM,
    acgc_networks,
    exact_network_names,
    slice_bounds,
    slice_hyper,
)
from neuralcodec.codecs.stages.checkerboard import anchor_mask, banded_pass, gather, keep, scatter
from neuralcodec.codecs.stages.fixed_point import (
    ACT_FRAC_BITS,
    ACT_LIMIT,
    FixedPointSequential,
    attention_apply,
    attention_means,
    attention_sums,
    to_fixed_point,
)
from neuralcodec.codecs.stages.tiling import CONTEXT_BAND_ELEMENTS, band_rows, tile_spans, tiled_apply
from neuralcodec.entropy import RansDecoder, RansEncoder

# step(slice index, positions, table indexes, means) → the symbols of that pass (coded or decoded)
PassStep = Callable[[int, Tensor, np.ndarray, Tensor], Tensor]
PARAM_LIMIT = ACT_LIMIT / (1 << ACT_FRAC_BITS)  # |scale|, |mean| ≤ 4096, as every fixed-point activation
SPATIAL_MARGIN = 2  # latent rows of halo a band needs: the spatial context is a 5×5 convolution ...
CHANNEL_MARGIN = 1  # ... the channel context a 3×3 then a 1×1


class AcgcTransforms(HyperpriorTransforms):
    """The hyperprior's transforms plus the ACGC context networks (runtime: no entropy models)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        for name, module in acgc_networks(M).items():
            setattr(self, name, module)


def export_acgc(net: torch.nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]) -> dict[str, Any]:
    """The hyperprior's model file plus the int8 context networks of every slice."""
    return export_model(net, quality, meta, family=family, quantized=QUANTIZED_TRANSFORMS + exact_network_names(net.M))


class AcgcCodec(HyperpriorCodec):
    """One rate point of the ACGC entropy model, loaded from a model-file dict."""

    transforms = AcgcTransforms
    context_band_elements = CONTEXT_BAND_ELEMENTS  # see :func:`band_rows` (tests force several bands)

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        self.bounds = slice_bounds(self.net.M)
        q, exp, weights = blob["hyper_q"], blob["hyper_exp"], blob["weights"]

        def exact(name: str) -> FixedPointSequential:
            return FixedPointSequential(self.net.get_submodule(name), name, q, exp, weights)

        slices = range(len(self.bounds))
        self.spatial = [exact(f"spatial_context.{i}") for i in slices]
        self.channel = {i: exact(f"channel_context.{i}") for i in slices if i}
        self.attention = {i: exact(f"global_context.{i}") for i in slices if i}
        self.slice_parameters = [exact(f"slice_parameters.{i}") for i in slices]

    # --- contexts and parameters ----------------------------------------------------------------------
    def hyper_parameters(self, z_hat: Tensor) -> Tensor:
        """h_s(ẑ): exact real values (float64), computed on tiles of ẑ, bit for bit the hyperprior's."""
        return tiled_apply(self.hyper_synthesis, z_hat, 2 * self.net.M, HYPER_TILE, HYPER_MARGIN, up=4,
                           out_dtype=torch.float64)

    def inter_slice_context(self, index: int, params: Tensor, earlier: Tensor, rows: int) -> Tensor | None:
        """The channel context and the global attention of slice ``index`` (fixed-point units, stacked, int32,
        whole latent) from the exact hyper parameters ``params`` and the decoded earlier slices ``earlier``
        (float32 ŷ); ``None`` for the first slice. Computed in bands of ``rows`` latent rows: the channel
        context with a halo of CHANNEL_MARGIN rows, the attention in two sweeps (its integer sums over every
        band, then each band's output), so no whole-latent float64 tensor is made."""
        if index == 0:
            return None
        first, end = self.bounds[index]
        channels = 2 * (end - first)
        height, width = earlier.shape[2:]
        out = torch.empty(1, channels + ATTENTION_DIM, height, width, dtype=torch.int32)  # |·| ≤ 2**28: exact
        for r0, r1, a0, a1 in tile_spans(height, rows, CHANNEL_MARGIN):
            channel = self.channel[index].forward_fixed(to_fixed_point(earlier[:, :, a0:a1]))
            out[:, :channels, r0:r1] = to_fixed_point(channel[:, :, r0 - a0 : r1 - a0]).int()

        def queries_keys_values(r0: int, r1: int) -> list[Tensor]:
            hyper = to_fixed_point(slice_hyper(params[:, :, r0:r1], first, end))
            inputs = torch.cat([hyper, to_fixed_point(earlier[:, :, r0:r1])], dim=1)
            return list(self.attention[index].forward_fixed(inputs).chunk(3, 1))

        spans = [(r0, r1) for r0, r1, _, _ in tile_spans(height, rows, 0)]
        kv, key_sum, queries = 0, 0, {}
        for r0, r1 in spans:
            q, k, v = queries_keys_values(r0, r1)
            band_kv, band_key_sum = attention_sums(k, v)
            kv, key_sum = kv + band_kv, key_sum + band_key_sum
            if len(spans) == 1:  # one band: keep its queries rather than compute them again
                queries[r0] = q
        means = attention_means(kv, key_sum, height * width)
        for r0, r1 in spans:
            q = queries[r0] if r0 in queries else queries_keys_values(r0, r1)[0]
            out[:, channels:, r0:r1] = attention_apply(q, means).int()
        return out

    def spatial_context(self, index: int, y_hat_slice: Tensor, anchors: Tensor) -> Tensor:
        """The spatial context (fixed-point units) of a slice, or of a band of its rows, from its decoded
        anchors (``anchors``: the anchor mask of the same rows)."""
        return to_fixed_point(self.spatial[index](keep(y_hat_slice, anchors)))

    def pass_parameters(self, index: int, hyper: Tensor, inputs: Tensor) -> tuple[np.ndarray, Tensor]:
        """Table indexes and float32 means at gathered positions (1, C, N, 1) of slice ``index``, from its exact
        hyper parameters and the network's inputs there (fixed point: hyper, spatial[, channel, global] stacked).

        The correction is added to h_s's exact output, not to its 16-bit rounding, so a zero correction (an
        untrained model) gives exactly the hyperprior's tables and means. The sum is exact in float64: both terms
        are clamped to ±PARAM_LIMIT (2**12) and are multiples of 2**-36 (int8 weight exponents ≤ 20, plus
        ACT_FRAC_BITS), so it is a multiple of 2**-36 below 2**13 — 49 significant bits at most."""
        delta = self.slice_parameters[index].forward_fixed(inputs)
        out = hyper.clamp(-PARAM_LIMIT, PARAM_LIMIT) + delta.clamp(-PARAM_LIMIT, PARAM_LIMIT)
        scales, means = out.chunk(2, 1)
        return self.y_latent.tables.indexes(scales.numpy()), means.float()

    def pass_tables(self, index: int, params: Tensor, extra: Tensor | None, y_hat: Tensor, anchors: Tensor,
                    anchor_pass: bool, rows: int) -> tuple[np.ndarray, Tensor]:
        """Table indexes (uint8) and means (float32), (1, C, N, 1) in :func:`gather` order, of one pass of slice
        ``index``: band by band of ``rows`` latent rows (a pointwise network at each position, the spatial
        context with a halo of SPATIAL_MARGIN rows), the same numbers as one pass over the whole latent."""
        first, end = self.bounds[index]

        def band_tables(r0: int, r1: int, a0: int, a1: int) -> tuple[np.ndarray, Tensor]:
            band = positions[r0:r1]
            exact_hyper = gather(slice_hyper(params[:, :, r0:r1], first, end), band)
            hyper = to_fixed_point(exact_hyper)
            if anchor_pass:  # nothing of this slice is decoded yet
                spatial = torch.zeros_like(hyper)
            else:
                spatial = self.spatial_context(index, y_hat[:, first:end, a0:a1], anchors[a0:a1])
                spatial = gather(spatial[:, :, r0 - a0 : r1 - a0], band)
            inputs = [hyper, spatial] if extra is None else [hyper, spatial, gather(extra[:, :, r0:r1], band).double()]
            return self.pass_parameters(index, exact_hyper, torch.cat(inputs, dim=1))

        positions = anchors if anchor_pass else ~anchors
        return banded_pass(positions, end - first, rows, SPATIAL_MARGIN, band_tables)

    # --- coding ---------------------------------------------------------------------------------------
    def _code_y(self, params: Tensor, step: PassStep) -> Latents:
        """Every slice's two passes over y; ``step`` codes (encoder) or decodes (decoder) one pass's symbols.
        The networks run in bands of latent rows (:func:`band_rows`), so a 24 MP image stays within a few
        hundred MB beyond its latents; every band computes exactly what one pass over the whole would."""
        _, channels, height, width = params.shape
        m = channels // 2
        rows = band_rows(channels, width, self.context_band_elements)
        anchors = anchor_mask(height, width)
        y_symbols = torch.zeros(1, m, height, width, dtype=torch.int32)
        means = torch.zeros(1, m, height, width)
        indexes = np.zeros((1, m, height, width), dtype=np.uint8)
        y_hat = torch.zeros(1, m, height, width)
        for i, (first, end) in enumerate(self.bounds):
            extra = self.inter_slice_context(i, params, y_hat[:, :first], rows)
            for anchor_pass in (True, False):
                positions = anchors if anchor_pass else ~anchors
                idx, mu = self.pass_tables(i, params, extra, y_hat, anchors, anchor_pass, rows)
                symbols = step(i, positions, idx, mu)
                scatter(symbols, positions, y_symbols[:, first:end])
                scatter(mu, positions, means[:, first:end])
                indexes[:, first:end][:, :, positions.numpy()] = idx[..., 0]
                scatter(self.y_latent.values(symbols, mu), positions, y_hat[:, first:end])
        return Latents(torch.empty(0), y_symbols, indexes, means)

    def analyse_y(self, y: Tensor, z_hat: Tensor) -> Latents:
        """y's symbols, indexes and exact means in the decoder's slice-by-slice passes, given the hyper-latent."""
        def symbols_of(index: int, positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            first, end = self.bounds[index]
            return self.y_latent.symbols(gather(y[:, first:end], positions), mu)

        return self._code_y(self.hyper_parameters(z_hat), symbols_of)

    def encode_y(self, encoder: RansEncoder, lat: Latents) -> None:
        """Code y's symbols into the ``y`` stream: per slice, the anchors' set, then the non-anchors'."""
        anchors = anchor_mask(lat.y_symbols.shape[2], lat.y_symbols.shape[3])
        for first, end in self.bounds:
            for positions in (anchors, ~anchors):
                self.y_latent.encode(encoder, gather(lat.y_symbols[:, first:end], positions),
                                     lat.indexes[:, first:end][:, :, positions.numpy()])

    def decode_y(self, z_hat: Tensor, decoder: RansDecoder) -> Latents:
        """y from the ``y`` stream in the encoder's order: each pass's tables from what is decoded before it."""
        def decode_pass(index: int, positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            return self.y_latent.decode(decoder, idx)

        return self._code_y(self.hyper_parameters(z_hat), decode_pass)
