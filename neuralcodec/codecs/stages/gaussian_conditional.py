"""A latent coded with Gaussian tables chosen by exact scales, after subtracting exact means.

Symbols are ``round(y − μ)``; each is coded with the integer Gaussian table whose index
:class:`~neuralcodec.entropy.GaussianScaleTables` derives from the scale σ. μ and σ come from a
:class:`~neuralcodec.codecs.stages.fixed_point.FixedPointSequential` (or any exact network), so the decoder derives
exactly the encoder's indexes and means. :meth:`GaussianConditionalLatent.parameters` runs that network
on overlapping tiles (exact, so tiling changes nothing) to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralcodec.codecs.stages.tiling import tile_spans
from neuralcodec.entropy import (
    GaussianScaleTables,
    RansDecoder,
    RansEncoder,
    decode_indexed,
    encode_indexed,
    pack_tables,
    scale_table,
    unpack_tables,
)


class GaussianConditionalLatent:
    """Scale-indexed Gaussian coding of a latent given exact (scale, mean) per element."""

    def __init__(self, tables: GaussianScaleTables) -> None:
        self.tables = tables

    # --- model file -----------------------------------------------------------------------------------
    @staticmethod
    def export(prefix: str) -> dict[str, Any]:
        """The scale table, its stored thresholds and ``{prefix}_tables`` (export time)."""
        scales = scale_table()
        built = GaussianScaleTables.build(scales)
        return {"scale_table": torch.from_numpy(scales), "scale_thresholds": torch.from_numpy(built.thresholds),
                f"{prefix}_tables": {k: torch.from_numpy(v) for k, v in pack_tables(built.tables).items()}}

    @classmethod
    def from_model_file(cls, blob: dict[str, Any], prefix: str) -> GaussianConditionalLatent:
        tables = unpack_tables(**{k: v.numpy() for k, v in blob[f"{prefix}_tables"].items()})
        return cls(GaussianScaleTables(tables, blob["scale_thresholds"].double().numpy()))

    # --- parameters -----------------------------------------------------------------------------------
    def parameters(self, exact_net: Callable[[Tensor], Tensor], inputs: Tensor, channels: int, up: int,
                   tile: int, margin: int) -> tuple[np.ndarray, Tensor]:
        """Table index (uint8) and mean (float32) of every latent element.

        ``exact_net`` maps ``inputs`` (1, C, h, w) to exact float64 (scales, means) stacked on channels
        (2·``channels``, up·h, up·w); it runs on tiles of ``tile`` inputs with ``margin`` of context, which
        must cover its receptive field.
        """
        _, _, h, w = inputs.shape
        indexes = np.empty((1, channels, h * up, w * up), dtype=np.uint8)
        means = torch.empty(1, channels, h * up, w * up)
        for r0, r1, a0, a1 in tile_spans(h, tile, margin):
            for c0, c1, b0, b1 in tile_spans(w, tile, margin):
                scales, mu = exact_net(inputs[:, :, a0:a1, b0:b1]).chunk(2, 1)
                rows = slice(up * (r0 - a0), up * (r1 - a0))
                cols = slice(up * (c0 - b0), up * (c1 - b0))
                out_rows, out_cols = slice(up * r0, up * r1), slice(up * c0, up * c1)
                indexes[:, :, out_rows, out_cols] = self.tables.indexes(scales[:, :, rows, cols].numpy())
                means[:, :, out_rows, out_cols] = mu[:, :, rows, cols].float()
        return indexes, means

    # --- coding ---------------------------------------------------------------------------------------
    @staticmethod
    def symbols(y: Tensor, means: Tensor) -> Tensor:
        """int32 symbols ``round(y − μ)``."""
        return torch.round(y - means).to(torch.int32)

    @staticmethod
    def values(symbols: Tensor, means: Tensor) -> Tensor:
        """The dequantized latent ``symbols + μ`` (one IEEE addition: exact on any machine)."""
        return symbols.float() + means

    def encode(self, encoder: RansEncoder, symbols: Tensor, indexes: np.ndarray) -> None:
        """Queue the symbols as one set of ``encoder``'s stream."""
        encode_indexed(encoder, symbols.numpy(), indexes, self.tables.tables)

    def decode(self, decoder: RansDecoder, indexes: np.ndarray) -> Tensor:
        """Decode one symbol per entry of ``indexes``."""
        return torch.from_numpy(decode_indexed(decoder, indexes, self.tables.tables))
