"""A latent coded with one learned, fixed integer table per channel (the hyper-latent ``z`` of Ballé 2018).

Symbols are ``round(z − median_c)``; channel ``c``'s table codes them. The tables are made once at export
from the training network's factorized prior (CompressAI's ``EntropyBottleneck``) and stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.entropy import RansDecoder, RansEncoder, decode_indexed, encode_indexed, pack_tables, unpack_tables
from neuralcodec.entropy.tables import quantize_pmf


class FactorizedLatent:
    """Per-channel integer tables and medians of a factorized latent."""

    def __init__(self, medians: Tensor, tables: list) -> None:
        if len(tables) != medians.numel():
            raise ValueError("factorized tables do not match the channel count")
        self.medians, self.tables = medians.float(), tables

    # --- model file -----------------------------------------------------------------------------------
    @classmethod
    def export(cls, bottleneck: nn.Module, prefix: str) -> dict[str, Any]:
        """``{prefix}_medians`` and ``{prefix}_tables`` from a CompressAI ``EntropyBottleneck`` (export time)."""
        eb = bottleneck
        with torch.no_grad():
            eb._update_quantiles()  # exact quantiles from the learned CDF, whatever the aux loss reached
            medians = eb.quantiles[:, 0, 1].detach().clone()
            minima = torch.clamp(torch.ceil(medians - eb.quantiles[:, 0, 0]), min=0).long()
            maxima = torch.clamp(torch.ceil(eb.quantiles[:, 0, 2] - medians), min=0).long()
            lengths = minima + maxima + 1
            samples = torch.arange(int(lengths.max()), dtype=torch.float32)[None, :] + (medians - minima)[:, None]
            pmf, lower, upper = eb._likelihood(samples[:, None, :].contiguous(), stop_gradient=True)
            tables = []
            for c, n in enumerate(lengths.tolist()):
                tail = torch.sigmoid(lower[c, 0, 0]) + torch.sigmoid(-upper[c, 0, n - 1])
                tables.append(quantize_pmf(pmf[c, 0, :n].double().numpy(), float(tail), -int(minima[c])))
        return {f"{prefix}_medians": medians.float(),
                f"{prefix}_tables": {k: torch.from_numpy(v) for k, v in pack_tables(tables).items()}}

    @classmethod
    def from_model_file(cls, blob: dict[str, Any], prefix: str) -> FactorizedLatent:
        tables = unpack_tables(**{k: v.numpy() for k, v in blob[f"{prefix}_tables"].items()})
        return cls(blob[f"{prefix}_medians"], tables)

    # --- coding ---------------------------------------------------------------------------------------
    def _medians(self) -> Tensor:
        return self.medians.view(1, -1, 1, 1)

    def symbols(self, z: Tensor) -> Tensor:
        """int32 symbols of a float latent (1, C, H, W)."""
        return torch.round(z - self._medians()).to(torch.int32)

    def values(self, symbols: Tensor) -> Tensor:
        """The dequantized latent ``symbols + median`` (float32, exact)."""
        return symbols.float() + self._medians()

    def _channel_indexes(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)

    def encode(self, encoder: RansEncoder, symbols: Tensor) -> None:
        """Queue the symbols as one set of ``encoder``'s stream."""
        encode_indexed(encoder, symbols.numpy(), self._channel_indexes(tuple(symbols.shape)), self.tables)

    def decode(self, decoder: RansDecoder, shape: tuple[int, ...]) -> Tensor:
        """Decode the symbols of a latent of ``shape`` (1, C, H, W)."""
        return torch.from_numpy(decode_indexed(decoder, self._channel_indexes(shape), self.tables))
