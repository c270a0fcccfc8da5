"""``diffusion`` runtime: refine a base codec's decoding with a few denoising steps.

Start: x_T' = sqrt(ᾱ) · c + sqrt(1 − ᾱ) · ε with c the base decoding (in [-1, 1]) and T' = t(file's family, rate
point, strength). Each step predicts x̂₀ (kept as 8-bit pixels) and, unless it is the last, noises it again to the
next (smaller) timestep with fresh noise; the last x̂₀ is the output.

**Rate → timestep (OSCAR).** A base decoding differs from the original by an error of variance σ²(q) (per rate
point, measured on BSDS500 val at export and stored in the model file). The start timestep is the one whose
noise-to-signal variance ratio is ``strength · noise_scale · σ²(q)``: the noise hides the codec's error
(``noise_scale`` ≥ 1) and the denoiser, trained on such starts, replaces it with plausible detail. Strength 0
returns the base decoding unchanged; the start timesteps grow as the rate falls.

**Determinism.** The noise of step k at pixel (y, x) comes from a generator seeded with (seed, k, 64×64 block),
so the same seed gives the same image whatever the tiling. Large images run each step in overlapping tiles whose
margins cover the denoiser's receptive field, and it normalises per position, so tiles add no seams.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from neuralcodec.codecs.diffusion import MAX_STEPS
from neuralcodec.codecs.diffusion.net import RECEPTIVE_FIELD, Denoiser, alpha_bar
from neuralcodec.codecs.family import CodecFamily
from neuralcodec.codecs.model_file import MODEL_FORMAT, LoadedModel, compact_state_dict
from neuralcodec.codecs.stages import pad_replicate
from neuralcodec.codecs.stages.tiling import tile_spans
from neuralcodec.errors import DecodeError

NOISE_BLOCK = 64
# Each step runs over the whole image in tiles whose margins cover the denoiser's reach, so a tile computes what
# the whole image would (up to floating-point summation order). 512-px tiles (672² with margins) keep each
# activation under glibc's mmap threshold, so they reuse the heap the base decoding freed: a 6 MP decode peaks
# 0.32 GB above the base decoding's peak, against 0.50 GB with 768-px tiles.
TILE, TILE_MARGIN = 512, RECEPTIVE_FIELD  # pixels (multiples of the denoiser's input multiple, 8)
DEFAULT_STEPS, DEFAULT_STRENGTH = 2, 1.0


def export_model(net: nn.Module, quality: int, meta: dict[str, Any], family: type[CodecFamily]) -> dict[str, Any]:
    """Model-file dict: fp16 denoiser weights, each supported family's per-rate-point error variance σ²(q) (in
    [-1, 1] units) and the noise scale."""
    net = copy.deepcopy(net).float().eval()
    state = {k: v for k, v in net.state_dict().items() if k != "_extra_state"}
    return {
        "format": MODEL_FORMAT, "family": family.name, "model_id": 0, "quality": int(quality),
        "arch": {"widths": list(net.widths)},
        "weights": compact_state_dict(state),
        "error_variance": {family: torch.tensor(values, dtype=torch.float64)
                           for family, values in net.error_variance.items()},
        "noise_scale": float(net.noise_scale),
        "meta": meta,
    }


def float_state_dict(blob: dict[str, Any]) -> dict[str, Tensor]:
    """The float32 :class:`Denoiser` state of a model file (its rate → timestep table included)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["weights"].items()}
    state["_extra_state"] = {"error_variance": {f: t.tolist() for f, t in blob["error_variance"].items()},
                             "noise_scale": float(blob["noise_scale"])}
    return state


def _block_seed(seed: int, step: int, row: int, col: int) -> int:
    """A generator seed per (seed, step, block): a fixed integer mix (Python's hash() is not stable across
    versions)."""
    value = seed & 0xFFFFFFFF
    for part in (step, row, col):
        value = (value * 1_000_003 + part) % (1 << 62)
    return value


