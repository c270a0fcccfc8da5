"""The ACGC entropy model of S2LIC (Wang et al. 2024) on the mean-scale hyperprior: its declaration.

Networks: :mod:`neuralcodec.codecs.stages.acgc`. Training network: :mod:`neuralcodec.codecs.acgc.net`. Runtime
codec: :mod:`neuralcodec.codecs.acgc.codec`.

Where it follows S2LIC ("S2LIC: Learned Image Compression with the SwinV2 Block, Adaptive Channel-wise and
Global-inter Attention Context", arXiv 2403.14471, and its public code):

- the latent is split into channel slices coded one after another; each slice is coded in a checkerboard, in two
  passes (anchors, then non-anchors), so decoding takes 2 passes per slice whatever the image size;
- each slice's Gaussian mean and scale come from parameter networks fed with the hyperprior's parameters, a
  channel-wise context of the already decoded slices and a global-inter context: an attention over every spatial
  position of the already decoded slices, computed once per slice.

Where it departs:

- Slices: 5 uneven slices of the shipped hyperprior's M = 192 channels, (16, 16, 32, 64, 64) — ELIC's uneven
  grouping (few channels first) — instead of S2LIC's 10 even slices of M = 320.
- Transforms: the hyperprior's convolution/GDN analysis, synthesis and hyper transforms (N = 128, M = 192), so a
  shipped hyperprior of the same λ warm-starts all of them. S2LIC's Residual SwinV2 transformer blocks and its
  dense-block enhancement module are not implemented (the issue makes them optional).
- Global-inter context: S2LIC uses deformable attention (learned sampling offsets, bilinear sampling, softmax
  weights). Here it is a normalised linear attention with a clamped-ReLU feature map,
  ``out_p = Σ_j (q_p·k_j) v_j / (Σ_j q_p·k_j + ε)`` over all positions (the linear-complexity global context of
  MLIC++, whose softmax decomposition is replaced by the ReLU kernel: no exponential has an exact integer form).
  Queries, keys and values are 1×1 projections of (the slice's hyper parameters, the decoded earlier slices).
  It runs exactly on integers (:func:`neuralcodec.codecs.stages.fixed_point.exact_linear_attention`; the bit budget is
  in its docstring): linear in the number of positions, unlike a deformable attention, and no sampling offsets.
- Channel-wise context: S2LIC's adaptive channel-wise attention block is replaced by a 3×3 then 1×1 convolution
  over the decoded earlier slices (exact in fixed point; attention over channels needs a softmax).
- Checkerboard: S2LIC's public code gives anchors and non-anchors separate parameter networks but the same
  inputs, so non-anchors see no decoded anchor of their own slice. Here the non-anchors get real spatial context:
  a 5×5 checkerboard-masked convolution over the slice's decoded anchors (He et al. 2021); one parameter network
  per slice serves both passes (the spatial context is zero for anchors).
- Parameters: a *correction* of the hyperprior's (scales, means) whose last layer starts at zero, so an untrained
  model codes exactly as the hyperprior it was warm-started from; S2LIC predicts them from scratch.
- No latent residual prediction (S2LIC adds one after each pass): it would be one more exact network in the
  decoder's critical path (its tanh has no exact form) and would change the synthesis input, so the transforms
  could no longer be frozen in the first training stage; not measured, left out.
- Exactness and training: every context network has int8 weights and fixed-point activations with LeakyReLU
  2⁻⁷ (S2LIC: float, GELU); training warm-starts from the shipped hyperprior, trains the context networks on
  cached latents with the transforms frozen (``configs/acgc/context/``), then fine-tunes everything at a low
  learning rate (``configs/acgc/``). S2LIC trains end to end from scratch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.family import register_family
from neuralcodec.codecs.hyperprior import HyperpriorContextFamily

if TYPE_CHECKING:
    from torch import nn

    from neuralcodec.codecs.acgc.codec import AcgcCodec


@register_family
class Acgc(HyperpriorContextFamily):
    """Streams: ``z`` (factorized hyper-latent), ``y`` (two sets per slice: its anchors, then its non-anchors)."""

    name = "acgc"
    family_id = 3
    # a shipped hyperprior of the same λ warm-starts every network but the context networks
    warm_start_missing = ("spatial_context.", "channel_context.", "global_context.", "slice_parameters.")

    @classmethod
    def build_net(cls, N: int = 128, M: int = 192, **_: Any) -> nn.Module:
        from neuralcodec.codecs.acgc.net import AcgcNet

        return AcgcNet(int(N), int(M))

    @classmethod
    def export(cls, net: nn.Module, quality: int, meta: dict[str, Any]) -> dict[str, Any]:
        from neuralcodec.codecs.acgc.codec import export_acgc

        return export_acgc(net, quality, meta, cls)

    @classmethod
    def load(cls, blob: dict[str, Any]) -> AcgcCodec:
        from neuralcodec.codecs.acgc.codec import AcgcCodec

        return AcgcCodec(blob, cls)
