"""The ``coolchic`` family: an overfitted image codec (Cool-chic / C3 style), declared here.

Encoding fits a small model to each image (:mod:`neuralcodec.training.coolchic_fit`): a pyramid of latent
grids, an auto-regressive entropy model, learned upsampling and a small synthesis
(:mod:`neuralcodec.codecs.coolchic.net`). The bitstream carries the latents and the quantized networks
(:mod:`neuralcodec.codecs.coolchic.codec`), decoded with the networks' exact integer twin
(:mod:`neuralcodec.codecs.coolchic.exact`): the same pixels on every machine. There are no model files: a
quality picks λ and a preset the number of iterations (:mod:`neuralcodec.codecs.coolchic.qualities`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.coolchic.qualities import DEFAULT_PRESET, DEFAULT_QUALITY, PRESETS, QUALITIES
from neuralcodec.codecs.family import FittedFamily, Option, positive_number, positive_whole_number, register_family

if TYPE_CHECKING:
    from torch import nn

    from neuralcodec.codecs.coolchic.codec import CoolChicDecoder


@register_family
class CoolChic(FittedFamily):
    """Bitstream streams: ``model`` (architecture, steps, tables), ``weights`` and ``latents`` (rANS)."""

    name = "coolchic"
    family_id = 7
    exact_pixels = True
    media = "image"
    stream_names = ("model", "weights", "latents")
    encode_options = (
        Option("preset", "fitting effort: " + ", ".join(f"{k} ({v} iterations)" for k, v in PRESETS.items())
               + "; default medium", choices=tuple(PRESETS)),
        Option("iterations", "fit this many iterations (instead of the preset's)", parse=positive_whole_number),
        Option("time_budget", "end the fit (on schedule: learning rate and quantization phase) after this many "
               "seconds", parse=positive_number, metavar="SECONDS"),
    )
    qualities = tuple(QUALITIES)
    default_quality = DEFAULT_QUALITY

    @classmethod
    def fit_iterations(cls, options: dict[str, Any]) -> int:
        """Iterations a fit with these encode options runs (a time budget may end it sooner)."""
        return int(options.get("iterations") or PRESETS[options.get("preset") or DEFAULT_PRESET])

    @classmethod
    def describe(cls, streams: dict[str, bytes], height: int, width: int) -> list[tuple[str, object]]:
        """``codec info``'s rows for the fitted model (its model stream only: no decoding)."""
        from neuralcodec.codecs.coolchic.codec import describe_model

        return describe_model(streams, height, width)

    @classmethod
    def build_net(cls, height: int = 64, width: int = 64, **_: Any) -> nn.Module:
        from neuralcodec.codecs.coolchic.net import CoolChicNet

        return CoolChicNet(int(height), int(width))

    @classmethod
    def load_streams(cls, streams: dict[str, bytes], height: int, width: int, frames: int = 0) -> CoolChicDecoder:
        """The exact decoder of a bitstream's streams (the image size comes from its header)."""
        from neuralcodec.codecs.coolchic.codec import CoolChicDecoder

        return CoolChicDecoder.from_streams(streams, height, width)
