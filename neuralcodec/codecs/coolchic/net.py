"""The float model of the overfitted image codec: latent pyramid, auto-regressive entropy model, upsampling
and synthesis, all fitted to one image (Cool-chic, Ladune et al. 2023; C3, Kim et al. 2024).

Every part is small enough to fit per image: a 7-level pyramid of one-channel latent grids (1:1 … 1:64),
an MLP that reads a causal neighbourhood of already decoded latents and gives a Laplace mean and scale per
latent, a learned 2× upsampling (one separable 8-tap kernel per level, initialised bicubic) that brings the
levels to full resolution, and a synthesis of 1×1 layers with a residual 3×3 stage.

The causal neighbourhood reaches at most ``CONTEXT_SLOPE - 1`` columns to the right on the rows above, so
every latent on the anti-diagonal ``x + CONTEXT_SLOPE · y = t`` depends only on earlier anti-diagonals:
the decoder decodes a whole wavefront at once.

Follows Cool-chic (v4): one-channel grids initialised to zero and scaled by an encoder gain of 16, its 16-neighbour
causal context, an entropy model of residual layers as wide as the context with a Laplace output (log scale
shifted by −4), per-level symmetric 8-tap upsampling initialised bicubic, the synthesis
``40-1-linear-relu,3-1-linear-none,3-3-residual-relu,3-3-residual-none``, Adam with gradients clipped to 0.1,
keeping the best model as coded at the end, and per-layer weight steps 2^-k chosen by rate–distortion after the
fit. Follows C3 in the soft quantiser: soft rounding of soft-rounded latents plus Kumaraswamy noise, both annealed,
then a short hard-rounding phase. Departs: no 7×7 pre-concat filter in the upsampling, 40 rather than 48 hidden
synthesis channels (cost per iteration), no warm-up among several random starts, one Adam for latents and
networks (SOAP not measured), 1×1 layers in bfloat16 while fitting where the CPU has it natively, the network
weights coded with two-sided geometric tables (our :mod:`neuralcodec.entropy.geometric`) rather than exp-Golomb,
images larger than 768 pixels fitted in independent tiles, and a decoder that is entirely integer arithmetic
(:mod:`neuralcodec.codecs.coolchic.exact`): the entropy model's mean to 1/16 and its scale to e^(j/8) select
tables built exactly, so every machine decodes the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Causal neighbourhood (dy, dx) of a latent (Cool-chic's 16 neighbours): 2 on the third row above, 5 on the
# second, 6 on the first, 3 to the left. The rightmost offset on the rows above is +2, so wavefronts step 3 per row.
CONTEXT_OFFSETS: tuple[tuple[int, int], ...] = (
    ((-3, 0), (-3, 1)) + tuple((-2, dx) for dx in range(-2, 3)) + tuple((-1, dx) for dx in range(-3, 3))
    + tuple((0, dx) for dx in range(-3, 0))
)
CONTEXT_SLOPE = 3
LOG_SCALE_MIN = -4.6  # scales 0.01 … 148
LOG_SCALE_MAX = 5.0
LOG_SCALE_SHIFT = -4.0  # a fresh model predicts small scales (Cool-chic)
# The fitted parameter is latent / LATENT_GAIN: Adam's steps (≈ lr) then move a latent by ≈ lr · gain, so
# latents reach useful values in hundreds of iterations rather than thousands (Cool-chic's encoder gain).
LATENT_GAIN = 16.0


@dataclass
class CoolChicArch:
    """Sizes of one fitted model (stored in every bitstream)."""

    levels: int = 7
    arm_layers: int = 2
    synthesis_hidden: int = 40
    synthesis_residual: int = 2
    context: tuple[tuple[int, int], ...] = field(default=CONTEXT_OFFSETS)


def soft_round(y: Tensor, temperature: float | Tensor) -> Tensor:
    """Agustsson & Theis' differentiable rounding: → round(y) as temperature → 0, → y as it grows."""
    t = torch.as_tensor(temperature, dtype=y.dtype)
    floor = torch.floor(y)
    r = y - floor - 0.5
    return floor + 0.5 + torch.tanh(r / t) / (2.0 * torch.tanh(0.5 / t))


