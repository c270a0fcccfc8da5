"""Fitting a NeRV network to one clip: the ``nerv`` family's encoder (encoding *is* training).

The schedule runs on *progress* p ∈ [0, 1], the larger of epochs done / ``epochs`` and seconds spent /
``time_budget``, so a time budget ends the fit on schedule: learning rate with a short warm-up then cosine
decay; from p = ``QAT_START`` the weights go through fake quantization (straight-through rounding, the
bitstream's exact integer grid) and the loss gains a rate term, ``MSE + bpp / (λ · 255²)``, with bpp estimated
from the integer weights (:func:`neuralcodec.codecs.nerv.net.laplace_bits`).

It runs through Lightning, so a long clip can be fitted on GPUs or several processes
(``accelerator``/``devices``/``strategy`` are Lightning's); a checkpoint beside the output (``checkpoint``)
is written every ``checkpoint_seconds`` and resumed from when it belongs to the same clip and settings.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from neuralcodec.codecs.nerv.net import NervArch, NervNet
from neuralcodec.training.checkpoints import resumable_fit
from neuralcodec.training.fit_control import ResumeCheckpoint, fit_interruptibly, quiet_lightning

QAT_START = 0.8  # progress at which quantization-aware fitting (and the rate term) starts
WARMUP = 0.05


class ClipFrames(Dataset):
    """(index, float frame 0…1) pairs of a uint8 (T, 3, H, W) clip."""

    def __init__(self, frames: Tensor) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[int, Tensor]:
        return i, self.frames[i].float().div(255)


class NervFitModule(pl.LightningModule):
    """Owns the network, the loss and the progress-driven schedule of one clip's fit."""

    def __init__(self, arch: NervArch, lr: float = 2e-3, epochs: int = 300, time_budget: float | None = None,
                 lmbda: float = 0.0067, fingerprint: str = "") -> None:
        super().__init__()
        self.arch, self.lr, self.epochs, self.time_budget, self.lmbda = arch, lr, epochs, time_budget, lmbda
        self.fingerprint = fingerprint
        self.net = NervNet(arch)
        self.seconds_before = 0.0  # fitting time of earlier (interrupted) runs
        self._started = time.monotonic()
        self.last: dict[str, float] = {}

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self._started

    def progress(self, steps_done: int) -> float:
        """Progress after ``steps_done`` steps, the same in every process (the first one's clock decides)."""
        by_epochs = steps_done / (self.epochs * max(self.trainer.num_training_batches, 1))
        by_time = self.elapsed() / self.time_budget if self.time_budget else 0.0
        if self.trainer.world_size > 1 and self.time_budget:
            by_time = float(self.trainer.strategy.broadcast(by_time, src=0))
        return min(1.0, max(by_epochs, by_time))

    def on_train_start(self) -> None:
        self._started = time.monotonic()

    def training_step(self, batch: tuple[Tensor, Tensor], _: int) -> Tensor:
        indices, frames = batch
        p = self.progress(self.global_step)
        lr = self.lr * (p / WARMUP if p < WARMUP else 0.5 * (1 + math.cos(math.pi * (p - WARMUP) / (1 - WARMUP))))
        for group in self.optimizers().param_groups:
            group["lr"] = max(lr, self.lr * 1e-3)
        qat = p >= QAT_START
        self.net.quantize_bits = self.arch.weight_bits if qat else None
        mse = torch.mean((self.net(indices) - frames) ** 2)
        loss = mse
        if qat:
            pixels = self.arch.frames * self.arch.height * self.arch.width
            bpp = self.net.weight_bits_estimate() / pixels
            loss = mse + bpp / (self.lmbda * 255**2)
            self.last["bpp_estimate"] = float(bpp.detach())
        self.last.update(psnr=float(-10 * torch.log10(mse.detach().clamp_min(1e-10))), progress=p, qat=float(qat))
        if self.progress(self.global_step + 1) >= 1.0:  # this step completes the schedule
            self.trainer.should_stop = True
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr, betas=(0.9, 0.99))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nerv_fit"] = {"seconds": self.elapsed(), "fingerprint": self.fingerprint}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.seconds_before = float(checkpoint.get("nerv_fit", {}).get("seconds", 0.0))


class _Report(ResumeCheckpoint):
    """Calls ``report`` after every epoch, and keeps the resume checkpoint (:class:`ResumeCheckpoint`)."""

    def __init__(self, report: Callable[[dict[str, float]], None] | None, checkpoint: Path | None,
                 seconds: float) -> None:
        super().__init__(checkpoint, seconds)
        self.report = report

    def on_train_epoch_end(self, trainer: pl.Trainer, module: NervFitModule) -> None:
        if self.report is not None and trainer.is_global_zero:
            self.report({**module.last, "epoch": trainer.current_epoch + 1, "elapsed": module.elapsed()})
        self.save_if_due(trainer)


def clip_fingerprint(frames: Tensor, arch: NervArch, settings: dict[str, Any]) -> str:
    """What a resume checkpoint must match: the frames, the architecture and the fit settings."""
    digest = hashlib.sha256(frames.numpy().tobytes())
    digest.update(repr((arch.to_dict(), sorted(settings.items()))).encode())
    return digest.hexdigest()[:16]


def fit_clip(frames: Tensor, arch: NervArch, epochs: int = 300, time_budget: float | None = None,
             lmbda: float = 0.0067, lr: float = 2e-3, batch_size: int = 2, seed: int = 0,
             checkpoint: Path | None = None, checkpoint_seconds: float = 60.0,
             report: Callable[[dict[str, float]], None] | None = None,
             trainer_args: dict[str, Any] | None = None) -> tuple[NervNet, float, bool]:
    """Fit a network of ``arch`` to uint8 (T, 3, H, W) ``frames``; returns it, the fitting seconds (all runs) and
    whether this is the first process (several run a DDP fit: ``trainer_args={"strategy": "ddp", "devices": 2}``).

    ``checkpoint``: resume from it when it belongs to this clip and settings; write it during the fit; the
    caller removes it once the bitstream is written.
    """
    settings = {"epochs": epochs, "time_budget": time_budget, "lmbda": lmbda, "lr": lr, "batch": batch_size,
                "seed": seed}
    fingerprint = clip_fingerprint(frames, arch, settings)
    pl.seed_everything(seed, verbose=False)
    module = NervFitModule(arch, lr=lr, epochs=epochs, time_budget=time_budget, lmbda=lmbda,
                           fingerprint=fingerprint)
    resume = resumable_fit(checkpoint, "nerv_fit", fingerprint)
    loader = DataLoader(ClipFrames(frames), batch_size=batch_size, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(seed))
    with quiet_lightning():
        trainer = pl.Trainer(**{
            "accelerator": "cpu", "devices": 1, "max_epochs": epochs * 4, "logger": False,
            "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
            "callbacks": [_Report(report, checkpoint, checkpoint_seconds)], **(trainer_args or {}),
        })
        fit_interruptibly(trainer, module, loader, resume)
    net = module.net.cpu().eval()
    net.quantize_bits = None
    return net, module.elapsed(), trainer.is_global_zero
