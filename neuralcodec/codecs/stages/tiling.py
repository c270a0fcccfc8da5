"""Bounded-memory application of fully convolutional transforms on overlapping tiles.

A tile is computed with a margin of context on every side that exceeds the transform's receptive
field, and only its interior is kept, so the stitched result equals the whole-image result up to float
rounding (exactly, for the integer hyper-decoder) — there is no seam in the bitstream at all: the latent
is still coded as one stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

CONTEXT_BAND_ELEMENTS = 1 << 22  # elements per channel-row product of one band of a context pass (32 MB in float64)


def band_rows(channels: int, width: int, elements: int = CONTEXT_BAND_ELEMENTS) -> int:
    """Latent rows per band of a context model's pass, so that a band of ``channels`` float64 channels stays near
    ``elements``: a Kodak latent is one band; a 24 MP one is coded in bands of a few dozen rows."""
    return max(1, elements // max(1, channels * width))


def tile_spans(size: int, tile: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, stop) of each tile and (start, stop) of its input window with margins, along one axis."""
    for start in range(0, size, tile):
        stop = min(start + tile, size)
        yield start, stop, max(start - margin, 0), min(stop + margin, size)


def tiled_apply(fn: Callable[[Tensor], Tensor], x: Tensor, out_channels: int, tile: int, margin: int,
                up: int = 1, down: int = 1, out_dtype: torch.dtype = torch.float32) -> Tensor:
    """``fn`` on overlapping tiles of ``x`` (1, C, H, W); ``fn`` scales sizes by ``up / down``.

    ``tile`` and ``margin`` are in input pixels and must be multiples of ``down``. Each tile's interior is
    converted to ``out_dtype`` as it is stored, so ``fn`` may end in an elementwise conversion (e.g. to uint8
    pixels) and the whole output never exists at a wider type.
    """
    if tile % down or margin % down:
        raise ValueError("tile and margin must be multiples of the downsampling factor")
    _, _, h, w = x.shape
    out = torch.empty(1, out_channels, h * up // down, w * up // down, dtype=out_dtype)
    for r0, r1, a0, a1 in tile_spans(h, tile, margin):
        for c0, c1, b0, b1 in tile_spans(w, tile, margin):
            part = fn(x[:, :, a0:a1, b0:b1])
            s = lambda v: v * up // down  # noqa: E731 - input → output coordinates
            out[:, :, s(r0) : s(r1), s(c0) : s(c1)] = part[:, :, s(r0 - a0) : s(r1 - a0), s(c0 - b0) : s(c1 - b0)]
    return out
