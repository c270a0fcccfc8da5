"""The mean-scale hyperprior family (Minnen, Ballé, Toderici 2018, without context model): its declaration.

Network: :mod:`neuralcodec.codecs.hyperprior.net`. Runtime codec: :mod:`neuralcodec.codecs.hyperprior.codec`.
Both are imported only when a network is built or a model file loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import ImageFamily, RatePoint, register_family

if TYPE_CHECKING:
    from torch import Tensor, nn

    from neuralcodec.codecs.hyperprior.codec import HyperpriorCodec


@register_family
class Hyperprior(ImageFamily):
    """Bitstream streams: ``z`` (factorized hyper-latent), then ``y`` (Gaussian, scale-indexed latent)."""

    name = "hyperprior"
    family_id = 1
    exact_pixels = True
    stream_names = ("z", "y")
    rate_points = {q: RatePoint(lmbda) for q, lmbda in
                   enumerate((0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.032, 0.0932, 0.18))}

    @classmethod
    def build_net(cls, N: int = 128, M: int = 192, **_: Any) -> nn.Module:
        from neuralcodec.codecs.hyperprior.net import MeanScaleHyperpriorNet

        return MeanScaleHyperpriorNet(int(N), int(M))

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.hyperprior.codec import export_model

        return export_model(net, quality, meta, cls)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> HyperpriorCodec:
        from neuralcodec.codecs.hyperprior.codec import HyperpriorCodec

        return HyperpriorCodec(blob, cls)

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        from neuralcodec.codecs.hyperprior.codec import float_state_dict

        return float_state_dict(blob, cls.build_net(**blob["arch"]))


class HyperpriorContextFamily(ImageFamily):
    """A context model on the hyperprior (checkerboard, acgc): its streams and rate points are the hyperprior's,
    each point starts from the shipped hyperprior of its λ, and a model trained with those transforms frozen is
    stored as the difference to that file."""

    exact_pixels = True  # the hyperprior's exact synthesis
    stream_names = ("z", "y")
    rate_points = Hyperprior.rate_points

    @classmethod
    def file_blob(cls, blob: dict[str, Any]) -> dict[str, Any]:
        """Only the context networks, with a reference to the hyperprior file, when the transforms are exactly
        that file's (≈ 2.5 MB instead of ≈ 12.6 MB for checkerboard)."""
        from neuralcodec.codecs.registry import delta_on_shipped

        return delta_on_shipped(blob, Hyperprior.name)

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        from neuralcodec.codecs.hyperprior.codec import float_state_dict

        return float_state_dict(blob, cls.build_net(**blob["arch"]))
