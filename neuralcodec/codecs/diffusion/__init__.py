"""The ``diffusion`` decoder: a few-step generative decoder for other families' files (it writes no files).

Decoding starts from the base codec's own decoding, noised to a timestep chosen from the file's rate point, and
runs one to four denoising steps (RDEIC's compressed-feature initialisation; OSCAR's rate → pseudo-timestep
mapping, so one model serves every rate point). Network: :mod:`neuralcodec.codecs.diffusion.net`; runtime:
:mod:`neuralcodec.codecs.diffusion.decoder`; training: :mod:`neuralcodec.training.diffusion_module`.

Unlike the families' own decoders (exact integer arithmetic), the denoiser runs in float32: it generates texture,
it does not restore stored pixels. The same seed gives the same image on the same kind of machine; on another CPU
kernel set a few values may differ by one level (measured: 0.01 % of the values, at most 1, between AVX2 and
AVX-512 with AMX kernels; ``docs/results.md``, "Exact decoding"). It starts from the file's exact decoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import (
    Option,
    RefiningDecoder,
    fraction,
    register_family,
    whole_number,
    whole_number_in,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

    from neuralcodec.codecs.diffusion.decoder import DiffusionDecoder

MAX_STEPS = 4  # denoising steps a decode may take


@register_family
class Diffusion(RefiningDecoder):
    """No streams of its own: it decodes the files of ``decodes_families`` (those its model file has noise levels
    for)."""

    name = "diffusion"
    family_id = 6
    stream_names = ()
    # what the shipped model has noise levels for (vq's files are not among them: they are refused, not listed)
    decodes_families = ("hyperprior", "checkerboard", "acgc")
    summary = ("a few-step generative decoder that starts from the file's own decoding: more realistic texture, "
               "lower PSNR")
    decode_options = (
        Option("steps", f"denoising steps, 1…{MAX_STEPS} (default 2)", parse=whole_number_in(1, MAX_STEPS)),
        Option("strength", "0 keeps the file's own decoding, 1 (default) starts from the noise level matched to the "
               "file's rate point; in between trades fidelity for realism", parse=fraction),
        Option("seed", "the noise (default 0); the same seed gives the same image", parse=whole_number),
    )

    @classmethod
    def build_net(cls, widths: tuple[int, ...] | list[int] = (48, 96, 128), **_: Any) -> nn.Module:
        from neuralcodec.codecs.diffusion.net import Denoiser

        return Denoiser(tuple(widths))

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.diffusion.decoder import export_model

        return export_model(net, quality, meta, cls)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> DiffusionDecoder:
        from neuralcodec.codecs.diffusion.decoder import DiffusionDecoder

        return DiffusionDecoder(blob, cls)

    @classmethod
    def float_state_dict(cls, blob: dict[str, Any]) -> dict[str, Tensor]:
        from neuralcodec.codecs.diffusion.decoder import float_state_dict

        return float_state_dict(blob)
