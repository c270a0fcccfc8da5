"""Fitting the overfitted image codec to one image: the ``coolchic`` family's encoder (encoding *is* fitting).

The schedule (:class:`neuralcodec.codecs.coolchic.schedule.Schedule`) runs on *progress* p ∈ [0, 1], the larger
of iterations done / ``iterations`` and seconds spent / ``time_budget``, so a time budget ends the fit on
schedule (soft rounding with annealed temperature and noise, then the hard-rounding phase). The loss is
``MSE + λ · bpp`` on pixels in [0, 1]; one Adam for latents and networks, gradients clipped to norm 0.1.

After the fit, :func:`quantize_fit` searches each module's weight step (entropy model, upsampling, synthesis)
for the least ``MSE + λ · (latent bits + weight bits) / pixels`` and returns the integer twin the bitstream
carries.

It runs through Lightning (``accelerator``/``devices`` are Lightning's), so a large image fits on a GPU; a
checkpoint beside the output (``checkpoint``) is written every ``checkpoint_seconds`` and resumed from when it
belongs to the same image and settings.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from neuralcodec.codecs.coolchic.codec import (
    DEFAULT_TILE,
    MAX_TILE,
    MIN_TILE,
    FittedModel,
    latent_integers,
    load_module,
    module_bits,
    quantize_module,
    tensor_layout,
    tile_boxes,
    write_streams,
)
from neuralcodec.codecs.coolchic.exact import FRAC_BITS, QuantizedModule
from neuralcodec.codecs.coolchic.net import CoolChicArch, CoolChicNet
from neuralcodec.codecs.coolchic.qualities import DEFAULT_PRESET, DEFAULT_QUALITY, PRESETS, QUALITIES
from neuralcodec.codecs.coolchic.schedule import Schedule
from neuralcodec.cpu_kernels import native_bfloat16
from neuralcodec.training.checkpoints import resumable_fit
from neuralcodec.training.fit_control import ResumeCheckpoint, fit_interruptibly, quiet_lightning

GRAD_CLIP = 0.1  # as Cool-chic and C3
# weight and bias exponents tried per layer (steps 2**-k); the search keeps the cheapest in MSE + λ · bpp
EXPONENT_CANDIDATES = {"arm": range(4, 13), "upsampling": range(4, 13), "synthesis": range(4, 15)}
BIAS_EXPONENT_CANDIDATES = range(4, FRAC_BITS + 1)


class _OneImage(Dataset):
    """The image, once per epoch: one iteration is one epoch."""

    def __init__(self, image: Tensor) -> None:
        self.image = image

    def __len__(self) -> int:
        return 1

    def __getitem__(self, _: int) -> Tensor:
        return self.image


class CoolChicFitModule(pl.LightningModule):
    """Owns the fitted model, the loss and the progress-driven schedule of one image's fit."""

    def __init__(self, height: int, width: int, arch: CoolChicArch, lmbda: float, iterations: int,
                 time_budget: float | None = None, schedule: dict[str, float] | None = None, fingerprint: str = "",
                 low_precision: bool = False) -> None:
        super().__init__()
        self.net = CoolChicNet(height, width, arch)
        self.net.synthesis.low_precision = low_precision
        self.lmbda, self.iterations, self.time_budget = lmbda, iterations, time_budget
        self.schedule = Schedule(iterations, **(schedule or {}))
        self.fingerprint = fingerprint
        self.seconds_before = 0.0  # fitting time of earlier (interrupted) runs
        self._started = time.monotonic()
        self.last: dict[str, float] = {}
        # The final hard-rounding phase can also make things worse (measured: +14 % rate in the last 300 of 3,000
        # iterations of one fit), so the model is evaluated as it will be coded (rounded latents) a few times from
        # the end of the soft phase on, and the best one is kept (as Cool-chic does).
        self.best: tuple[float, dict[str, Tensor]] | None = None
        self.next_look = self.schedule.soft_iterations / iterations  # progress of the next look at the model
        self.finished = False
        self._image: Tensor | None = None

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self._started

    def progress(self, steps_done: int) -> float:
        by_time = self.elapsed() / self.time_budget if self.time_budget else 0.0
        return min(1.0, max(steps_done / self.iterations, by_time))

    def training_step(self, image: Tensor, _: int) -> Tensor:
        self._image = image
        p = self.progress(self.global_step)
        phase = self.schedule.phase(min(int(p * self.iterations), self.iterations - 1))
        for group in self.optimizers().param_groups:
            group["lr"] = phase["lr"]
        x_hat, bits = self.net(phase["mode"], phase["temperature"], phase["noise_a"])
        mse = torch.mean((x_hat - image) ** 2)
        bpp = bits / (self.net.height * self.net.width)
        self.last = {"psnr": float(-10 * torch.log10(mse.detach().clamp_min(1e-10))), "bpp": float(bpp.detach()),
                     "progress": p, "iteration": self.global_step + 1}
        if self.progress(self.global_step + 1) >= 1.0:  # this step completes the schedule
            self.trainer.should_stop = True
        return mse + self.lmbda * bpp

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.schedule.lr)

    def on_train_start(self) -> None:
        self._started = time.monotonic()
        if self.finished:  # resumed from the checkpoint of a finished fit: nothing left to do
            self.trainer.should_stop = True

    def on_train_batch_end(self, *_: Any) -> None:
        """From the end of the soft phase on, keep the best model as coded: looked at when progress passes each
        fifth of the hard phase, and after the last step (in float32, as the weight-step search measures)."""
        p = self.progress(self.global_step)
        if p >= 1.0:
            self.finished = True
        if self._image is None or (p < self.next_look and not self.finished):
            return
        soft = self.schedule.soft_iterations / self.iterations
        while self.next_look <= p:
            self.next_look += (1.0 - soft) / 5 if soft < 1.0 else 1.0
        low, self.net.synthesis.low_precision = self.net.synthesis.low_precision, False
        with torch.no_grad():
            x_hat, bits = self.net("eval")
            mse = torch.mean((torch.round(x_hat.clamp(0, 1) * 255) / 255 - self._image) ** 2)
            loss = float(mse + self.lmbda * bits / (self.net.height * self.net.width))
        self.net.synthesis.low_precision = low
        if self.best is None or loss < self.best[0]:
            self.best = (loss, {k: v.detach().clone() for k, v in self.net.state_dict().items()})

    def best_net(self) -> CoolChicNet:
        """The fitted model: the best one seen as coded, or the last if none was evaluated."""
        if self.best is not None:
            self.net.load_state_dict(self.best[1])
        return self.net

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["coolchic_fit"] = {"seconds": self.elapsed(), "fingerprint": self.fingerprint,
                                      "finished": self.finished, "next_look": self.next_look}
        if self.best is not None:
            checkpoint["coolchic_fit"].update(best_loss=self.best[0], best_state=self.best[1])

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("coolchic_fit", {})
        self.seconds_before = float(saved.get("seconds", 0.0))
        self.finished = bool(saved.get("finished", False))
        self.next_look = float(saved.get("next_look", self.next_look))
        if "best_state" in saved:
            self.best = (float(saved["best_loss"]), saved["best_state"])


