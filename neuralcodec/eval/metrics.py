"""Distortion and realism metrics on uint8 RGB tensors (3, H, W). Definitions in ``docs/metrics.md``."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-R BT.601 luma weights on full-range R'G'B' (the Y of JPEG/JFIF)
_BT601 = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)


def bpp_of(num_bytes: int, image: Tensor) -> float:
    """Bits per pixel of a file of ``num_bytes`` for this image."""
    return 8.0 * num_bytes / (image.shape[-2] * image.shape[-1])


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _check_pair(a: Tensor, b: Tensor, dtype: torch.dtype) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {tuple(a.shape)} and {tuple(b.shape)}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 (fast) or torch.float64 (reference), not {dtype}")


def psnr_rgb(a: Tensor, b: Tensor, dtype: torch.dtype = torch.float32) -> float:
    """PSNR in dB over all RGB samples (peak 255).

    ``float32`` (default): the squared errors of uint8 samples are summed exactly, in integers.
    ``float64``: the reference computation, kept so tests can compare the two.
    """
    _check_pair(a, b, dtype)
    if dtype == torch.float64:
        return _psnr(torch.mean((a.double() - b.double()) ** 2).item())
    d = a.to(torch.int32) - b.to(torch.int32)
    return _psnr(int((d * d).sum()) / d.numel())


def psnr_y(a: Tensor, b: Tensor, dtype: torch.dtype = torch.float32) -> float:
    """PSNR in dB of BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B, full range, peak 255).

    ``float32`` (default) takes the luma of the (exact) difference image, so no two large lumas are subtracted,
    and sums its squares in float64; ``float64`` is the reference computation.
    """
    _check_pair(a, b, dtype)
    if dtype == torch.float64:
        ya = torch.einsum("c,chw->hw", _BT601, a.double())
        yb = torch.einsum("c,chw->hw", _BT601, b.double())
        return _psnr(torch.mean((ya - yb) ** 2).item())
    d = a.float() - b.float()
    yd = 0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2]
    return _psnr(float(yd.square().sum(dtype=torch.float64)) / yd.numel())


# pytorch_msssim's defaults, which define our MS-SSIM: 11-tap Gaussian window (σ 1.5), 5 scales with these
# weights, K = (0.01, 0.03), data range 255
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """pytorch_msssim's 1-D window (it builds it in float32 too)."""
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, window: Tensor) -> Tensor:
    """Separable blur of every channel of (1, C, H, W), 'valid' borders, as pytorch_msssim's gaussian_filter.

    Depthwise convolution is several times faster on CPU in channels-last layout (same values).
    """
    c = x.shape[1]
    w = window.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    x = F.conv2d(x.contiguous(memory_format=torch.channels_last), w, groups=c)  # no copy if already so
    return F.conv2d(x, w.transpose(2, 3).contiguous(), groups=c)


def _ms_ssim_float32(a: Tensor, b: Tensor) -> float:
    """pytorch_msssim's MS-SSIM, rearranged so that float32 is enough.

    The textbook form subtracts squares of ~255² (σ² = blur(X²) − μ²) and the dB scale then needs 1 − MS-SSIM:
    done naively in float32 that is off by up to ~2e-3 dB at high quality. Here squares are taken of samples
    centred on 128 (exact), and 1 − cs and 1 − l come from the difference image D = X − Y, with no cancellation:
    1 − cs = σ²_D / (σ²_X + σ²_Y + C2) and 1 − l = μ_D² / (μ_X² + μ_Y² + C1) — algebraically the same terms.
    """
    window = _gaussian_window()
    # channels-last from the start: the depthwise blur wants it, and converting the stack later costs more
    x = a[None].float().contiguous(memory_format=torch.channels_last)
    y = b[None].float().contiguous(memory_format=torch.channels_last)
    last = len(_MS_SSIM_WEIGHTS) - 1
    terms: list[Tensor] = []
    for level in range(last + 1):
        xc, yc = x - 128, y - 128
        d = xc - yc
        blurred = _blur(torch.cat([xc, yc, d, xc * xc, yc * yc, d * d], dim=1), window)
        mx, my, md, mxx, myy, mdd = blurred.split(3, dim=1)
        one_minus_cs = (mdd - md * md) / ((mxx - mx * mx) + (myy - my * my) + _C2)
        if level < last:
            terms.append(1 - one_minus_cs.flatten(2).mean(-1, dtype=torch.float64))
            padding = [s % 2 for s in x.shape[2:]]  # the library pools uncentred samples, zero padding
            x, y = F.avg_pool2d(x, 2, padding=padding), F.avg_pool2d(y, 2, padding=padding)
        else:
            mux, muy = mx + 128, my + 128
            one_minus_l = md * md / (mux * mux + muy * muy + _C1)
            one_minus_ssim = one_minus_l + one_minus_cs - one_minus_l * one_minus_cs
            terms.append(1 - one_minus_ssim.flatten(2).mean(-1, dtype=torch.float64))
    values = torch.stack(terms).relu()  # (level, 1, channel); the library clamps negative terms to 0
    weights = torch.tensor(_MS_SSIM_WEIGHTS, dtype=torch.float64).view(-1, 1, 1)
    return float(torch.prod(values**weights, dim=0).mean())


