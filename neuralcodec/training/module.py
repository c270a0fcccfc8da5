"""LightningModule that owns the rate–distortion loss of any learned image codec family."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from neuralcodec.bitstream import Header
from neuralcodec.bitstream.container import overhead
from neuralcodec.codecs.registry import get_family
from neuralcodec.training.checkpoints import lineage_of, load_state_dict_any
from neuralcodec.training.recorded import RecordedModule


def rate_distortion(out: dict, x: Tensor, lmbda: float) -> dict[str, Tensor]:
    """λ·255²·MSE + bpp, the objective of Ballé et al. / CompressAI's ``RateDistortionLoss``."""
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) / (-math.log(2) * num_pixels)
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return {"loss": lmbda * 255**2 * mse + bpp, "bpp": bpp, "mse": mse,
            "psnr": -10 * torch.log10(mse.clamp_min(1e-10))}


def native_bf16_cpu() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (AVX512-BF16 / AMX).

    Without it oneDNN emulates bf16 and a training step is ≈ 50× slower than in float32 (measured on a
    2-core AVX2 EPYC: 43 s against ≈ 1 s), so ``autocast_bf16`` falls back to float32 there.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # private helper: treat its absence as "not supported"
        return False


class CodecLitModule(RecordedModule):
    """Trains one rate point (one λ) of a registered image codec family.

    ``lmbda`` defaults to the λ of ``quality`` in the family's rate-point table; a new point gives its own.

    ``family`` names the family (``codec list``); ``arch`` goes to its ``build_net``. The loss is
    λ·255²·MSE + bpp, plus the family network's ``aux_loss()``. Two optimizers, as in CompressAI's
    example: Adam on the network, Adam on the parameters named ``*.quantiles`` (the aux loss only),
    so manual optimization is used. Validation codes real bitstreams with the family's own export.
    """

    def __init__(
        self,
        family: str = "hyperprior",
        arch: dict[str, Any] | None = None,
        quality: int = 0,
        lmbda: float | None = None,
        lr: float = 6e-4,
        aux_lr: float = 1e-3,
        lr_milestones: list[int] | None = None,
        lr_gamma: float = 0.3,
        clip_grad_norm: float = 1.0,
        autocast_bf16: bool = True,
        init_from: str | None = None,
        trainable: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.family = get_family(family)
        if self.family.media != "image":
            raise ValueError(f"{family} is a {self.family.media} family: CodecLitModule trains image families")
        if lmbda is None:  # the family's rate-point table holds each quality's λ
            point = getattr(self.family, "rate_points", {}).get(int(quality))
            if point is None or point.lmbda is None:
                raise ValueError(f"{family} has no rate point {quality} in its table: give model.lmbda for a new point")
            self.hparams.lmbda = point.lmbda
        self.net = self.family.build_net(**(arch or {}))
        self.use_bf16 = autocast_bf16 and native_bf16_cpu()
        if autocast_bf16 and not self.use_bf16:
            warnings.warn("this CPU has no native bfloat16: training in float32 (autocast_bf16 ignored)", stacklevel=2)
        if init_from:
            self.load_weights(init_from)
        if trainable is not None:  # freeze everything else (e.g. train a context model's networks only)
            for name, param in self.net.named_parameters():
                param.requires_grad_(name.startswith(tuple(trainable)))

    def load_weights(self, path: str | Path) -> None:
        """Warm start from a neighbour: a Lightning checkpoint or a shipped model file."""
        missing, unexpected = self.net.load_state_dict(load_state_dict_any(path), strict=False)
        fresh = [k for k in missing if not k.startswith(self.family.warm_start_missing)]
        if fresh or unexpected:
            raise ValueError(f"{path} does not fit the {self.family.name} network: missing {fresh[:3]}, "
                             f"unexpected {unexpected[:3]}")
        self.lineage = lineage_of(path)

    def _loss(self, batch: Tensor | dict[str, Tensor], autocast: bool) -> dict[str, Tensor]:
        """RD loss of an image batch; for a batch of cached latents (``{"y": …}``, transforms frozen), the
        rate of ``y`` alone: the distortion does not depend on what is trained then."""
        if isinstance(batch, dict):
            y = batch["y"]
            out = self.net.forward_latent(y)
            num_pixels = y.shape[0] * y.shape[2] * y.shape[3] * 256  # y is 1/16 of the image per side
            bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) / (-math.log(2) * num_pixels)
            return {"loss": bpp, "bpp": bpp}
        return rate_distortion(self.net(batch, autocast_bf16=autocast), batch, self.hparams.lmbda)

    def training_step(self, batch: Tensor | dict[str, Tensor], batch_idx: int) -> Tensor:
        opt, aux_opt = self.optimizers()
        rd = self._loss(batch, self.use_bf16)
        aux = self.net.aux_loss()
        opt.zero_grad()
        aux_opt.zero_grad()
        # One backward for both losses (DDP needs every parameter in one graph): the aux loss reaches
        # only the quantiles (stop-gradient inside), the RD loss never does.
        self.manual_backward(rd["loss"] + aux)
        self.clip_gradients(opt, gradient_clip_val=self.hparams.clip_grad_norm, gradient_clip_algorithm="norm")
        for group in opt.optimizer.param_groups:
            group["lr"] = self.current_lr()
        opt.step()
        aux_opt.optimizer.step()  # the raw optimizer: one global step per batch, not two
        logged = {f"train/{k}": rd[k] for k in ("loss", "bpp", "psnr") if k in rd}
        self.log_dict({**logged, "train/aux": aux, "train/lr": self.current_lr()}, prog_bar=True, on_step=True,
                      on_epoch=False)
        return rd["loss"]

    def on_validation_epoch_start(self) -> None:
        # A real codec from the current weights: validation reports the bpp of actual bitstreams.
        self._val_codec = self.family.load(self.family.export(self.net, self.hparams.quality, meta={}))

    def validation_step(self, batch: Tensor | dict[str, Tensor], batch_idx: int) -> None:
        rd = self._loss(batch, autocast=False)  # eval mode: rounding instead of noise
        if isinstance(batch, dict):
            self.log_dict({"val/loss": rd["loss"], "val/bpp": rd["bpp"]}, prog_bar=True, on_epoch=True,
                          batch_size=batch["y"].shape[0])
            return
        metrics = {"val/loss": rd["loss"], "val/bpp": rd["bpp"], "val/psnr": rd["psnr"]}
        codec = self._val_codec
        for image in batch:
            pixels = torch.round(image.clamp(0, 1) * 255).to(torch.uint8).cpu()
            streams, recon = codec.compress(pixels, reconstruct=True)
            header = Header(self.family.family_id, codec.model_id, codec.quality, codec.weights_hash,
                            pixels.shape[1], pixels.shape[2], channels=3, bit_depth=8)
            lengths = [len(s) for s in streams.values()]
            nbytes = sum(lengths) + overhead(header, len(lengths), lengths)
            mse = torch.mean((recon.float() - pixels.float()) ** 2).clamp_min(1e-10)
            metrics["val/file_bpp"] = torch.tensor(8.0 * nbytes / (pixels.shape[1] * pixels.shape[2]))
            metrics["val/file_psnr"] = 10 * torch.log10(255.0**2 / mse)
        self.log_dict(metrics, prog_bar=True, on_epoch=True, batch_size=1)

    def current_lr(self) -> float:
        """Learning rate for the current step (see :meth:`RecordedModule.lr_at_step`)."""
        return self.lr_at_step(self.hparams.lr)

    def configure_optimizers(self):
        params = [(n, p) for n, p in self.net.named_parameters() if p.requires_grad]
        main = [p for n, p in params if not n.endswith(".quantiles")]
        # with the factorized prior frozen its quantiles stay as they are: a zero-lr aux optimizer keeps the
        # step code the same
        quantiles = [p for n, p in params if n.endswith(".quantiles")] or [torch.zeros(1, requires_grad=True)]
        opt = torch.optim.Adam(main, lr=self.hparams.lr)
        aux_opt = torch.optim.Adam(quantiles, lr=self.hparams.aux_lr)
        return [opt, aux_opt]
