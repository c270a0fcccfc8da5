"""The ``nerv`` video family (NeRV with a conditional decoder): its declaration.

The model is the bitstream: a clip is coded as the quantized weights of a network fitted to it
(:mod:`neuralcodec.codecs.nerv.net`), so there are no model files and no shipped rate points — a quality
picks the network's size and weight precision (:func:`neuralcodec.codecs.nerv.net.arch_for`). Runtime:
:mod:`neuralcodec.codecs.nerv.codec`; fitting (the encoder): :mod:`neuralcodec.training.nerv_fit`, through
:func:`neuralcodec.video_coding.encode_video`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import FittedFamily, Option, positive_number, positive_whole_number, register_family
from neuralcodec.codecs.nerv.qualities import DEFAULT_QUALITY, QUALITIES

if TYPE_CHECKING:
    from torch import nn

    from neuralcodec.codecs.nerv.codec import NervDecoder


@register_family
class Nerv(FittedFamily):
    """Bitstream streams: ``model`` (architecture and per-group steps and tables), ``weights`` (rANS)."""

    name = "nerv"
    family_id = 4
    exact_pixels = True
    media = "video"
    stream_names = ("model", "weights")
    encode_options = (
        Option("epochs", "passes over the clip (default 300)", parse=positive_whole_number),
        Option("time_budget", "end the fit (on schedule: learning rate and quantization phase) after this many "
               "seconds", parse=positive_number, metavar="SECONDS"),
    )
    qualities = tuple(QUALITIES)  # the rate-point table: neuralcodec/codecs/nerv/qualities.py
    default_quality = DEFAULT_QUALITY

    @classmethod
    def build_net(cls, height: int = 64, width: int = 64, frames: int = 8, quality: int = 1, **_: Any) -> nn.Module:
        from neuralcodec.codecs.nerv.net import NervNet, arch_for

        return NervNet(arch_for(int(height), int(width), int(frames), int(quality)))

    @classmethod
    def load_streams(cls, streams: dict[str, bytes], height: int, width: int, frames: int) -> NervDecoder:
        """The exact decoder of a bitstream's streams (the clip's size and length come from its header)."""
        from neuralcodec.codecs.nerv.codec import NervDecoder

        return NervDecoder.from_streams(streams, height, width, frames)
