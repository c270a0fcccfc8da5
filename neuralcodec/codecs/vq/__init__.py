"""The ``vq`` family (extreme rates): images as VQ codebook indices, coded with rANS under a stored prior.

Follows "Extreme Image Compression Using Fine-tuned VQGANs" (Mao et al., DCC 2024; code: CUC-MIPG/VQGAN-Compression):
an image is stored as the indices of its nearest codebook vectors on a 1/16 grid; smaller codebooks for lower
rates come from k-means clustering of the large one; a transformer predicts lost indices.

Departs from it where this project's constraints or our measurements say so:

- **Trained here, small, from our own transforms** instead of fine-tuning taming-transformers' ImageNet VQGAN
  (f = 16, 16384 × 256 codebook), which cannot be had here: the hyperprior q0's analysis and synthesis
  transforms (BSDS500) carry a 1024 × 32 codebook (EMA updates, dead-code restarts) between two small heads.
  The training is staged to fit a CPU (:mod:`neuralcodec.training.vq_module`).
- **Sub-codebooks 1024 → 256, 64, 16** (four rate points), clustered with usage-weighted, seeded k-means; the
  paper clusters 16384 into 8 … 2048 entries and decodes from the cluster centroids. Here the
  lower points decode by **member drawing** (:mod:`neuralcodec.codecs.vq.members`): the restorer draws one code of
  each coded group, seeded, and the top point's decoder renders it. A decoder fine-tuned per sub-codebook
  (``configs/vq/sub-decoder.yaml``) was trained and measured worse on BSDS500 val (patch-SWD 157 against 108 at
  256 entries; ``docs/models.md``), so no lower point ships its own decoder.
- **A learned index prior**: each point's index histogram on the training images, stored as an integer table,
  where the paper codes indices uniformly (log₂ K bits each).
- **Restoration** by a 4-layer transformer over the whole grid (windows of 24 × 24 tokens on large images),
  decoded MaskGIT-style in 4 iterations; the paper slides a window over the index map.
- **Losses without downloaded weights**: L1 + MSE + Laplacian-pyramid L1 + hinge PatchGAN, where VQGAN uses
  LPIPS (VGG weights).

Network: :mod:`neuralcodec.codecs.vq.net`; runtime codec: :mod:`neuralcodec.codecs.vq.codec`; lost-index
recovery: :mod:`neuralcodec.codecs.vq.restore`; member drawing: :mod:`neuralcodec.codecs.vq.members`, with the
restorer's integer twin :mod:`neuralcodec.codecs.vq.exact_restorer`; training: :mod:`neuralcodec.training.vq_module`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import ImageFamily, Option, RatePoint, register_family, share, whole_number

if TYPE_CHECKING:
    from torch import Tensor, nn

    from neuralcodec.codecs.vq.codec import VQCodec


@register_family
class VectorQuantized(ImageFamily):
    """Bitstream stream: ``indices`` (one sub-codebook index per 16×16 block, categorical rANS)."""

    name = "vq"
    family_id = 5
    stream_names = ("indices",)
    exact_pixels = True  # exact from_code, g_s and member draw (codec.py, exact_restorer.py)
    # the lower rate points store only what differs from the top one (their decoder, sub-codebook and prior)
    top_quality = 3
    rate_points = {q: RatePoint(note=f"{entries}-entry sub-codebook") for q, entries in enumerate((16, 64, 256, 1024))}
    decode_options = (
        Option("drop_rate", "simulate losing this share of the codebook indices (e.g. 0.2) and restore them before "
               "decoding", parse=share, metavar="R"),
        Option("seed", "which indices --drop-rate loses (default 0)", parse=whole_number),
        Option("recovery", "how lost indices are restored: the masked-token transformer (default) or a copy of the "
               "nearest kept index", choices=("transformer", "nearest")),
    )

    @classmethod
    def build_net(cls, **arch: Any) -> nn.Module:
        from compressai.layers import GDN  # trainable (the runtime codec uses our inference GDN)

        from neuralcodec.codecs.vq.net import VQNet

        return VQNet(**arch, gdn=GDN)

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.vq.codec import export_model

        return export_model(net, quality, meta, cls)

    @classmethod
    def file_blob(cls, blob: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.vq.codec import delta_on_top_point

        return delta_on_top_point(blob, cls)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> VQCodec:
        from neuralcodec.codecs.vq.codec import VQCodec

        return VQCodec(blob, cls)

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        from neuralcodec.codecs.vq.codec import float_state_dict

        return float_state_dict(blob)