class _Report(ResumeCheckpoint):
    """Calls ``report`` every ``every`` iterations, and keeps the resume checkpoint (:class:`ResumeCheckpoint`)."""

    def __init__(self, report: Callable[[dict[str, float]], None] | None, checkpoint: Path | None,
                 seconds: float, every: int = 10) -> None:
        super().__init__(checkpoint, seconds)
        self.report, self.every = report, every

    def on_train_epoch_end(self, trainer: pl.Trainer, module: CoolChicFitModule) -> None:
        step = trainer.global_step
        if self.report is not None and trainer.is_global_zero and (step % self.every == 0 or trainer.should_stop):
            self.report({**module.last, "elapsed": module.elapsed()})
        self.save_if_due(trainer)


def image_fingerprint(image: Tensor, arch: CoolChicArch, settings: dict[str, Any]) -> str:
    """What a resume checkpoint must match: the pixels, the architecture and the fit settings."""
    digest = hashlib.sha256(image.numpy().tobytes())
    digest.update(repr((arch, sorted(settings.items()))).encode())
    return digest.hexdigest()[:16]


def fit_image(image: Tensor, arch: CoolChicArch, lmbda: float, iterations: int, time_budget: float | None = None,
              seed: int = 0, checkpoint: Path | None = None, checkpoint_seconds: float = 60.0,
              report: Callable[[dict[str, float]], None] | None = None,
              trainer_args: dict[str, Any] | None = None, low_precision: bool | None = None,
              schedule: dict[str, float] | None = None) -> tuple[CoolChicNet, float, int]:
    """Fit a model of ``arch`` to a uint8 (3, H, W) image; returns it (on the CPU), the fitting seconds (all
    runs) and the iterations run. ``low_precision``: bfloat16 for the synthesis' 1×1 layers (default: where the
    CPU computes bfloat16 natively). ``schedule``: fields of :class:`Schedule` other than the defaults."""
    settings = {"lmbda": lmbda, "iterations": iterations, "time_budget": time_budget, "seed": seed,
                "schedule": sorted((schedule or {}).items())}
    fingerprint = image_fingerprint(image, arch, settings)
    pl.seed_everything(seed, verbose=False)
    height, width = image.shape[1:]
    module = CoolChicFitModule(height, width, arch, lmbda, iterations, time_budget, schedule, fingerprint=fingerprint,
                               low_precision=native_bfloat16() if low_precision is None else low_precision)
    resume = resumable_fit(checkpoint, "coolchic_fit", fingerprint)
    loader = DataLoader(_OneImage(image.float().div(255)), batch_size=None, num_workers=0)
    with quiet_lightning():
        trainer = pl.Trainer(**{
            "accelerator": "cpu", "devices": 1, "max_epochs": iterations, "logger": False,
            "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
            "gradient_clip_val": GRAD_CLIP, "num_sanity_val_steps": 0,
            "callbacks": [_Report(report, checkpoint, checkpoint_seconds)], **(trainer_args or {}),
        })
        fit_interruptibly(trainer, module, loader, resume)
        if checkpoint is not None:  # the finished fit: a rerun (e.g. of a later tile's interrupted fit) skips it
            partial = checkpoint.with_name(checkpoint.name + ".part")
            trainer.save_checkpoint(partial)
            if trainer.is_global_zero:
                partial.replace(checkpoint)
    return module.best_net().cpu().eval(), module.elapsed(), trainer.global_step


