"""``vq`` runtime codec: image → index grid → rANS (stored integer prior) → stream ``indices``, and back.

Data flow: pixels → ``g_a`` → ``to_code`` → nearest entry of the rate point's (sub-)codebook → one
categorical symbol per 16×16 block, coded with the model file's integer table. The table is stored, not
computed, so the decoder reads exactly the encoder's indices on any machine; the decoder then runs
``from_code`` and ``g_s`` on the entries' vectors. A lower rate point whose file sets ``draw_members`` first
draws, for each sub-codebook entry, one full-codebook code of its k-means group (:mod:`neuralcodec.codecs.vq.members`)
and decodes those codes' vectors with the top point's decoder. With ``drop_rate`` > 0 the decoder simulates losing
that share of the indices and restores them (:mod:`neuralcodec.codecs.vq.restore`).

Model file (one per rate point; the lower points store only what differs from the top one, see
:func:`delta_on_top_point`): fp16/fp32 network weights, the codebook and each code's training usage, the
sub-codebooks (``level_sizes``, ``level_assign``: code → k-means group, ``level_centroids``), the point's
``level`` and its integer ``prior`` (with the training counts it was made from), and ``draw_members`` when the
point decodes by member drawing (absent: from the centroids).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.codecs.family import CodecFamily
from neuralcodec.codecs.model_file import MODEL_FORMAT, LoadedModel, compact_state_dict, load_model_file, weights_hash
from neuralcodec.codecs.stages import pad_amounts, pad_replicate
from neuralcodec.codecs.stages.exact_synthesis import ExactResidualDecoder, ExactSynthesis
from neuralcodec.codecs.stages.tiling import tiled_apply
from neuralcodec.codecs.vq.exact_restorer import ExactRestorer
from neuralcodec.codecs.vq.grid import nearest_on_grid, vectors_on_grid
from neuralcodec.codecs.vq.members import MEMBER_SEED, draw_members
from neuralcodec.codecs.vq.net import DOWNSAMPLING, VQNet
from neuralcodec.codecs.vq.restore import drop_mask, nearest_fill, restore
from neuralcodec.entropy import IntegerTable, RansDecoder, RansEncoder, table_from_counts
from neuralcodec.errors import DecodeError, ModelError

# Tile margins: g_a sees ±61 input pixels and to_code ±2 blocks (so ±96 pixels); g_s ±3 blocks and from_code ±2
# per residual block (see ``synthesize``).
G_A_MARGIN, ANALYSIS_MARGIN = 64, 96  # input pixels: g_a alone, g_a and to_code
RECOVERY_METHODS = ("transformer", "nearest")
# The exact decoder (``stages.exact_synthesis``): (digits, fractional bits) of from_code's input vectors, residual
# stream and block activations, of g_s's four deconvolution inputs, and g_s's x² grids. Part of the format: the
# decoded pixels of every file depend on them. Ranges ±64, ±64, ±32; ±128, ±64, ±8, ±16; x² ≤ 128, 32, 32: ≥ 2.7×
# the largest values on BSDS500 training images.
FROM_CODE_GRIDS = ((3, 14), (3, 14), (3, 15))
SYNTHESIS_GRIDS = ((3, 13), (3, 14), (2, 10), (2, 9))
SYNTHESIS_SQUARE_BITS = (24, 26, 26)


def export_model(net: nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]) -> dict[str, Any]:
    """The model-file dict of a trained :class:`VQNet` decoding sub-codebook ``net.level``."""
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("quantizer.") and k != "_extra_state"}
    counts = net.prior_counts.double().numpy()
    if counts.sum() <= 0:  # never counted (a network straight from the latent stage): a uniform prior
        counts = np.ones(len(counts))
    blob = {
        "format": MODEL_FORMAT,
        "family": family.name,
        "model_id": 0,
        "quality": int(quality),
        "arch": net.arch(),
        "weights": compact_state_dict(state),
        "codebook": net.quantizer.codebook.detach().float().clone(),
        "code_usage": net.quantizer.ema_count.detach().float().clone(),
        "level_sizes": torch.tensor(net.level_sizes, dtype=torch.int64),
        "level_assign": net.level_assign.to(torch.int16).clone(),
        # by level number (a dict of tensors, so the weights hash in every file's header covers them)
        "level_centroids": {str(i + 1): c.float().clone() for i, c in enumerate(net.level_centroids)},
        "level": torch.tensor([int(net.level)]),  # a tensor: the weights hash covers it
        # add-one smoothing: an entry never seen in training stays codable at a modest cost
        "prior": torch.from_numpy(table_from_counts(counts + 1.0).freqs),
        "prior_counts": net.prior_counts.double().clone(),  # what the table was made from (later stages add)
        "meta": meta,
    }
    if net.draw_members:  # only when set, so files of centroid-decoding points stay as they were
        blob["draw_members"] = torch.tensor([1])
    return blob


def float_state_dict(blob: dict[str, Any]) -> dict[str, Tensor]:
    """The float32 :class:`VQNet` state of a model file (codebook, sub-codebooks and prior counts included)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["weights"].items()}
    codebook, usage = blob["codebook"].float(), blob["code_usage"].float()
    state.update({"quantizer.codebook": codebook, "quantizer.ema_count": usage,
                  "quantizer.ema_sum": codebook * usage[:, None], "quantizer.initialised": torch.tensor(True)})
    state["_extra_state"] = {
        "level_sizes": [int(k) for k in blob["level_sizes"]], "level_assign": blob["level_assign"].long(),
        "level_centroids": [blob["level_centroids"][str(i)].float() for i in range(1, len(blob["level_sizes"]))],
        "level": int(blob["level"]),
        "prior_counts": blob["prior_counts"].double(),
        "draw_members": bool(int(blob["draw_members"])) if "draw_members" in blob else False,
    }
    return state


