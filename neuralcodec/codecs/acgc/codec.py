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
memory. The slices and passes are the sliced-checkerboard stage (:mod:`neuralcodec.codecs.stages.sliced_checkerboard`)
with the inter-slice contexts of :meth:`AcgcCodec.inter_slice_context`. The declaration is
:mod:`neuralcodec.codecs.acgc`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuralcodec.codecs.checkerboard.codec import TwoPassContextCodec
from neuralcodec.codecs.family import CodecFamily
from neuralcodec.codecs.hyperprior.codec import QUANTIZED_TRANSFORMS, export_model
from neuralcodec.codecs.hyperprior.transforms import HyperpriorTransforms
from neuralcodec.codecs.stages.acgc import ATTENTION_DIM, acgc_networks, exact_network_names, slice_bounds
from neuralcodec.codecs.stages.fixed_point import (
    ACT_FRAC_BITS,
    ACT_LIMIT,
    FixedPointSequential,
    attention_apply,
    attention_means,
    attention_sums,
    to_fixed_point,
)
from neuralcodec.codecs.stages.sliced_checkerboard import SlicedCheckerboardLatent, slice_hyper
from neuralcodec.codecs.stages.tiling import tile_spans

PARAM_LIMIT = ACT_LIMIT / (1 << ACT_FRAC_BITS)  # |scale|, |mean| ≤ 4096, as every fixed-point activation
CHANNEL_MARGIN = 1  # latent rows of halo a band of the channel context needs: a 3×3 then a 1×1 convolution


class AcgcTransforms(HyperpriorTransforms):
    """The hyperprior's transforms plus the ACGC context networks (runtime: no entropy models)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        for name, module in acgc_networks(M).items():
            setattr(self, name, module)


def export_acgc(net: torch.nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]) -> dict[str, Any]:
    """The hyperprior's model file plus the int8 context networks of every slice."""
    return export_model(net, quality, meta, family=family, quantized=QUANTIZED_TRANSFORMS + exact_network_names(net.M))


def exact_correction(hyper: Tensor, delta: Tensor) -> Tensor:
    """ACGC's (scales, means): the correction added to h_s's exact output, not to its 16-bit rounding, so a zero
    correction (an untrained model) gives exactly the hyperprior's tables and means. The sum is exact in float64:
    both terms are clamped to ±PARAM_LIMIT (2**12) and are multiples of 2**-36 (int8 weight exponents ≤ 20, plus
    ACT_FRAC_BITS), so it is a multiple of 2**-36 below 2**13 — 49 significant bits at most."""
    return hyper.clamp(-PARAM_LIMIT, PARAM_LIMIT) + delta.clamp(-PARAM_LIMIT, PARAM_LIMIT)


class AcgcCodec(TwoPassContextCodec):
    """One rate point of the ACGC entropy model, loaded from a model-file dict: the sliced-checkerboard stage with
    5 slices, the channel and global contexts between slices and the exact correction."""

    transforms = AcgcTransforms
    band_channels_per_m = 2

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        bounds = slice_bounds(self.net.M)
        q, exp, weights = blob["hyper_q"], blob["hyper_exp"], blob["weights"]

        def exact(name: str) -> FixedPointSequential:
            return FixedPointSequential(self.net.get_submodule(name), name, q, exp, weights)

        slices = range(len(bounds))
        self.channel = {i: exact(f"channel_context.{i}") for i in slices if i}
        self.attention = {i: exact(f"global_context.{i}") for i in slices if i}
        self.y_stage = SlicedCheckerboardLatent(
            self.y_latent, bounds, [exact(f"spatial_context.{i}") for i in slices],
            [exact(f"slice_parameters.{i}") for i in slices], exact_correction, self.inter_slice_context)

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