@torch.no_grad()
def _loss(net: CoolChicNet, image: Tensor, lmbda: float, extra_bits: float) -> float:
    x_hat, bits = net("eval")
    pixels = net.height * net.width
    x8 = torch.round(x_hat.clamp(0, 1) * 255)
    mse = torch.mean((x8 - image) ** 2).item() / 255**2
    return mse + lmbda * (bits.item() + extra_bits) / pixels


@torch.no_grad()
def quantize_fit(net: CoolChicNet, image: Tensor, lmbda: float) -> dict[str, QuantizedModule]:
    """The integer twin of a fitted model: per layer (entropy model, upsampling, synthesis, in stream order) the
    weight step, then the bias step, of least ``MSE + λ · bpp``, chosen one layer at a time (the layers chosen
    earlier stay quantized, the later ones float)."""
    image = image.float()
    work = copy.deepcopy(net)
    work.synthesis.low_precision = False  # candidates are told apart in float32
    chosen: dict[str, QuantizedModule] = {}
    done_bits = 0.0
    for module, layout in tensor_layout(net.arch).items():
        steps: dict[str, int] = {}
        bias_steps: dict[str, int] = {}
        for name, _, has_bias in layout:
            def loss(k: int, kb: int, name: str = name, steps: dict = steps, bias_steps: dict = bias_steps,
                     module: str = module, done_bits: float = done_bits) -> float:
                q = quantize_module(net, module, {**steps, name: k}, {**bias_steps, name: kb})
                load_module(work, module, q)
                return _loss(work, image, lmbda, done_bits + module_bits(q))

            steps[name] = min(EXPONENT_CANDIDATES[module], key=lambda k: loss(k, FRAC_BITS))
            if has_bias:
                bias_steps[name] = min(BIAS_EXPONENT_CANDIDATES, key=lambda kb: loss(steps[name], kb))
        chosen[module] = quantize_module(net, module, steps, bias_steps)
        load_module(work, module, chosen[module])
        done_bits += module_bits(chosen[module])
    return chosen


