"""Checkerboard context model runtime codec: the hyperprior's ``z`` stream, and ``y`` in two passes.

Data flow: image → g_a → y → h_a → z (factorized stage, stream ``z``); ẑ → exact h_s → hyper parameters P
(fixed point). Pass 1, anchors: (σ, μ) = P + entropy_parameters(P, 0) → symbols round(y − μ), the first set
of stream ``y``. Pass 2, non-anchors: the exact context network on the decoded anchors gives C, then
(σ, μ) = P + entropy_parameters(P, C) → the second set of stream ``y``. Every network on the way from ẑ and
the anchors to (σ, μ) runs in :mod:`neuralcodec.codecs.stages.fixed_point`, so the decoder derives the encoder's
tables bit for bit on any machine. On large latents both passes run in bands of rows (a halo for the 5×5
context), which changes no bit and bounds memory. The declaration is :mod:`neuralcodec.codecs.checkerboard`.
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
from neuralcodec.codecs.stages.checkerboard import (
    anchor_mask,
    banded_pass,
    context_networks,
    gather,
    keep,
    scatter,
)
from neuralcodec.codecs.stages.fixed_point import ACT_FRAC_BITS, FixedPointSequential, exact_add, to_fixed_point
from neuralcodec.codecs.stages.tiling import CONTEXT_BAND_ELEMENTS, band_rows, tiled_apply
from neuralcodec.entropy import RansDecoder, RansEncoder

CONTEXT_TRANSFORMS = ("context_prediction", "entropy_parameters")
CONTEXT_MARGIN = 2  # latent rows of halo a band of the non-anchor pass needs: the context is a 5×5 convolution


class CheckerboardTransforms(HyperpriorTransforms):
    """The hyperprior's transforms plus the two context networks (runtime: no entropy models)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction, self.entropy_parameters = context_networks(M)


def export_checkerboard(net: torch.nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]
                        ) -> dict[str, Any]:
    """The hyperprior's model file plus the int8 context and entropy-parameter networks."""
    return export_model(net, quality, meta, family=family, quantized=QUANTIZED_TRANSFORMS + CONTEXT_TRANSFORMS)