def positional_noise(seed: int, step: int, top: int, left: int, height: int, width: int) -> Tensor:
    """Standard normal noise (1, 3, height, width) of the window at (top, left) of a seeded, image-wide field:
    each 64×64 block has its own generator, so a window's noise does not depend on how the image is tiled."""
    out = torch.empty(1, 3, height, width)
    b = NOISE_BLOCK
    for br in range(top // b, (top + height - 1) // b + 1):
        for bc in range(left // b, (left + width - 1) // b + 1):
            gen = torch.Generator().manual_seed(_block_seed(seed, step, br, bc))
            block = torch.randn(1, 3, b, b, generator=gen)
            r0, c0 = max(top, br * b), max(left, bc * b)
            r1, c1 = min(top + height, (br + 1) * b), min(left + width, (bc + 1) * b)
            out[:, :, r0 - top : r1 - top, c0 - left : c1 - left] = block[:, :, r0 - br * b : r1 - br * b,
                                                                            c0 - bc * b : c1 - bc * b]
    return out


class DiffusionDecoder(LoadedModel):
    """The denoiser of a model file and its rate → timestep table."""


    def __init__(self, blob: dict[str, Any], family: type[CodecFamily]) -> None:
        super().__init__(blob, family)
        self.net = Denoiser(tuple(blob["arch"]["widths"]))
        self.net.load_state_dict(float_state_dict(blob))
        self.net.eval()

    def supports(self, family: str, quality: int) -> bool:
        """Whether this model has the error variance of that family's rate point."""
        return 0 <= quality < len(self.net.error_variance.get(family, []))

    def start_timestep(self, family: str, quality: int, strength: float) -> int:
        """The timestep decoding starts from for a file of ``family`` at rate point ``quality``."""
        if not self.supports(family, quality):
            raise DecodeError(f"the diffusion decoder has no timestep for {family} rate point {quality}")
        return self.net.start_timestep(family, quality, strength)

    def schedule(self, start: int, steps: int) -> list[int]:
        """The ``steps`` timesteps visited, from ``start`` down (evenly spaced, distinct, all ≥ 1)."""
        ts = [round(start * (steps - k) / steps) for k in range(steps)]
        return sorted({t for t in ts if t >= 1}, reverse=True)

    @torch.no_grad()
    def refine(self, image: Tensor, family: str, quality: int, steps: int = DEFAULT_STEPS,
               strength: float = DEFAULT_STRENGTH, seed: int = 0) -> Tensor:
        """uint8 RGB (3, H, W): the base decoding ``image`` refined in ``steps`` (1–4) denoising steps."""
        if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise DecodeError(f"steps must be a whole number 1…{MAX_STEPS}, got {steps!r}")
        if not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
            raise DecodeError(f"strength must be a number in [0, 1], got {strength!r}")
        if not isinstance(seed, int) or seed < 0:
            raise DecodeError(f"seed must be a non-negative whole number, got {seed!r}")
        timesteps = self.schedule(self.start_timestep(family, quality, float(strength)), steps)
        if not timesteps:
            return image.clone()
        _, h, w = image.shape
        base = pad_replicate(image, self.net.multiple)[0]
        # each step's estimate is kept as 8-bit pixels: the next step noises it far beyond that rounding, and a
        # 24 MP image then needs 72 MB per buffer instead of 288 MB
        x0 = None
        for k, t in enumerate(timesteps):  # each step over the whole image, in tiles with margins ≥ its reach
            a = float(alpha_bar(t))
            estimate = torch.empty(base.shape, dtype=torch.uint8)
            for r0, r1, a0, a1 in tile_spans(base.shape[1], TILE, TILE_MARGIN):
                for c0, c1, b0, b1 in tile_spans(base.shape[2], TILE, TILE_MARGIN):
                    c = to_unit(base[None, :, a0:a1, b0:b1])
                    start = c if x0 is None else to_unit(x0[None, :, a0:a1, b0:b1])  # RDEIC: first from the base
                    noise = positional_noise(seed, k, a0, b0, a1 - a0, b1 - b0)
                    x_t = a**0.5 * start + (1 - a) ** 0.5 * noise
                    pred = self.net(x_t, c, torch.full((1,), t))
                    estimate[:, r0:r1, c0:c1] = to_pixels(pred[0, :, r0 - a0 : r1 - a0, c0 - b0 : c1 - b0])
            x0 = estimate
        return x0[:, :h, :w].clone() if x0.shape[1:] != (h, w) else x0


def to_pixels(x: Tensor) -> Tensor:
    """[-1, 1] floats → uint8 pixels (rounded, clamped)."""
    return ((x + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_unit(pixels: Tensor) -> Tensor:
    """uint8 pixels → floats in [-1, 1]."""
    return pixels.float() / 127.5 - 1.0
