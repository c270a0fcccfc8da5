"""Base of the project's LightningModules: what every run records, and the learning rate as a function of the step.

A run keeps its training wall time (summed over resumed runs) and the chain of earlier stages it was warm-started
from in its checkpoints; the export writes both, with the data facts, into the model file's ``meta``.
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


def data_facts(module: pl.LightningModule) -> dict[str, Any]:
    """Crop size (pixels, or latent positions for cached latents), batch size and (when not 1) image scale of the
    data the module is trained on (for its history)."""
    trainer = getattr(module, "_trainer", None)
    hp = getattr(getattr(trainer, "datamodule", None), "hparams", {}) or {}
    facts: dict[str, Any] = {k: int(hp[k]) for k in ("crop", "latent_crop", "batch_size") if k in hp}
    if float(hp.get("train_scale", 1.0)) != 1.0:
        facts["train_scale"] = float(hp["train_scale"])
    return facts


class RecordedModule(pl.LightningModule):
    """Keeps ``train_seconds`` and ``lineage`` across resumes; ``lr_at_step`` decays by ``hparams.lr_gamma`` at
    each of ``hparams.lr_milestones`` passed."""

    def __init__(self) -> None:
        super().__init__()
        self.train_seconds = 0.0  # training wall time summed over resumed runs (kept in checkpoints)
        self._step_started = 0.0
        self.lineage: list[dict[str, Any]] = []  # earlier stages this run was warm-started from, oldest first

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._step_started

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["train_seconds"] = self.train_seconds
        checkpoint["lineage"] = self.lineage
        checkpoint["data_facts"] = data_facts(self)
        checkpoint["family"] = self.family.name  # what ``codec export`` rebuilds

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_seconds = float(checkpoint.get("train_seconds", 0.0))
        self.lineage = list(checkpoint.get("lineage", self.lineage))

    def lr_at_step(self, base: float) -> float:
        """``base · gamma^(milestones passed)``: computed from the step rather than kept in a scheduler, so a
        resumed run can be given new milestones in its YAML and applies them at once."""
        passed = sum(1 for m in self.hparams.lr_milestones or [] if self.global_step >= m)
        return base * self.hparams.lr_gamma**passed