class CheckerboardCodec(HyperpriorCodec):
    """One rate point of the checkerboard context model, loaded from a model-file dict."""

    transforms = CheckerboardTransforms
    context_band_elements = CONTEXT_BAND_ELEMENTS  # see :func:`band_rows` (tests force several bands)

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        q, exp, weights = blob["hyper_q"], blob["hyper_exp"], blob["weights"]
        self.context = FixedPointSequential(self.net.context_prediction, "context_prediction", q, exp, weights)
        self.entropy_params = FixedPointSequential(self.net.entropy_parameters, "entropy_parameters", q, exp, weights)

    # --- the two passes -------------------------------------------------------------------------------
    def hyper_parameters(self, z_hat: Tensor) -> Tensor:
        """h_s(ẑ): exact real values (float64), computed on tiles of ẑ."""
        return tiled_apply(self.hyper_synthesis, z_hat, 2 * self.net.M, HYPER_TILE, HYPER_MARGIN, up=4,
                           out_dtype=torch.float64)

    def pass_parameters(self, params: Tensor, context: Tensor) -> tuple[np.ndarray, Tensor]:
        """Table indexes and float32 means at gathered positions (1, C, N, 1), from P and the context C (both in
        fixed-point units)."""
        delta = self.entropy_params.forward_fixed(torch.cat([params, context], dim=1))
        out = exact_add(params, to_fixed_point(delta)) / (1 << ACT_FRAC_BITS)
        scales, means = out.chunk(2, 1)
        return self.y_latent.tables.indexes(scales.numpy()), means.float()

    def anchor_context(self, y_hat: Tensor, anchors: Tensor) -> Tensor:
        """The context network's output (fixed-point units) over a latent, or a band of its rows, from the anchors
        of ŷ (``anchors``: the anchor mask of the same rows)."""
        return to_fixed_point(self.context(keep(y_hat, anchors)))

    def pass_tables(self, params: Tensor, y_hat: Tensor, anchors: Tensor, anchor_pass: bool,
                    rows: int) -> tuple[np.ndarray, Tensor]:
        """Table indexes (uint8) and means (float32), (1, M, N, 1) in :func:`gather` order, of one pass: band by
        band of ``rows`` latent rows (the context with a halo of CONTEXT_MARGIN rows), the same numbers as one
        pass over the whole latent."""
        def band_tables(r0: int, r1: int, a0: int, a1: int) -> tuple[np.ndarray, Tensor]:
            band = positions[r0:r1]
            hyper = to_fixed_point(gather(params[:, :, r0:r1], band))
            if anchor_pass:  # nothing is decoded yet: the context is zero
                context = torch.zeros_like(hyper)
            else:
                context = self.anchor_context(y_hat[:, :, a0:a1], anchors[a0:a1])
                context = gather(context[:, :, r0 - a0 : r1 - a0], band)
            return self.pass_parameters(hyper, context)

        positions = anchors if anchor_pass else ~anchors
        return banded_pass(positions, self.net.M, rows, CONTEXT_MARGIN, band_tables)

    # --- coding ---------------------------------------------------------------------------------------
    def _code_y(self, params: Tensor, step) -> Latents:  # noqa: ANN001 - step: (pass, indexes, means) → symbols
        """Both passes over y; ``step`` codes (encoder) or decodes (decoder) one pass's symbols. The networks run
        in bands of latent rows (:func:`band_rows`), so a 24 MP image stays within a few hundred MB beyond its
        latents."""
        _, channels, height, width = params.shape
        m = channels // 2
        rows = band_rows(2 * channels, width, self.context_band_elements)
        anchors = anchor_mask(height, width)
        y_symbols = torch.zeros(1, m, height, width, dtype=torch.int32)
        means = torch.zeros(1, m, height, width)
        indexes = np.zeros((1, m, height, width), dtype=np.uint8)
        y_hat = torch.zeros(1, m, height, width)
        for anchor_pass in (True, False):
            positions = anchors if anchor_pass else ~anchors
            idx, mu = self.pass_tables(params, y_hat, anchors, anchor_pass, rows)
            symbols = step(positions, idx, mu)
            scatter(symbols, positions, y_symbols)
            scatter(mu, positions, means)
            indexes[:, :, positions.numpy()] = idx[..., 0]
            scatter(self.y_latent.values(symbols, mu), positions, y_hat)
        return Latents(torch.empty(0), y_symbols, indexes, means)

    def analyse_y(self, y: Tensor, z_hat: Tensor) -> Latents:
        """y's symbols, indexes and exact means in the decoder's two passes, given the decoded hyper-latent."""
        def symbols_of(positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            return self.y_latent.symbols(gather(y, positions), mu)

        return self._code_y(self.hyper_parameters(z_hat), symbols_of)

    def encode_y(self, encoder: RansEncoder, lat: Latents) -> None:
        """Code y's symbols into the ``y`` stream in two sets: anchors, then non-anchors."""
        anchors = anchor_mask(lat.y_symbols.shape[2], lat.y_symbols.shape[3])
        for positions in (anchors, ~anchors):
            self.y_latent.encode(encoder, gather(lat.y_symbols, positions), lat.indexes[:, :, positions.numpy()])

    def decode_y(self, z_hat: Tensor, decoder: RansDecoder) -> Latents:
        """y from the ``y`` stream in the encoder's two passes: each pass's tables from what is decoded."""
        def decode_pass(positions: Tensor, idx: np.ndarray, mu: Tensor) -> Tensor:
            return self.y_latent.decode(decoder, idx)

        return self._code_y(self.hyper_parameters(z_hat), decode_pass)