def _difference(blob: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """Entries of ``blob`` that ``base`` lacks or holds differently (dicts compared key by key); ``None`` when
    ``blob`` lacks something ``base`` has (a merge could not give ``blob`` back)."""
    from neuralcodec.codecs.model_file import same_entry

    out: dict[str, Any] = {}
    for key, value in blob.items():
        if key not in base:
            out[key] = value
        elif isinstance(value, dict) and isinstance(base[key], dict):
            if any(k not in value for k in base[key]):
                return None
            diff = {k: v for k, v in value.items() if k not in base[key] or not same_entry(v, base[key][k])}
            if diff:
                out[key] = diff
        elif not same_entry(value, base[key]):
            out[key] = value
    return out if all(k in blob for k in base) else None


def delta_on_top_point(blob: dict[str, Any], family: type[CodecFamily], weights_dir: Path | None = None
                       ) -> dict[str, Any]:
    """A lower rate point stored as what differs from the shipped top point (same encoder, codebook and
    restorer; its own decoder, sub-codebook and prior); the top point itself, or any file whose top point is
    not installed, is stored whole."""
    from neuralcodec.codecs.model_file import BASE_KEY
    from neuralcodec.codecs.registry import model_path

    top = family.top_quality
    path = model_path(family.name, top, weights_dir)
    if int(blob["quality"]) == top or not path.is_file():
        return blob
    base = load_model_file(path)
    identity = ("format", "family", "model_id", "quality", "arch", "meta")
    diff = _difference({k: v for k, v in blob.items() if k not in identity},
                       {k: v for k, v in base.items() if k not in identity})
    if diff is None or base.get("arch") != blob.get("arch"):
        return blob
    ref = {"family": family.name, "model_id": int(base["model_id"]), "quality": top,
           "weights_hash": weights_hash(base).hex()}
    return {**{k: blob[k] for k in identity if k in blob}, **diff, BASE_KEY: ref}


class VQCodec(LoadedModel):
    """One rate point (one sub-codebook) of the ``vq`` family, loaded from a model-file dict."""

    whole_image_max_pixels = 1 << 20  # larger images run the transforms in tiles (the output is the same)
    tile_pixels = 512

    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        self.net = VQNet(**blob["arch"])
        self.net.load_state_dict(float_state_dict(blob))
        self.net.eval().to(memory_format=torch.channels_last)  # faster oneDNN kernels on CPU, as the hyperprior
        self.level = self.net.level
        self.codebook = self.net.level_codebook().float()
        self.assign = self.net.level_assign[self.level].long()  # full code → this point's entry
        self.table = IntegerTable(blob["prior"].numpy().astype(np.int64), 0)
        self.table.validate()
        if self.table.num_values != len(self.codebook):
            raise ValueError("the prior does not match the sub-codebook")
        self.has_restorer = any(k.startswith("restorer.") for k in blob["weights"])
        self.draws_members = self.level > 0 and self.net.draw_members
        if self.draws_members and not self.has_restorer:
            raise ValueError("a point that decodes by member drawing needs the restorer")

    # from_code and g_s run as their exact integer twins (the same pixels on every machine); built when first
    # needed, so encoding does not pay for them
    @cached_property
    def exact_from_code(self) -> ExactResidualDecoder:
        return ExactResidualDecoder(self.net.from_code, FROM_CODE_GRIDS)

    @cached_property
    def synthesis(self) -> ExactSynthesis:
        return ExactSynthesis(self.net.g_s, list(SYNTHESIS_GRIDS), list(SYNTHESIS_SQUARE_BITS))

    @cached_property
    def exact_restorer(self) -> ExactRestorer:
        """The restorer's integer twin, which drives the member draw."""
        return ExactRestorer(self.net.restorer)

    @property
    def entries(self) -> int:
        """Size of this rate point's (sub-)codebook."""
        return len(self.codebook)

    def padded_pixels(self, height: int, width: int) -> int:
        ph, pw = pad_amounts(height, width, DOWNSAMPLING)
        return (height + ph) * (width + pw)

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) of the index grid of an image of this size."""
        ph, pw = pad_amounts(height, width, DOWNSAMPLING)
        return (height + ph) // DOWNSAMPLING, (width + pw) // DOWNSAMPLING

    # --- encoder --------------------------------------------------------------------------------------------
    def _encoder_side(self, transform: Callable[[Tensor], Tensor], image: Tensor, channels: int,
                      margin: int) -> Tensor:
        """``transform`` of the padded image in [0, 1]; large images in tiles with ``margin`` input pixels."""
        pixels = pad_replicate(image, DOWNSAMPLING)
        fn = lambda p: transform(p.float() / 255.0)  # noqa: E731
        if pixels.shape[2] * pixels.shape[3] <= self.whole_image_max_pixels:
            return fn(pixels)
        return tiled_apply(fn, pixels, channels, self.tile_pixels, margin, down=DOWNSAMPLING)

    @torch.no_grad()
    def analysis(self, image: Tensor) -> Tensor:
        """The latent ``y = g_a(x)`` (1, M, H'/16, W'/16) of a uint8 RGB image, padded as for coding (the data of
        the stages that train on cached latents)."""
        return self._encoder_side(self.net.g_a, image, self.net.M, G_A_MARGIN)

    @torch.no_grad()
    def indices(self, image: Tensor) -> np.ndarray:
        """The index grid (int32 (H/16, W/16)) the encoder codes for a uint8 RGB image (3, H, W)."""
        e = self._encoder_side(self.net.encode_vectors, image, self.net.code_dim, ANALYSIS_MARGIN)
        return nearest_on_grid(e[0], self.codebook).numpy().astype(np.int32)

    def compress(self, image: Tensor, reconstruct: bool = False) -> tuple[dict[str, bytes], Tensor | None]:
        """The ``indices`` stream of a uint8 RGB image (and optionally the decoder's output)."""
        indices = self.indices(image)
        encoder = RansEncoder()
        encoder.encode(indices.ravel(), self.table)
        x_hat = self.synthesize(indices, image.shape[1], image.shape[2]) if reconstruct else None
        return {"indices": encoder.finish()}, x_hat

    # --- decoder --------------------------------------------------------------------------------------------
    def decode_indices(self, streams: dict[str, bytes], height: int, width: int) -> np.ndarray:
        """The index grid of a stream; ``DecodeError`` unless it is exactly a valid grid of this size."""
        rows, cols = self.grid_shape(height, width)
        try:
            decoder = RansDecoder(streams["indices"])
            values = decoder.decode(rows * cols, self.table)
            decoder.finish()
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise DecodeError(f"entropy-coded data is invalid: {exc}") from None
        if values.size and (values.min() < 0 or values.max() >= self.entries):
            raise DecodeError("entropy-coded data is invalid: index outside the codebook")
        return values.reshape(rows, cols)

    def decode_symbols(self, streams: dict[str, bytes], height: int, width: int) -> dict[str, np.ndarray]:
        return {"indices": self.decode_indices(streams, height, width)}

    def recover(self, indices: np.ndarray, drop_rate: float, seed: int = 0,
                method: str = "transformer") -> tuple[np.ndarray, np.ndarray]:
        """Simulate losing ``drop_rate`` of the indices (positions drawn with ``seed``) and restore them:
        (restored grid, lost mask)."""
        if method not in RECOVERY_METHODS:
            raise DecodeError(f"unknown recovery method {method!r} (known: {', '.join(RECOVERY_METHODS)})")
        if not 0.0 <= drop_rate < 1.0:
            raise DecodeError(f"drop rate must be in [0, 1), got {drop_rate}")
        if not isinstance(seed, int) or seed < 0:
            raise DecodeError(f"seed must be a non-negative whole number, got {seed!r}")
        lost = drop_mask(indices.shape, drop_rate, seed)
        if not lost.any():
            return indices, lost
        if lost.all():
            raise DecodeError("every index is lost: nothing to restore from")
        if method == "nearest":
            return nearest_fill(indices, lost), lost
        if not self.has_restorer:
            raise ModelError("this model file has no index restorer: use --recovery nearest")
        return restore(self.net.restorer, indices, lost, self.codebook, self.assign), lost

    def decompress(self, streams: dict[str, bytes], height: int, width: int, drop_rate: float = 0.0,
                   seed: int = 0, recovery: str = "transformer") -> Tensor:
        """uint8 RGB image (3, height, width); ``drop_rate`` > 0 simulates lost indices (see :meth:`recover`)."""
        indices = self.decode_indices(streams, height, width)
        if drop_rate > 0:
            indices, _ = self.recover(indices, drop_rate, seed, recovery)
        return self.synthesize(indices, height, width)

    def _pixels(self, vectors: Tensor) -> Tensor:
        """uint8 pixels of code vectors through the exact from_code and g_s (the same on a tile as on the whole)."""
        return self.synthesis(self.exact_from_code(vectors))

    @torch.no_grad()
    def synthesize(self, indices: np.ndarray, height: int, width: int, member_seed: int = MEMBER_SEED) -> Tensor:
        """uint8 RGB (3, height, width) of an index grid; large images in tiles. ``member_seed``: the draw of a
        point that decodes by member drawing (files always decode with the default; another seed shows how much
        the draw matters)."""
        # every step is exact (integer twins), so the thread count does not change a pixel
        if self.draws_members:
            codes = draw_members(self.exact_restorer, indices, self.codebook, self.net.quantizer.codebook,
                                 self.assign, member_seed)
            vectors = vectors_on_grid(codes, self.net.quantizer.codebook)[None].contiguous()
        else:
            vectors = vectors_on_grid(torch.from_numpy(indices.astype(np.int64)), self.codebook)[None].contiguous()
        if vectors.shape[2] * vectors.shape[3] * DOWNSAMPLING**2 <= self.whole_image_max_pixels:
            out = self._pixels(vectors)
        else:
            margin = 2 * self.net.decoder_blocks + 4  # blocks: from_code's residual blocks, then g_s
            out = tiled_apply(self._pixels, vectors, 3, self.tile_pixels // DOWNSAMPLING, margin,
                              up=DOWNSAMPLING, out_dtype=torch.uint8)
        return out[0, :, :height, :width]
