"""The sliced-checkerboard latent stage: y coded as S channel slices, each in two checkerboard passes.

Slices are coded in order; slice i is coded as its anchors, then its non-anchors (:mod:`.checkerboard`), so
decoding takes 2·S passes whatever the image size. Every pass's Gaussian (scales, means) is the slice's hyper
parameters P_i (h_s's output for its channels) plus a correction from one parameter network per slice:

    (scales_i, means_i) = P_i + parameters[i](cat(P_i, spatial_i, *inter_i))

- ``spatial_i``: the spatial context network over the slice's decoded anchors, zero at anchors (the first pass);
- ``inter_i``: optional inter-slice contexts from the decoded earlier slices, computed once per slice (none for
  the first slice, nor when the family has none).

Both context families are this stage: the checkerboard model (He et al. 2021) is one slice of all M channels with
no inter-slice context; ACGC (:mod:`neuralcodec.codecs.acgc`) is 5 slices with channel and global contexts.
:class:`SlicedCheckerboardLatent` is the exact runtime stage (fixed-point networks, integer tables, bands of rows);
:class:`SlicedCheckerboardTwin` is its float training twin with the same schedule (CompressAI's
``ChannelGroupsLatentCodec`` of ``CheckerboardLatentCodec`` plays both roles there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.codecs.stages.checkerboard import (
    ANCHOR_PHASES,
    NON_ANCHOR_PHASES,
    anchor_mask,
    context_at_non_anchors,
    gather,
    interleave,
    keep,
    phases,
    scatter,
)
from neuralcodec.codecs.stages.fixed_point import FixedPointSequential, to_fixed_point
from neuralcodec.codecs.stages.gaussian_conditional import GaussianConditionalLatent
from neuralcodec.codecs.stages.tiling import tile_spans
from neuralcodec.entropy import RansEncoder

SPATIAL_MARGIN = 2  # latent rows of halo a band of a non-anchor pass needs: the spatial context is a 5×5 convolution

# step(slice index, positions, table indexes, means) → the symbols of that pass (coded or decoded)
PassStep = Callable[[int, Tensor, np.ndarray, Tensor], Tensor]
# (slice index, exact hyper parameters P, decoded earlier slices ŷ_<i, rows per band) → the slice's inter-slice
# contexts (fixed-point units, full grid, stacked on channels), or None
InterSliceContext = Callable[[int, Tensor, Tensor, int], Tensor | None]
# (exact hyper parameters at a pass's positions, the parameter network's exact correction there) → exact
# (scales, means) stacked on channels: how a family adds its correction (see the families' codecs)
Correction = Callable[[Tensor, Tensor], Tensor]


def quantize_ste(x: Tensor) -> Tensor:
    """Rounding with the identity's gradient, for training: CompressAI's, imported on first use so that the
    runtime stage, which shares this module, never loads CompressAI."""
    from compressai.ops import quantize_ste as ste

    return ste(x)


def slice_hyper(params: Tensor, first: int, end: int) -> Tensor:
    """The hyper parameters (scales, then means) of channels ``first:end`` from h_s's (scales, means) output
    (``params`` itself for a slice of every channel)."""
    if first == 0 and end == params.shape[1] // 2:
        return params
    scales, means = params.chunk(2, 1)
    return torch.cat([scales[:, first:end], means[:, first:end]], dim=1)


def banded_pass(positions: Tensor, channels: int, rows: int, margin: int,
                band_tables: Callable[[int, int, int, int], tuple[np.ndarray, Tensor]]) -> tuple[np.ndarray, Tensor]:
    """Table indexes (uint8) and means (float32), (1, channels, N, 1) in :func:`gather` order, of one pass over the
    ``positions`` of a latent, computed band by band of ``rows`` latent rows. ``band_tables(r0, r1, a0, a1)`` gives
    those of the positions in rows r0…r1-1, from inputs it may read over rows a0…a1-1 (the band with a halo of
    ``margin`` rows). In raster order a band's positions are one contiguous run of the pass's, so the bands fill
    the pass exactly as one computation over the whole latent would."""
    offsets = [0, *positions.sum(dim=1).cumsum(0).tolist()]  # positions above each row
    idx = np.empty((1, channels, offsets[-1], 1), dtype=np.uint8)
    means = torch.empty(1, channels, offsets[-1], 1)
    for r0, r1, a0, a1 in tile_spans(positions.shape[0], rows, margin):
        part = slice(offsets[r0], offsets[r1])
        idx[:, :, part], means[:, :, part] = band_tables(r0, r1, a0, a1)
    return idx, means


class SlicedCheckerboardLatent:
    """Runtime stage: y's symbols, Gaussian table indexes and exact means, slice by slice and pass by pass.

    ``spatial[i]`` and ``parameters[i]`` are slice i's exact spatial-context and parameter networks;
    ``correction`` adds a parameter network's output to the hyper parameters; ``inter_slice_context`` gives a
    slice's inter-slice contexts (``None``: there are none). Every number the tables depend on is exact, so the
    decoder derives the encoder's tables bit for bit on any machine; the networks run in bands of latent rows
    (a halo of :data:`SPATIAL_MARGIN` rows for the spatial context), which changes no bit and bounds memory.
    """

    def __init__(self, latent: GaussianConditionalLatent, bounds: Sequence[tuple[int, int]],
                 spatial: Sequence[FixedPointSequential], parameters: Sequence[FixedPointSequential],
                 correction: Correction, inter_slice_context: InterSliceContext | None = None) -> None:
        self.latent = latent
        self.bounds = list(bounds)
        self.spatial, self.parameters = list(spatial), list(parameters)
        self.correction = correction
        self.inter_slice_context = inter_slice_context

    def spatial_context(self, index: int, y_hat_slice: Tensor, anchors: Tensor) -> Tensor:
        """The spatial context (fixed-point units) of slice ``index``, or of a band of its rows, from its decoded
        anchors (``anchors``: the anchor mask of the same rows)."""
        return to_fixed_point(self.spatial[index](keep(y_hat_slice, anchors)))

    def pass_parameters(self, index: int, hyper: Tensor, inputs: Tensor) -> tuple[np.ndarray, Tensor]:
        """Table indexes and float32 means at gathered positions (1, C, N, 1) of slice ``index``, from its exact
        hyper parameters and the parameter network's inputs there (fixed point: hyper, spatial[, inter-slice])."""
        out = self.correction(hyper, self.parameters[index].forward_fixed(inputs))
        scales, means = out.chunk(2, 1)
        return self.latent.tables.indexes(scales.numpy()), means.float()

    def pass_tables(self, index: int, params: Tensor, inter: Tensor | None, y_hat: Tensor, anchors: Tensor,
                    anchor_pass: bool, rows: int) -> tuple[np.ndarray, Tensor]:
        """Table indexes (uint8) and means (float32), (1, C, N, 1) in :func:`gather` order, of one pass of slice
        ``index``: band by band of ``rows`` latent rows, the same numbers as one pass over the whole latent."""
        first, end = self.bounds[index]

        def band_tables(r0: int, r1: int, a0: int, a1: int) -> tuple[np.ndarray, Tensor]:
            band = positions[r0:r1]
            exact_hyper = gather(slice_hyper(params[:, :, r0:r1], first, end), band)
            hyper = to_fixed_point(exact_hyper)
            if anchor_pass:  # nothing of this slice is decoded yet: the spatial context is zero
                spatial = torch.zeros_like(hyper)
            else:
                spatial = self.spatial_context(index, y_hat[:, first:end, a0:a1], anchors[a0:a1])
                spatial = gather(spatial[:, :, r0 - a0 : r1 - a0], band)
            inputs = [hyper, spatial] if inter is None else [hyper, spatial, gather(inter[:, :, r0:r1], band).double()]
            return self.pass_parameters(index, exact_hyper, torch.cat(inputs, dim=1))

        positions = anchors if anchor_pass else ~anchors
        return banded_pass(positions, end - first, rows, SPATIAL_MARGIN, band_tables)

    def code(self, params: Tensor, step: PassStep, rows: int) -> tuple[Tensor, np.ndarray, Tensor]:
        """Every slice's two passes over y given the exact hyper parameters ``params`` (1, 2M, H, W); ``step``
        codes (encoder) or decodes (decoder) one pass's symbols. Returns y's int32 symbols, uint8 table indexes
        and float32 means (1, M, H, W); the networks run in bands of ``rows`` latent rows."""
        _, channels, height, width = params.shape
        m = channels // 2
        anchors = anchor_mask(height, width)
        y_symbols = torch.zeros(1, m, height, width, dtype=torch.int32)
        means = torch.zeros(1, m, height, width)
        indexes = np.zeros((1, m, height, width), dtype=np.uint8)
        y_hat = torch.zeros(1, m, height, width)
        for i, (first, end) in enumerate(self.bounds):
            inter = None
            if self.inter_slice_context is not None:
                inter = self.inter_slice_context(i, params, y_hat[:, :first], rows)
            for anchor_pass in (True, False):
                positions = anchors if anchor_pass else ~anchors
                idx, mu = self.pass_tables(i, params, inter, y_hat, anchors, anchor_pass, rows)
                symbols = step(i, positions, idx, mu)
                scatter(symbols, positions, y_symbols[:, first:end])
                scatter(mu, positions, means[:, first:end])
                indexes[:, first:end][:, :, positions.numpy()] = idx[..., 0]
                scatter(self.latent.values(symbols, mu), positions, y_hat[:, first:end])
        return y_symbols, indexes, means

    def encode(self, encoder: RansEncoder, y_symbols: Tensor, indexes: np.ndarray) -> None:
        """Code y's symbols into one stream in decoding order: per slice, the anchors' set, then the non-anchors'."""
        anchors = anchor_mask(y_symbols.shape[2], y_symbols.shape[3])
        for first, end in self.bounds:
            for positions in (anchors, ~anchors):
                self.latent.encode(encoder, gather(y_symbols[:, first:end], positions),
                                   indexes[:, first:end][:, :, positions.numpy()])