def pad_edges(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Replicate-pad by repeating edge rows and columns (plain ops, so it compiles and runs anywhere)."""
    rows = [x[:, :, :1]] * top + [x] + [x[:, :, -1:]] * bottom
    x = torch.cat(rows, dim=2) if top or bottom else x
    cols = [x[:, :, :, :1]] * left + [x] + [x[:, :, :, -1:]] * right
    return torch.cat(cols, dim=3) if left or right else x


def kumaraswamy_noise(shape: torch.Size, a: float | Tensor, device: torch.device) -> Tensor:
    """Noise in (−½, ½) from a Kumaraswamy(a, b) law with mode ½ (C3): uniform at a = 1, peaked as a grows."""
    a = torch.as_tensor(a, dtype=torch.float32).clamp_min(1.0)
    b = (torch.pow(2.0, a) * (a - 1.0) + 1.0) / a
    u = torch.rand(shape, device=device).clamp(1e-6, 1 - 1e-6)
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a) - 0.5


def laplace_bits(y: Tensor, mu: Tensor, log_scale: Tensor) -> Tensor:
    """−log₂ P(y) of the integer bin [y−½, y+½] under Laplace(mu, exp(log_scale)).

    With d = |y − mu| and scale b the bin's mass is ½(e^{−(d−½)/b} − e^{−(d+½)/b}) when d ≥ ½ and
    1 − ½(e^{−(½−d)/b} + e^{−(½+d)/b}) inside the central bin; both use the same two exponentials."""
    inv_scale = torch.exp(-log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    d = (y - mu).abs()
    near = torch.exp(-(d - 0.5).abs() * inv_scale)
    far = torch.exp(-(d + 0.5) * inv_scale)
    p = torch.where(d >= 0.5, 0.5 * (near - far), 1.0 - 0.5 * (near + far))
    return -torch.log2(p.clamp_min(2.0 ** -24))


def gather_context(grid: Tensor, offsets: tuple[tuple[int, int], ...]) -> Tensor:
    """(N, len(offsets)) causal neighbours of every position of a (1, 1, h, w) grid, zero outside it.

    A convolution with one-hot kernels (one output channel per offset): each output is one input value times 1
    plus zeros, so exact, and its backward pass is one convolution rather than a sliced copy per offset."""
    _, _, h, w = grid.shape
    top = -min(dy for dy, _ in offsets)
    left = -min(dx for _, dx in offsets)
    right = max(dx for _, dx in offsets)
    kernel = torch.zeros(len(offsets), 1, top + 1, left + right + 1, dtype=grid.dtype, device=grid.device)
    for k, (dy, dx) in enumerate(offsets):
        kernel[k, 0, top + dy, left + dx] = 1.0
    padded = F.pad(grid, (left, right, top, 0))
    return F.conv2d(padded, kernel)[0].reshape(len(offsets), h * w).T


class EntropyModel(nn.Module):
    """The auto-regressive model: causal context → (mean, log scale), shared by every latent level.

    ``layers`` residual layers of the context's width (zero-initialised, so a fresh model passes the context
    through), ReLU after each, then a linear layer to the mean and the log scale."""

    def __init__(self, context: int, layers: int) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(nn.Linear(context, context) for _ in range(layers))
        for layer in self.hidden:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.out = nn.Linear(context, 2)
        nn.init.normal_(self.out.weight, std=1.0 / 4)
        nn.init.zeros_(self.out.bias)

    def forward(self, ctx: Tensor) -> tuple[Tensor, Tensor]:
        h = ctx
        for layer in self.hidden:
            h = F.relu(layer(h) + h)
        out = self.out(h)
        return out[:, 0], out[:, 1] + LOG_SCALE_SHIFT


def bicubic_taps() -> Tensor:
    """The 8 taps of 2× bicubic upsampling (Keys, a = −½: exact on linear ramps) as a transposed conv kernel."""
    def cubic(x: float, a: float = -0.5) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0
    return torch.tensor([cubic((k - 3.5) / 2.0) for k in range(8)], dtype=torch.float32)


class Upsampling(nn.Module):
    """Learned 2× upsampling per level transition: a separable, symmetric 8-tap transposed convolution."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        half = bicubic_taps()[:4]
        self.half_taps = nn.Parameter(half.repeat(max(levels - 1, 1), 1))

    def kernel(self, i: int) -> Tensor:
        half = self.half_taps[i]
        return torch.cat([half, half.flip(0)])

    def up2(self, x: Tensor, i: int, height: int, width: int) -> Tensor:
        """(1, C, h, w) → (1, C, height, width) with height ≤ 2h, width ≤ 2w (replicate-padded edges)."""
        c = x.shape[1]
        k = self.kernel(i)
        xp = pad_edges(x, 2, 2, 2, 2)
        kh = k.view(1, 1, 8, 1).expand(c, 1, 8, 1)
        kw = k.view(1, 1, 1, 8).expand(c, 1, 1, 8)
        y = F.conv_transpose2d(xp, kh, stride=(2, 1), groups=c)
        y = F.conv_transpose2d(y, kw, stride=(1, 2), groups=c)
        # padded input of size n+4 gives 2(n+4)+6 outputs; the image's 2n samples start at 4+3
        return y[:, :, 7 : 7 + height, 7 : 7 + width]

    def forward(self, grids: list[Tensor]) -> Tensor:
        """Latent grids (finest first) → (1, levels, H, W)."""
        x = grids[-1]
        for i in range(len(grids) - 2, -1, -1):
            target = grids[i]
            x = self.up2(x, i, target.shape[-2], target.shape[-1])
            x = torch.cat([target, x], dim=1)
        return x


