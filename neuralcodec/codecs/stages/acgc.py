"""The pieces of the ACGC entropy model (:mod:`neuralcodec.codecs.acgc`) shared by its training network and codec.

The latent's M channels are split into uneven slices (ELIC's idea: few channels first, where most of the energy
is). Slice i (C_i channels) is coded in two checkerboard passes, anchors then non-anchors, after every earlier
slice (the schedule: :mod:`neuralcodec.codecs.stages.sliced_checkerboard`). Its (scales, means) are a
correction of the hyper-synthesis output P_i for its channels:

    (scales_i, means_i) = P_i + slice_parameters[i](cat(P_i, spatial_i, channel_i, global_i))

- ``spatial_context[i]``: a 5×5 checkerboard-masked convolution over the slice's decoded anchors (C_i → 2C_i),
  zero at anchors;
- ``channel_context[i]`` (i ≥ 1): 3×3 then 1×1 convolutions over the decoded earlier slices ŷ_<i (→ 2C_i);
- ``global_context[i]`` (i ≥ 1): a 1×1 projection of cat(P_i, ŷ_<i) to queries, keys and values
  (:data:`ATTENTION_DIM` each) and a linear attention over all positions of the latent
  (:func:`linear_attention`; exactly: :func:`neuralcodec.codecs.stages.fixed_point.exact_linear_attention`);
- ``slice_parameters[i]``: 1×1 convolutions whose last layer starts at zero, so an untrained model codes as the
  hyperprior it was warm-started from.

Slice 0 has no channel or global context (nothing is decoded before it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neuralcodec.codecs.stages.checkerboard import CheckerboardContextConv
from neuralcodec.codecs.stages.fixed_point import ATTN_EPSILON_BITS, ATTN_FRAC_BITS, ATTN_LIMIT
from neuralcodec.codecs.stages.layers import LEAKY_SLOPE

ATTENTION_DIM = 32  # query/key and value channels of each slice's global attention (≤ fixed_point.ATTN_MAX_DIM)
SLICE_TWELFTHS = (1, 1, 2, 4, 4)  # slice sizes in twelfths of M: (16, 16, 32, 64, 64) for M = 192


def slice_sizes(M: int) -> tuple[int, ...]:
    """Channels of each slice, in coding order."""
    if M % 12:
        raise ValueError(f"ACGC slices need M divisible by 12, got {M}")
    return tuple(M // 12 * t for t in SLICE_TWELFTHS)


def slice_bounds(M: int) -> list[tuple[int, int]]:
    """(first, end) channel of each slice."""
    bounds, start = [], 0
    for size in slice_sizes(M):
        bounds.append((start, start + size))
        start += size
    return bounds


def acgc_networks(M: int) -> dict[str, nn.Module]:
    """The context networks of every slice, by attribute name (see the module docstring)."""
    spatial, channel, attention, parameters = nn.ModuleList(), nn.ModuleDict(), nn.ModuleDict(), nn.ModuleList()
    for i, (first, end) in enumerate(slice_bounds(M)):
        c = end - first
        spatial.append(nn.Sequential(CheckerboardContextConv(c, 2 * c, 5)))
        inputs = 4 * c
        if i:
            hidden = max(2 * c, first)
            channel[str(i)] = nn.Sequential(
                nn.Conv2d(first, hidden, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                nn.Conv2d(hidden, 2 * c, 1),
            )
            attention[str(i)] = nn.Sequential(nn.Conv2d(2 * c + first, 3 * ATTENTION_DIM, 1))
            inputs += 2 * c + ATTENTION_DIM
        hidden = max(2 * c, 64)
        parameters.append(nn.Sequential(
            nn.Conv2d(inputs, hidden, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(hidden, 2 * c, 1),
        ))
        nn.init.zeros_(parameters[-1][-1].weight)
        nn.init.zeros_(parameters[-1][-1].bias)
    return {"spatial_context": spatial, "channel_context": channel, "global_context": attention,
            "slice_parameters": parameters}


def exact_network_names(M: int) -> tuple[str, ...]:
    """Prefixes of every context network, as stored (int8) in a model file and run in fixed point."""
    names = []
    for i in range(len(slice_sizes(M))):
        names.append(f"spatial_context.{i}")
        if i:
            names += [f"channel_context.{i}", f"global_context.{i}"]
        names.append(f"slice_parameters.{i}")
    return tuple(names)


def linear_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Float twin of :func:`~neuralcodec.codecs.stages.fixed_point.exact_linear_attention` for training (batched):
    ``out_p = q_p·S̄ / (q_p·s̄ + 2**-12)`` with ``S̄ = mean_j k_j v_jᵀ``, ``s̄ = mean_j k_j`` per image,
    queries and keys clamped to [0, 16], values to [-16, 16] (the exact version's grid, without its rounding)."""
    limit = ATTN_LIMIT / (1 << ATTN_FRAC_BITS)
    b, d, h, w = q.shape
    q = q.clamp(0, limit).reshape(b, d, h * w)
    k = k.clamp(0, limit).reshape(b, d, h * w)
    v = v.clamp(-limit, limit).reshape(b, v.shape[1], h * w)
    kv_mean = torch.einsum("bdn,ben->bde", k, v) / (h * w)
    key_mean = k.mean(dim=2)
    num = torch.einsum("bdn,bde->ben", q, kv_mean)
    den = torch.einsum("bdn,bd->bn", q, key_mean).unsqueeze(1)
    return (num / (den + 2.0**-ATTN_EPSILON_BITS)).reshape(b, -1, h, w)