class SlicedCheckerboardTwin:
    """Training twin of :class:`SlicedCheckerboardLatent`: the same schedule in float, differentiable.

    ``spatial[i]`` is slice i's spatial context (an ``nn.Sequential`` whose only layer is a
    :class:`~neuralcodec.codecs.stages.checkerboard.CheckerboardContextConv`), ``parameters[i]`` its parameter
    network; ``inter_slice_context(i, P_i, decoded)`` gives its inter-slice contexts (full grid) from its hyper
    parameters and the decoded earlier slices (``None``: there are none). Every context sees the anchors and
    earlier slices as the decoder will: quantized around their own means (straight-through rounding). The
    twin holds references to the net's modules and no state of its own (it is made per call).
    """

    def __init__(self, bounds: Sequence[tuple[int, int]], spatial: Sequence[nn.Module],
                 parameters: Sequence[nn.Module],
                 inter_slice_context: Callable[[int, Tensor, list[Tensor]], list[Tensor]] | None = None) -> None:
        self.bounds = list(bounds)
        self.spatial, self.parameters = spatial, parameters
        self.inter_slice_context = inter_slice_context

    def __call__(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) of y from h_s's output: on the phase grids for even latent sizes, else dense."""
        if y.shape[2] % 2 == 0 and y.shape[3] % 2 == 0:
            return self.by_phases(y, params)
        return self.dense(y, params)

    def _slices(self, y: Tensor, params: Tensor,
                one_slice: Callable[[int, Tensor, Tensor, list[Tensor]], tuple[Tensor, Tensor]]
                ) -> tuple[Tensor, Tensor]:
        """(scales, means) of every slice in order: ``one_slice(i, y_i, P_i, inter_i)`` gives slice i's."""
        decoded, scales, means = [], [], []
        for i, (first, end) in enumerate(self.bounds):
            hyper = slice_hyper(params, first, end)
            inter = [] if self.inter_slice_context is None else self.inter_slice_context(i, hyper, decoded)
            y_slice = y[:, first:end]
            slice_scales, slice_means = one_slice(i, y_slice, hyper, inter)
            if i + 1 < len(self.bounds):  # later slices see this one as decoded
                decoded.append(quantize_ste(y_slice - slice_means) + slice_means)
            scales.append(slice_scales)
            means.append(slice_means)
        if len(scales) == 1:
            return scales[0], means[0]
        return torch.cat(scales, dim=1), torch.cat(means, dim=1)

    def dense(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) over the whole grid (any size): each slice's two passes as full-size networks. The
        straightforward form; the reference :meth:`by_phases` is tested against."""
        anchors = anchor_mask(y.shape[2], y.shape[3]).to(y.device)

        def one_slice(i: int, y_slice: Tensor, hyper: Tensor, inter: list[Tensor]) -> tuple[Tensor, Tensor]:
            net = self.parameters[i]
            anchor_means = (hyper + net(torch.cat([hyper, torch.zeros_like(hyper), *inter], dim=1))).chunk(2, 1)[1]
            y_anchors = quantize_ste(y_slice - anchor_means) + anchor_means
            spatial = keep(self.spatial[i](keep(y_anchors, anchors)), ~anchors)
            return (hyper + net(torch.cat([hyper, spatial, *inter], dim=1))).chunk(2, 1)

        return self._slices(y, params, one_slice)

    def by_phases(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) on the 2×2 phase grids (even sizes): each network runs only where its output is used —
        the parameter networks once per position, the spatial context at non-anchors from anchors
        (:func:`context_at_non_anchors`) — ≈ 3× less work per training step than :meth:`dense`, same numbers."""
        def one_slice(i: int, y_slice: Tensor, hyper: Tensor, inter: list[Tensor]) -> tuple[Tensor, Tensor]:
            out: dict[tuple[int, int], Tensor] = {}
            anchor_grids = []
            zeros = [torch.zeros_like(h) for h in phases(hyper, ANCHOR_PHASES)]
            anchor_out = self._phase_parameters(i, hyper, inter, ANCHOR_PHASES, zeros)
            for phase, (h, delta), y_phase in zip(ANCHOR_PHASES, anchor_out, phases(y_slice, ANCHOR_PHASES),
                                                  strict=True):
                out[phase] = h + delta
                mu = out[phase].chunk(2, 1)[1]
                anchor_grids.append(quantize_ste(y_phase - mu) + mu)
            spatial = context_at_non_anchors(self.spatial[i][0], anchor_grids)
            for phase, (h, delta) in zip(NON_ANCHOR_PHASES,
                                         self._phase_parameters(i, hyper, inter, NON_ANCHOR_PHASES, spatial),
                                         strict=True):
                out[phase] = h + delta
            return interleave(out, y.shape[2], y.shape[3]).chunk(2, 1)

        return self._slices(y, params, one_slice)

    def _phase_parameters(self, index: int, hyper: Tensor, inter: list[Tensor], which: tuple[tuple[int, int], ...],
                          spatial: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """(hyper parameters, the parameter network's correction) on each phase grid of ``which``, given the
        full-grid hyper parameters and inter-slice contexts and the spatial context of each grid; one network
        call for all grids."""
        hyper_grids = phases(hyper, which)
        inter_grids = [phases(e, which) for e in inter]
        inputs = [torch.cat([h, s, *(e[k] for e in inter_grids)], dim=1)
                  for k, (h, s) in enumerate(zip(hyper_grids, spatial, strict=True))]
        deltas = self.parameters[index](torch.cat(inputs, dim=0)).chunk(len(which), 0)
        return list(zip(hyper_grids, deltas, strict=True))
