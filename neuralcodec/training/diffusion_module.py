"""LightningModule of the ``diffusion`` decoder: it owns the denoising, perceptual and adversarial losses.

A sample is (original x₀, base decoding c, its rate point). The start of a training step mirrors decoding: a
timestep t is drawn from [1, t(q)] (t(q): the rate point's start timestep, from the error variance of the base
decoding measured on the validation images), and x_t = sqrt(ᾱ) · s + sqrt(1 − ᾱ) · ε with s = c (RDEIC's start
from the compressed image) or s = x₀ (the later steps, which start from an estimate of it), half each. The
denoiser predicts x̂₀ from (x_t, c, t); the loss is L1 + Laplacian-pyramid L1 and, ramped in from
``gan_start``, a hinge PatchGAN term that makes the few-step output sharp instead of the posterior mean. With
``balanced_gan`` the GAN term's weight is ``gan_weight`` times VQGAN's adaptive ratio of gradient norms at the
denoiser's last layer (:func:`~neuralcodec.training.losses.balanced_gan_weight`), at most ``balanced_gan_limit``:
when the discriminator stops telling real from fake its gradient vanishes and the unbounded ratio would turn the
adversarial term into noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuralcodec.codecs.diffusion.net import alpha_bar
from neuralcodec.codecs.registry import get_family
from neuralcodec.training.checkpoints import lineage_of, load_state_dict_any
from neuralcodec.training.losses import PatchDiscriminator, adversarial_step, adversarial_weight, laplacian_pyramid_l1
from neuralcodec.training.recorded import RecordedModule


class DiffusionLitModule(RecordedModule):
    """Trains the denoiser on :class:`~neuralcodec.datasets.decoded_pairs.DecodedPairsDataModule` pairs."""

    def __init__(
        self,
        arch: dict[str, Any] | None = None,
        quality: int = 0,
        noise_scale: float = 4.0,
        start_from_decoding: float = 0.5,
        lr: float = 2e-4,
        disc_lr: float = 2e-4,
        lr_milestones: list[int] | None = None,
        lr_gamma: float = 0.3,
        l1_weight: float = 1.0,
        pyramid_weight: float = 1.0,
        gan_weight: float = 0.05,
        gan_start: int = 0,
        gan_ramp: int = 1000,
        balanced_gan: bool = False,
        balanced_gan_limit: float = 1e4,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.family = get_family("diffusion")
        self.net = self.family.build_net(**(arch or {}))
        self.net.noise_scale = float(noise_scale)
        self.disc = PatchDiscriminator() if gan_weight > 0 else None
        if init_from:
            self.net.load_state_dict(load_state_dict_any(init_from))
            self.lineage = lineage_of(init_from)

    def setup(self, stage: str) -> None:
        data = self.trainer.datamodule
        self.point_quality = list(data.point_quality)
        self.base_family = data.hparams.family
        self.net.error_variance = {k: list(v) for k, v in data.error_variance.items()}

    # --- the step --------------------------------------------------------------------------------------------
    def noised(self, batch: dict[str, Tensor], training: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(x₀, c, x_t, t) of a batch in [-1, 1] units."""
        x, c = batch["x"] * 2 - 1, batch["c"] * 2 - 1
        limits = torch.tensor([max(1, self.net.start_timestep(self.base_family, self.point_quality[int(p)]))
                               for p in batch["point"]])
        if training:
            t = (torch.rand(len(x)) * limits).long() + 1  # uniform on 1 … t(q), where decoding starts
            from_decoding = torch.rand(len(x)) < self.hparams.start_from_decoding
        else:  # validation: the first decoding step
            t, from_decoding = limits, torch.ones(len(x), dtype=torch.bool)
        start = torch.where(from_decoding[:, None, None, None], c, x)
        a = alpha_bar(t).float()[:, None, None, None]
        x_t = a.sqrt() * start + (1 - a).sqrt() * torch.randn_like(x)
        return x, c, x_t, t

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        hp = self.hparams
        opts = self.optimizers()
        opt, disc_opt = opts if isinstance(opts, list) else (opts, None)
        for group in opt.optimizer.param_groups:
            group["lr"] = self.lr_at_step(hp.lr)
        x, c, x_t, t = self.noised(batch)
        x0 = self.net(x_t, c, t)
        l1 = (x0 - x).abs().mean()
        pyramid = laplacian_pyramid_l1(x0, x)
        loss = hp.l1_weight * l1 + hp.pyramid_weight * pyramid
        logged = {"l1": l1.detach(), "pyramid": pyramid.detach()}
        if self.disc is not None and self.global_step >= hp.gan_start:
            real, fake = (x + 1) / 2, (x0.clamp(-1, 1) + 1) / 2
            gen, logged["disc"] = adversarial_step(self, self.disc, disc_opt, real, fake, self.lr_at_step(hp.disc_lr))
            weight = adversarial_weight(self, loss, gen, self.net.out.weight)
            if hp.balanced_gan:
                logged["gan_weight"] = weight
            loss = loss + weight * gen
            logged["gen"] = gen.detach()
        opt.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=1.0, gradient_clip_algorithm="norm")
        opt.step()
        self.log_dict({f"train/{k}": v for k, v in {"loss": loss.detach(), **logged}.items()}, prog_bar=True,
                      on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        with torch.random.fork_rng():  # the same noise every validation; training's stream is untouched
            torch.manual_seed(batch_idx)
            x, c, x_t, t = self.noised(batch, training=False)
        x0 = self.net(x_t, c, t).clamp(-1, 1)
        psnr = lambda a: -10 * torch.log10(((a - x) / 2).pow(2).mean().clamp_min(1e-10))  # noqa: E731
        self.log_dict({"val/l1": (x0 - x).abs().mean(), "val/psnr": psnr(x0), "val/psnr_base": psnr(c),
                       "val/pyramid": laplacian_pyramid_l1(x0, x)}, prog_bar=True, on_epoch=True,
                      batch_size=len(x))

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr, betas=(0.5, 0.9))
        if self.disc is None:
            return opt
        return [opt, torch.optim.Adam(self.disc.parameters(), lr=self.hparams.disc_lr, betas=(0.5, 0.9))]

