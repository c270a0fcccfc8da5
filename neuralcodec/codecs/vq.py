"""The ``vq`` family (extreme rates): images as VQ codebook indices, coded with rANS under a stored prior.

Network: :mod:`neuralcodec.codecs.vq_net`; runtime codec: :mod:`neuralcodec.codecs.vq_codec`; lost-index
recovery: :mod:`neuralcodec.codecs.vq_restore`; training: :mod:`neuralcodec.training.vq_module`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import CodecFamily, register_family

if TYPE_CHECKING:
    from torch import Tensor, nn

    from neuralcodec.codecs.vq_codec import VQCodec


@register_family
class VectorQuantized(CodecFamily):
    """Bitstream stream: ``indices`` (one sub-codebook index per 16×16 block, categorical rANS)."""

    name = "vq"
    family_id = 5
    media = "image"
    stream_names = ("indices",)
    # the lower rate points store only what differs from the top one (their decoder, sub-codebook and prior)
    top_quality = 3

    @classmethod
    def build_net(cls, **arch: Any) -> nn.Module:
        from compressai.layers import GDN  # trainable (the runtime codec uses our inference GDN)

        from neuralcodec.codecs.vq_net import VQNet

        return VQNet(**arch, gdn=GDN)

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.vq_codec import export_model

        return export_model(net, quality, meta)

    @classmethod
    def file_blob(cls, blob: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.vq_codec import delta_on_top_point

        return delta_on_top_point(blob)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> VQCodec:
        from neuralcodec.codecs.vq_codec import VQCodec

        return VQCodec(blob)

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        from neuralcodec.codecs.vq_codec import float_state_dict

        return float_state_dict(blob)
