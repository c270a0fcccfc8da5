"""Checkerboard context model runtime codec: the hyperprior's ``z`` stream, and ``y`` in two passes.

Data flow: image → g_a → y → h_a → z (factorized stage, stream ``z``); ẑ → exact h_s → hyper parameters P
(fixed point). Pass 1, anchors: (σ, μ) = P + entropy_parameters(P, 0) → symbols round(y − μ), the first set
of stream ``y``. Pass 2, non-anchors: the exact context network on the decoded anchors gives C, then
(σ, μ) = P + entropy_parameters(P, C) → the second set of stream ``y``. Every network on the way from ẑ and
the anchors to (σ, μ) runs in :mod:`neuralcodec.codecs.stages.fixed_point`, so the decoder derives the encoder's
tables bit for bit on any machine. On large latents both passes run in bands of rows (a halo for the 5×5
context), which changes no bit and bounds memory. The two passes are the sliced-checkerboard stage
(:mod:`neuralcodec.codecs.stages.sliced_checkerboard`) with one slice; :class:`TwoPassContextCodec` is the
runtime codec of every family built on that stage. The declaration is :mod:`neuralcodec.codecs.checkerboard`.
"""

from __future__ import annotations

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
from neuralcodec.codecs.stages.checkerboard import context_networks, gather
from neuralcodec.codecs.stages.fixed_point import ACT_FRAC_BITS, FixedPointSequential, exact_add, to_fixed_point
from neuralcodec.codecs.stages.sliced_checkerboard import PassStep, SlicedCheckerboardLatent
from neuralcodec.codecs.stages.tiling import CONTEXT_BAND_ELEMENTS, band_rows, tiled_apply
from neuralcodec.entropy import RansDecoder, RansEncoder

CONTEXT_TRANSFORMS = ("context_prediction", "entropy_parameters")


class CheckerboardTransforms(HyperpriorTransforms):
    """The hyperprior's transforms plus the two context networks (runtime: no entropy models)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction, self.entropy_parameters = context_networks(M)


def export_checkerboard(net: torch.nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]
                        ) -> dict[str, Any]:
    """The hyperprior's model file plus the int8 context and entropy-parameter networks."""
    return export_model(net, quality, meta, family=family, quantized=QUANTIZED_TRANSFORMS + CONTEXT_TRANSFORMS)


def rounded_correction(hyper: Tensor, delta: Tensor) -> Tensor:
    """The checkerboard family's (scales, means): the hyper parameters and the correction each rounded to the
    fixed-point grid, added as integers (exact, clamped like every activation)."""
    return exact_add(to_fixed_point(hyper), to_fixed_point(delta)) / (1 << ACT_FRAC_BITS)


class TwoPassContextCodec(HyperpriorCodec):
    """A hyperprior whose ``y`` stream is coded by a sliced-checkerboard stage
    (:class:`~neuralcodec.codecs.stages.sliced_checkerboard.SlicedCheckerboardLatent`, set up by the family as
    ``y_stage``): 2 sets per slice, its anchors, then its non-anchors; the ``z`` stream is the hyperprior's."""

    y_stage: SlicedCheckerboardLatent
    context_band_elements = CONTEXT_BAND_ELEMENTS  # see :func:`band_rows` (tests force several bands)
    band_channels_per_m = 4  # float64 channels a band counts per latent channel (sets its height, no bit)

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """(first, end) channel of each slice, in coding order."""
        return self.y_stage.bounds

    def hyper_parameters(self, z_hat: Tensor) -> Tensor:
        """h_s(ẑ): exact real values (float64), computed on tiles of ẑ, bit for bit the hyperprior's."""
        return tiled_apply(self.hyper_synthesis, z_hat, 2 * self.net.M, HYPER_TILE, HYPER_MARGIN, up=4,
                           out_dtype=torch.float64)

    def _code_y(self, params: Tensor, step: PassStep) -> Latents:
        """Every slice's two passes over y; ``step`` codes (encoder) or decodes (decoder) one pass's symbols.
        The networks run in bands of latent rows (:func:`band_rows`), so a 24 MP image stays within a few
        hundred MB beyond its latents; every band computes exactly what one pass over the whole would."""
        rows = band_rows(self.band_channels_per_m * self.net.M, params.shape[3], self.context_band_elements)
        y_symbols, indexes, means = self.y_stage.code(params, step, rows)
        return Latents(torch.empty(0), y_symbols, indexes, means)

    def analyse_y(self, y: Tensor, z_hat: Tensor) -> Latents:
        """y's symbols, indexes and exact means in the decoder's passes, given the decoded hyper-latent."""
        def symbols_of(index: int, positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            first, end = self.bounds[index]
            return self.y_latent.symbols(gather(y[:, first:end], positions), mu)

        return self._code_y(self.hyper_parameters(z_hat), symbols_of)

    def encode_y(self, encoder: RansEncoder, lat: Latents) -> None:
        """Code y's symbols into the ``y`` stream: per slice, the anchors' set, then the non-anchors'."""
        self.y_stage.encode(encoder, lat.y_symbols, lat.indexes)

    def decode_y(self, z_hat: Tensor, decoder: RansDecoder) -> Latents:
        """y from the ``y`` stream in the encoder's order: each pass's tables from what is decoded before it."""
        def decode_pass(index: int, positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            return self.y_latent.decode(decoder, idx)

        return self._code_y(self.hyper_parameters(z_hat), decode_pass)


class CheckerboardCodec(TwoPassContextCodec):
    """One rate point of the checkerboard context model, loaded from a model-file dict: the sliced-checkerboard
    stage with one slice of all M channels, no inter-slice context and the rounded correction."""

    transforms = CheckerboardTransforms

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        q, exp, weights = blob["hyper_q"], blob["hyper_exp"], blob["weights"]
        self.context = FixedPointSequential(self.net.context_prediction, "context_prediction", q, exp, weights)
        self.entropy_params = FixedPointSequential(self.net.entropy_parameters, "entropy_parameters", q, exp, weights)
        self.y_stage = SlicedCheckerboardLatent(self.y_latent, [(0, self.net.M)], [self.context],
                                                [self.entropy_params], rounded_correction)

    def anchor_context(self, y_hat: Tensor, anchors: Tensor) -> Tensor:
        """The context network's output (fixed-point units) over a latent, or a band of its rows, from the anchors
        of ŷ (``anchors``: the anchor mask of the same rows)."""
        return self.y_stage.spatial_context(0, y_hat, anchors)