@dataclass
class FittedImage:
    """What an encode produced: the streams, the exact reconstruction the decoder will give, and the fit's cost."""

    streams: dict[str, bytes]
    reconstruction: Tensor  # uint8 (3, H, W)
    seconds: float
    iterations: int


def encode_image(image: Tensor, quality: int | None = None, preset: str | None = None, iterations: int | None = None,
                 time_budget: float | None = None, checkpoint: Path | None = None,
                 report: Callable[[dict[str, float]], None] | None = None,
                 trainer_args: dict[str, Any] | None = None, seed: int = 0, tile: int = DEFAULT_TILE,
                 arch: CoolChicArch | None = None, schedule: dict[str, float] | None = None,
                 low_precision: bool | None = None) -> FittedImage:
    """Fit, quantize and write the streams of a uint8 (3, H, W) image (``quality`` picks λ, ``preset`` or
    ``iterations`` the fit's length; see :mod:`neuralcodec.codecs.coolchic.qualities`).

    An image larger than ``tile`` is fitted tile by tile (each its own model); the time budget is shared out by
    pixels. Tile k's resume checkpoint is ``checkpoint`` for a one-tile image, else ``checkpoint`` + ``.K``; a
    finished tile's checkpoint makes a rerun skip its fit. The caller removes them (:func:`checkpoints_of`)."""
    quality = DEFAULT_QUALITY if quality is None else quality
    lmbda = QUALITIES[quality]
    iterations = iterations or PRESETS[preset or DEFAULT_PRESET]
    if not MIN_TILE <= tile <= MAX_TILE:
        raise ValueError(f"tile size {tile} outside {MIN_TILE}…{MAX_TILE}")
    height, width = image.shape[1:]
    boxes = tile_boxes(height, width, tile)
    fits, seconds = [], 0.0
    reconstruction = torch.empty(3, height, width, dtype=torch.uint8)
    for k, (top, left, h, w) in enumerate(boxes):
        part = image[:, top : top + h, left : left + w].contiguous()
        budget = None if time_budget is None else time_budget * h * w / (height * width)
        tile_report = None
        if report is not None and len(boxes) > 1:
            def tile_report(state: dict[str, float], k: int = k) -> None:
                shown = {key: value for key, value in state.items() if key != "iteration"}
                report({**shown, "tile": k + 1, "tiles": len(boxes),
                        "progress": (k + state.get("progress", 0.0)) / len(boxes)})
        tile_arch = arch or CoolChicArch()
        net, tile_seconds, done = fit_image(part, tile_arch, lmbda, iterations, budget, seed,
                                            checkpoints_of(checkpoint, len(boxes))[k] if checkpoint else None,
                                            report=tile_report or report, trainer_args=trainer_args,
                                            low_precision=low_precision, schedule=schedule)
        modules = quantize_fit(net, part, lmbda)
        fit = FittedModel(tile_arch, done, modules, latent_integers(net))
        reconstruction[:, top : top + h, left : left + w] = torch.from_numpy(fit.reconstruct())
        fits.append(fit)
        seconds += tile_seconds
    return FittedImage(write_streams(tile, fits), reconstruction, seconds, max(f.iterations for f in fits))


def checkpoints_of(checkpoint: Path, tiles: int) -> list[Path]:
    """The resume checkpoint of each tile of a fit whose checkpoint path is ``checkpoint``."""
    if tiles == 1:
        return [checkpoint]
    return [checkpoint.with_name(f"{checkpoint.name}.{k}") for k in range(tiles)]