def ms_ssim(a: Tensor, b: Tensor, dtype: torch.dtype = torch.float32) -> float | None:
    """MS-SSIM (pytorch-msssim, 5 scales, data range 255); ``None`` for images under 161 px a side.

    ``float32`` (default): the same definition computed in float32 (see ``_ms_ssim_float32``), ~6× faster.
    ``float64``: the reference, ``pytorch_msssim.ms_ssim`` itself on float64 inputs.
    """
    _check_pair(a, b, dtype)
    if min(a.shape[-2:]) < 161:  # 5 scales of an 11-tap window need > 160 px
        return None
    if dtype == torch.float64:
        from pytorch_msssim import ms_ssim as _ms_ssim

        return float(_ms_ssim(a[None].double(), b[None].double(), data_range=255.0).item())
    return _ms_ssim_float32(a, b)


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on a dB scale: −10·log10(1 − MS-SSIM)."""
    if value is None:
        return None
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


def _laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """Laplacian pyramid of (1, 3, H, W) with the 5-tap binomial filter (as Karras et al.)."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype)
    kernel = (k[:, None] * k[None, :] / 256.0).expand(3, 1, 5, 5).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="reflect"), kernel, groups=3)

    pyramid, current = [], x
    for _ in range(levels - 1):
        down = blur(current)[:, :, ::2, ::2]
        up = F.interpolate(down, size=current.shape[-2:], mode="nearest")
        pyramid.append(current - blur(up))
        current = down
    pyramid.append(current)
    return pyramid


class PatchSwd:
    """Patch-SWD against one original, whose side (pyramid, patch positions, normalisation, directions and sorted
    projections) is computed once: an evaluation compares each original with its decoding at every quality.

    ``PatchSwd(a)(b) == patch_swd(a, b)``; see ``patch_swd`` for the definition and the arguments.
    """

    def __init__(self, original: Tensor, patch: int = 7, patches_per_level: int = 2048, projections: int = 256,
                 levels: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        _check_pair(original, original, dtype)
        self.shape, self.dtype = original.shape, dtype
        # Levels stop at the first one under 16 px; the pyramid is built one level deeper than that, so the
        # levels used are the same band-pass images as in a full pyramid, and the blur never meets an image
        # too small for its reflect padding.
        h, w = original.shape[-2:]
        usable = 0
        while usable < levels and min(h, w) >= max(16, patch):
            usable, h, w = usable + 1, (h + 1) // 2, (w + 1) // 2
        self._depth = min(levels, usable + 1) if usable else 0
        gen = torch.Generator().manual_seed(seed)
        # (rows, cols, mean, std, directions, sorted projections of the original) per level
        self._levels: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]] = []
        for la in self._pyramid(original)[:usable]:
            h, w = la.shape[-2:]
            rows = torch.randint(0, h - patch + 1, (patches_per_level,), generator=gen)
            cols = torch.randint(0, w - patch + 1, (patches_per_level,), generator=gen)
            offsets = torch.arange(patch)
            r = (rows[:, None] + offsets[None, :])[:, :, None]
            c = (cols[:, None] + offsets[None, :])[:, None, :]
            pa = self._patches(la, r, c)
            mean = pa.mean(dim=(0, 2), keepdim=True)
            std = pa.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
            # drawn in float32 whatever ``dtype``: the float64 reference uses the same directions
            dirs = torch.randn(pa.shape[1] * pa.shape[2], projections, generator=gen).to(dtype)
            dirs = dirs / dirs.norm(dim=0, keepdim=True)
            self._levels.append((r, c, mean, std, dirs, self._sorted_projections(pa, mean, std, dirs)))

    def _pyramid(self, image: Tensor) -> list[Tensor]:
        return _laplacian_pyramid(image[None].to(self.dtype) / 255.0, self._depth) if self._depth else []

    @staticmethod
    def _patches(level: Tensor, r: Tensor, c: Tensor) -> Tensor:
        return level[0][:, r, c].permute(1, 0, 2, 3).reshape(r.shape[0], level.shape[1], -1)

    @staticmethod
    def _sorted_projections(p: Tensor, mean: Tensor, std: Tensor, dirs: Tensor) -> Tensor:
        projected = ((p - mean) / std).reshape(p.shape[0], -1) @ dirs
        # NumPy sorts these columns ~25 % faster than torch.sort on CPU (same values); sorting is most of the cost
        return torch.from_numpy(np.sort(projected.numpy(), axis=0))

    def __call__(self, decoded: Tensor) -> float:
        """SWD × 10³ between the original's and ``decoded``'s patch distributions."""
        if decoded.shape != self.shape:
            raise ValueError(f"images differ in size: {tuple(self.shape)} and {tuple(decoded.shape)}")
        distances = []
        for lb, (r, c, mean, std, dirs, proj_a) in zip(self._pyramid(decoded), self._levels, strict=False):
            proj_b = self._sorted_projections(self._patches(lb, r, c), mean, std, dirs)
            distances.append(float((proj_a - proj_b).abs().mean()))
        return 1e3 * sum(distances) / len(distances) if distances else math.nan


def patch_swd(a: Tensor, b: Tensor, patch: int = 7, patches_per_level: int = 2048, projections: int = 256,
              levels: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> float:
    """Sliced Wasserstein distance between Laplacian-pyramid patch distributions of two images.

    Karras et al., ICLR 2018 (progressive GANs): per pyramid level, ``patches_per_level`` random 7×7×3
    patches from each image, normalised per channel with the original's patch statistics, compared by the
    SWD over ``projections`` random unit directions; the result is the mean over levels × 10³. Levels
    stop early when an image gets smaller than 16 px. Deterministic for a fixed ``seed``. ``dtype``: float32
    (default) or float64 (a reference to compare with). To compare one original with many images, use
    ``PatchSwd``.
    """
    return PatchSwd(a, patch, patches_per_level, projections, levels, seed, dtype)(b)
