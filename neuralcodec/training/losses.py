"""Losses of the generative decoders (``vq``, ``diffusion``) that need no downloaded weights."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017) with GroupNorm instead of BatchNorm (small batches): one logit per patch."""

    def __init__(self, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for i in range(1, layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            mods += [nn.Conv2d(channels, out, 4, stride, 1), nn.GroupNorm(8, out), nn.LeakyReLU(0.2)]
            channels = out
        mods.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x * 2.0 - 1.0)


def laplacian_pyramid_l1(a: Tensor, b: Tensor, levels: int = 5) -> Tensor:
    """Mean L1 distance between the bands of two Laplacian pyramids, summed over bands (Bojanowski et al. 2018
    weight each band's sum by 2^(2·level), which is the same per pixel)."""
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=a.dtype)
    kernel = (kernel[:, None] * kernel[None, :] / 256.0).expand(3, 1, 5, 5).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="reflect"), kernel, groups=3)

    loss = a.new_zeros(())
    for _ in range(levels):
        if min(a.shape[-2:]) < 8:
            break
        da, db = blur(a)[:, :, ::2, ::2], blur(b)[:, :, ::2, ::2]
        band_a = a - F.interpolate(da, size=a.shape[-2:], mode="bilinear", align_corners=False)
        band_b = b - F.interpolate(db, size=b.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss + (band_a - band_b).abs().mean()
        a, b = da, db
    return loss + (a - b).abs().mean()


def ramp(step: int, start: int, length: int) -> float:
    """0 before ``start``, then linear to 1 over ``length`` steps (how the GAN weight comes in late)."""
    return min(max((step - start) / max(length, 1), 0.0), 1.0)


def adversarial_step(module: pl.LightningModule, disc: PatchDiscriminator, disc_opt: Any, real: Tensor, fake: Tensor,
                     lr: float) -> tuple[Tensor, Tensor]:
    """One hinge-loss update of ``disc`` on ``real`` and (detached) ``fake`` images in [0, 1], then the generator's
    term ``-disc(fake)`` with the discriminator frozen: (generator loss, discriminator loss)."""
    for group in disc_opt.optimizer.param_groups:
        group["lr"] = lr
    disc_loss = F.relu(1.0 - disc(real)).mean() + F.relu(1.0 + disc(fake.detach())).mean()
    disc_opt.zero_grad()
    module.manual_backward(disc_loss)
    disc_opt.optimizer.step()  # the raw optimizer: Lightning counts a global step per wrapped step()
    for p in disc.parameters():
        p.requires_grad_(False)
    gen = -disc(fake).mean()
    for p in disc.parameters():
        p.requires_grad_(True)
    return gen, disc_loss.detach()


def balanced_gan_weight(reconstruction: Tensor, generator: Tensor, last_layer: Tensor, limit: float = 1e4) -> Tensor:
    """VQGAN's adaptive weight (Esser et al. 2021, eq. 7): ‖∇ reconstruction‖ / ‖∇ generator‖ at the generator's
    last layer, detached, so that the adversarial term pulls as hard as the reconstruction terms whatever their
    scales; a fixed weight either vanishes beside an L1 loss or swamps it."""
    grad_rec = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    grad_gen = torch.autograd.grad(generator, last_layer, retain_graph=True)[0]
    return (grad_rec.norm() / (grad_gen.norm() + 1e-4)).clamp(0.0, limit).detach()


def adversarial_weight(module: pl.LightningModule, reconstruction: Tensor, generator: Tensor,
                       last_layer: Tensor) -> Tensor | float:
    """Weight of the generator's GAN term at this step, from ``module.hparams``: ``gan_weight``, ramped in from
    ``gan_start`` over ``gan_ramp`` steps and, with ``balanced_gan``, times :func:`balanced_gan_weight` at
    ``last_layer`` (at most ``balanced_gan_limit``)."""
    hp = module.hparams
    weight = hp.gan_weight * ramp(module.global_step, hp.gan_start, hp.gan_ramp)
    if hp.balanced_gan:
        weight = weight * balanced_gan_weight(reconstruction, generator, last_layer, hp.balanced_gan_limit)
    return weight
