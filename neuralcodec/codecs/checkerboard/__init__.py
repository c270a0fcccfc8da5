"""The checkerboard context model family (He et al., CVPR 2021) on the mean-scale hyperprior: its declaration.

Network: :mod:`neuralcodec.codecs.checkerboard.net`. Runtime codec: :mod:`neuralcodec.codecs.checkerboard.codec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import register_family
from neuralcodec.codecs.hyperprior import HyperpriorContextFamily

if TYPE_CHECKING:
    from torch import nn

    from neuralcodec.codecs.checkerboard.codec import CheckerboardCodec


@register_family
class Checkerboard(HyperpriorContextFamily):
    """Streams: ``z`` (factorized hyper-latent), ``y`` (two sets: anchors, then non-anchors given the anchors)."""

    name = "checkerboard"
    family_id = 2
    # a shipped hyperprior of the same λ warm-starts every network but the two context networks
    warm_start_missing = ("context_prediction.", "entropy_parameters.")

    @classmethod
    def build_net(cls, N: int = 128, M: int = 192, **_: Any) -> nn.Module:
        from neuralcodec.codecs.checkerboard.net import CheckerboardHyperpriorNet

        return CheckerboardHyperpriorNet(int(N), int(M))

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.checkerboard.codec import export_checkerboard

        return export_checkerboard(net, quality, meta, cls)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> CheckerboardCodec:
        from neuralcodec.codecs.checkerboard.codec import CheckerboardCodec

        return CheckerboardCodec(blob, cls)