class Synthesis(nn.Module):
    """1×1 layers (levels → hidden → 3) then residual 3×3 layers on the 3 output channels."""

    def __init__(self, levels: int, hidden: int, residual: int) -> None:
        super().__init__()
        self.pointwise_in = nn.Conv2d(levels, hidden, 1)
        self.pointwise_out = nn.Conv2d(hidden, 3, 1)
        self.residual = nn.ModuleList(nn.Conv2d(3, 3, 3) for _ in range(residual))
        for conv in self.residual:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        # bfloat16 for the 1×1 layers while fitting, where the CPU computes it natively (AMX, AVX-512 BF16):
        # ≈ 3.5× faster there; the decoder never sees it (it runs the exact integer twin)
        self.low_precision = False

    def forward(self, x: Tensor) -> Tensor:
        _, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(-1, c)  # (pixels, levels): the 1×1 layers as matrix products
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.low_precision and x.device.type == "cpu"):
            hidden = F.relu(F.linear(flat, self.pointwise_in.weight.view(-1, c), self.pointwise_in.bias))
            out = F.linear(hidden, self.pointwise_out.weight.view(3, -1), self.pointwise_out.bias)
        x = out.float().view(1, h, w, 3).permute(0, 3, 1, 2)  # channels-last: the fast layout for the 3×3s
        for i, conv in enumerate(self.residual):
            r = conv(pad_edges(x, 1, 1, 1, 1).contiguous(memory_format=torch.channels_last))
            x = x + (F.relu(r) if i < len(self.residual) - 1 else r)
        return x


def grid_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Latent grid sizes, finest (the image's) first, each level halving (rounding up)."""
    return [(math.ceil(height / 2**i), math.ceil(width / 2**i)) for i in range(levels)]


class CoolChicNet(nn.Module):
    """Everything fitted to one image; ``forward`` gives the reconstruction and the latents' bits."""

    def __init__(self, height: int, width: int, arch: CoolChicArch | None = None) -> None:
        super().__init__()
        self.arch = arch or CoolChicArch()
        a = self.arch
        self.height, self.width = height, width
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, h, w))
                                        for h, w in grid_shapes(height, width, a.levels))
        self.entropy = EntropyModel(len(a.context), a.arm_layers)
        self.upsampling = Upsampling(a.levels)
        self.synthesis = Synthesis(a.levels, a.synthesis_hidden, a.synthesis_residual)

    def network_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("latents")]

    def quantized_latents(self, mode: str, temperature: float = 0.3, noise_a: float = 1.0) -> tuple[list, list]:
        """(latents the decoder sees, latents the rate is measured on) for a fitting phase.

        ``"soft"``: soft rounding plus Kumaraswamy noise (C3); ``"hard"``: rounding with a straight-through
        gradient; ``"eval"``: plain rounding."""
        seen, rated = [], []
        for p in self.latents:
            y = p * LATENT_GAIN
            if mode == "soft":
                noisy = soft_round(y, temperature) + kumaraswamy_noise(y.shape, noise_a, y.device)
                rated.append(noisy)
                seen.append(soft_round(noisy, temperature))
            elif mode == "hard":
                q = y + (torch.round(y) - y).detach()
                rated.append(q)
                seen.append(q)
            else:
                q = torch.round(y)
                rated.append(q)
                seen.append(q)
        return seen, rated

    def rate_bits(self, rated: list[Tensor]) -> Tensor:
        """Bits of all latent levels under the entropy model (one batched call over every level)."""
        ctx = torch.cat([gather_context(y, self.arch.context) for y in rated])
        values = torch.cat([y.reshape(-1) for y in rated])
        mu, log_scale = self.entropy(ctx)
        return laplace_bits(values, mu, log_scale).sum()

    def forward(self, mode: str = "soft", temperature: float = 0.3, noise_a: float = 1.0) -> tuple[Tensor, Tensor]:
        seen, rated = self.quantized_latents(mode, temperature, noise_a)
        x_hat = self.synthesis(self.upsampling(seen))
        return x_hat, self.rate_bits(rated)
