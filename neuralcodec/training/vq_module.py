"""LightningModule of the ``vq`` family: it owns the VQ, reconstruction, perceptual and adversarial losses.

One module, four stages (``stage``), each a config under ``configs/vq/``; each stage warm-starts from the one
before and trains only its own part (the last trains nothing):

- ``latent``: ``to_code``, the codebook (EMA) and ``from_code`` on cached latents of a shipped hyperprior's
  frozen analysis transform: ``from_code`` learns to rebuild y from its code (MSE in y), a step costs no
  image transform at all;
- ``decoder``: ``from_code`` and ``g_s`` on images, with the encoder and codebook frozen: L1 + MSE +
  Laplacian-pyramid L1 (a perceptual term that needs no downloaded weights) and, ramped in late, a hinge
  PatchGAN loss (a GAN switched on at full weight early ruins reconstructions: taming-transformers issues
  #44, #129). With ``level`` > 0 it fine-tunes the decoder for a k-means sub-codebook. It also counts how
  often the training images use each entry: the index prior shipped in the model file;
- ``restorer``: the lost-index transformer, on index grids of cached latents (masked-token prediction). It
  needs only the encoder, the codebook and the sub-codebooks, so it can start from the ``latent`` stage and train
  beside the ``decoder`` stage; ``restorer_from`` then joins its restorer to the decoder stage's file;
- ``members``: a lower rate point (``level`` > 0) that decodes by member drawing
  (:mod:`neuralcodec.codecs.vq.members`) with the top point's decoder and restorer as they are. No weight
  changes: the pass over the training images only counts the sub-codebook's index prior.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralcodec.codecs.registry import get_family
from neuralcodec.codecs.vq.grid import nearest_on_grid, vectors_on_grid
from neuralcodec.codecs.vq.net import VQNet
from neuralcodec.codecs.vq.restore import group_log_probs
from neuralcodec.training.checkpoints import lineage_of, load_checkpoint, load_state_dict_any
from neuralcodec.training.losses import PatchDiscriminator, adversarial_step, adversarial_weight, laplacian_pyramid_l1
from neuralcodec.training.recorded import RecordedModule

Stage = Literal["latent", "decoder", "restorer", "members"]


class VQLitModule(RecordedModule):
    """Trains one stage of the ``vq`` family (see the module docstring). ``quality`` names the rate point the
    exported file is (its sub-codebook is ``level``)."""

    def __init__(
        self,
        stage: Stage = "decoder",
        arch: dict[str, Any] | None = None,
        quality: int = 3,
        level: int = 0,
        level_sizes: list[int] | None = None,
        kmeans_seed: int = 0,
        lr: float = 2e-4,
        disc_lr: float = 2e-4,
        lr_milestones: list[int] | None = None,
        lr_gamma: float = 0.3,
        commitment_weight: float = 0.25,
        l1_weight: float = 1.0,
        mse_weight: float = 1.0,
        pyramid_weight: float = 1.0,
        gan_weight: float = 0.05,
        gan_start: int = 0,
        gan_ramp: int = 1000,
        balanced_gan: bool = False,
        balanced_gan_limit: float = 1e4,
        mask_ratio: tuple[float, float] = (0.1, 0.6),
        init_from: str | None = None,
        init_transforms_from: str | None = None,
        restorer_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.family = get_family("vq")
        self.net: VQNet = self.family.build_net(**(arch or {}))
        self.disc = PatchDiscriminator() if stage == "decoder" and gan_weight > 0 else None
        if init_transforms_from:  # g_a and g_s of a shipped hyperprior (same layers and keys)
            state = load_state_dict_any(init_transforms_from)
            self.net.load_state_dict({k: v for k, v in state.items() if k.startswith(("g_a.", "g_s."))}, strict=False)
            self.lineage = lineage_of(init_transforms_from)
        if init_from:
            self._load_vq(init_from)
        if level_sizes and len(self.net.level_sizes) == 1:
            self.net.set_levels(list(level_sizes), kmeans_seed)
        if restorer_from:
            self._take_restorer(restorer_from)
        self.net.set_level(level)
        if stage == "members":
            if level == 0:
                raise ValueError("the members stage makes a lower rate point: give it a level > 0")
            self.net.draw_members = True
        trained = {"latent": ("to_code.", "from_code."), "decoder": ("from_code.", "g_s."),
                   "restorer": ("restorer.",), "members": ()}[stage]
        for name, param in self.net.named_parameters():
            param.requires_grad_(name.startswith(trained))

    def _load_vq(self, path: str | Path) -> None:
        """Warm start from a ``vq`` model file or Lightning checkpoint (the discriminator too, when it has one)."""
        self.net.load_state_dict(load_state_dict_any(path))
        if str(path).endswith(".ckpt") and self.disc is not None:
            blob = load_checkpoint(path)["state_dict"]
            disc = {k[5:]: v for k, v in blob.items() if k.startswith("disc.")}
            if disc:
                self.disc.load_state_dict(disc)
        self.lineage = lineage_of(path)

    def _take_restorer(self, path: str | Path) -> None:
        """The restorer of another ``vq`` file of the same codebook and sub-codebooks. The restorer stage needs only
        the encoder and the codebook, so it can train beside the decoder stage and be joined to it afterwards."""
        other: VQNet = self.family.build_net(**(self.hparams.arch or {}))
        other.load_state_dict(load_state_dict_any(path))
        same = (torch.equal(other.quantizer.codebook, self.net.quantizer.codebook)
                and other.level_sizes == self.net.level_sizes
                and torch.equal(other.level_assign, self.net.level_assign))
        if not same:
            raise ValueError(f"{path}: its codebook or sub-codebooks differ from the model it would join")
        self.net.restorer.load_state_dict(other.restorer.state_dict())
        self.lineage += [stage for stage in lineage_of(path) if stage not in self.lineage]  # shared stages once

    # --- losses -------------------------------------------------------------------------------------------
    def _latent_loss(self, y: Tensor) -> dict[str, Tensor]:
        q, indices, commitment = self.net.quantizer(self.net.to_code(y))
        y_hat = self.net.from_code(q)
        mse = F.mse_loss(y_hat, y)
        used = torch.unique(indices).numel() / self.net.codebook_size
        return {"loss": mse + self.hparams.commitment_weight * commitment, "y_mse": mse, "used": torch.tensor(used)}

    def quantized(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Sub-codebook vectors and indices of images through the frozen encoder."""
        with torch.no_grad():
            e = self.net.encode_vectors(x)
            codebook = self.net.level_codebook().to(e.dtype)
            indices = nearest_on_grid(e, codebook)
        return vectors_on_grid(indices, codebook), indices

    def _reconstruction_loss(self, x_hat: Tensor, x: Tensor) -> dict[str, Tensor]:
        hp = self.hparams
        l1, mse = (x_hat - x).abs().mean(), F.mse_loss(x_hat, x)
        pyramid = laplacian_pyramid_l1(x_hat, x)
        loss = hp.l1_weight * l1 + hp.mse_weight * mse + hp.pyramid_weight * pyramid
        return {"loss": loss, "l1": l1, "pyramid": pyramid, "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10))}

    def _restorer_loss(self, y: Tensor) -> dict[str, Tensor]:
        net, hp = self.net, self.hparams
        with torch.no_grad():
            full = nearest_on_grid(net.to_code(y), net.quantizer.codebook)
            level = int(torch.randint(0, len(net.level_sizes), ()))
            entries = net.level_assign[level][full]
            vectors = vectors_on_grid(entries, net.level_codebook(level))
            ratio = float(torch.empty(()).uniform_(*hp.mask_ratio))
            lost = torch.rand(full.shape) < ratio
        logits = net.restorer(vectors, lost)
        loss = F.cross_entropy(logits[lost], full[lost]) if lost.any() else logits.sum() * 0
        with torch.no_grad():
            groups = group_log_probs(logits[lost], net.level_assign[level], net.level_sizes[level]).argmax(-1)
            accuracy = (groups == entries[lost]).float().mean() if lost.any() else torch.tensor(1.0)
        return {"loss": loss, "accuracy": accuracy}

    # --- steps ---------------------------------------------------------------------------------------------
    def _count_prior(self, indices: Tensor) -> None:
        """The index prior: how often the training images use each entry of the sub-codebook."""
        self.net.prior_counts += torch.bincount(indices.flatten(), minlength=len(self.net.prior_counts)).double()

    def training_step(self, batch: Tensor | dict[str, Tensor], batch_idx: int) -> Tensor | None:
        hp = self.hparams
        if hp.stage == "members":  # nothing to train: one pass that counts the prior
            self._count_prior(self.quantized(batch)[1])
            return None
        opts = self.optimizers()
        opt, disc_opt = (opts if isinstance(opts, list) else (opts, None))
        for group in opt.optimizer.param_groups:
            group["lr"] = self.lr_at_step(hp.lr)
        if hp.stage == "latent":
            out = self._latent_loss(batch["y"])
        elif hp.stage == "restorer":
            out = self._restorer_loss(batch["y"])
        else:
            out = self._decoder_step(batch, disc_opt)
        opt.zero_grad()
        self.manual_backward(out["loss"])
        self.clip_gradients(opt, gradient_clip_val=1.0, gradient_clip_algorithm="norm")
        opt.step()
        self.log_dict({f"train/{k}": v for k, v in out.items()}, prog_bar=True, on_step=True, on_epoch=False)
        return out["loss"]

    def _decoder_step(self, x: Tensor, disc_opt: Any) -> dict[str, Tensor]:
        hp = self.hparams
        q, indices = self.quantized(x)
        self._count_prior(indices)
        x_hat = self.net.decode_vectors(q)
        out = self._reconstruction_loss(x_hat, x)
        if self.disc is not None and self.global_step >= hp.gan_start:
            gen, out["disc"] = adversarial_step(self, self.disc, disc_opt, x, x_hat, self.lr_at_step(hp.disc_lr))
            weight = adversarial_weight(self, out["loss"], gen, self.net.g_s[-1].weight)  # g_s's last layer
            if hp.balanced_gan:
                out["gan_weight"] = weight
            out["loss"] = out["loss"] + weight * gen
            out["gen"] = gen.detach()
        return out

    def validation_step(self, batch: Tensor | dict[str, Tensor], batch_idx: int) -> None:
        hp = self.hparams
        if hp.stage == "members":
            return
        if hp.stage == "latent":
            out = self._latent_loss(batch["y"])
        elif hp.stage == "restorer":
            with torch.random.fork_rng():  # the same masks every validation; training's stream is untouched
                torch.manual_seed(batch_idx)
                out = self._restorer_loss(batch["y"])
        else:
            q, _ = self.quantized(batch)
            x_hat = self.net.decode_vectors(q).clamp(0, 1)
            out = self._reconstruction_loss(x_hat, batch)
        size = batch["y"].shape[0] if isinstance(batch, dict) else batch.shape[0]
        self.log_dict({f"val/{k}": v for k, v in out.items()}, prog_bar=True, on_epoch=True, batch_size=size)

    def configure_optimizers(self):
        if self.hparams.stage == "members":
            return None
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=self.hparams.lr, betas=(0.5, 0.9) if self.disc is not None else (0.9, 0.999))
        if self.disc is None:
            return opt
        return [opt, torch.optim.Adam(self.disc.parameters(), lr=self.hparams.disc_lr, betas=(0.5, 0.9))]

