"""Export a trained network to the compact shipped model file (fp16/int8 weights + integer tables)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from neuralcodec.codecs.model_file import load_state_dict_any, save_model_file
from neuralcodec.codecs.registry import family_of
from neuralcodec.training.module import checkpoint_stage, data_facts


def _hardware() -> str:
    threads = torch.get_num_threads()
    return f"{platform.machine()} {threads} thread{'s' if threads > 1 else ''}" + (
        f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU")


def export_module(module: pl.LightningModule, path: str | Path, quality: int, family: str = "hyperprior",
                  extra: dict[str, Any] | None = None) -> Path:
    """Write ``module.net`` as a shipped model file; its training facts go into the file's ``meta``."""
    hp = dict(module.hparams)
    meta = {
        "lmbda": float(hp.get("lmbda", 0.0)), "steps": int(module.global_step),
        "train_seconds": float(getattr(module, "train_seconds", 0.0)), "hardware": _hardware(),
        "lr": float(hp.get("lr", 0.0)), **data_facts(module),
    }
    meta.update(_history(list(getattr(module, "lineage", [])), meta))
    meta.update(extra or {})
    save_model_file(family_of(family).export_model(module.net, quality, meta), path)
    return Path(path)


def _history(lineage: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The warm-start chain and the totals over it (steps and wall time of every stage, this one included)."""
    return {"lineage": lineage,
            "total_steps": int(meta["steps"] + sum(int(s.get("steps", 0)) for s in lineage)),
            "total_train_seconds": float(meta["train_seconds"]
                                         + sum(float(s.get("train_seconds", 0.0)) for s in lineage))}


def export_checkpoint(ckpt: str | Path, path: str | Path, quality: int, family: str = "hyperprior") -> Path:
    """Export a Lightning checkpoint without Lightning's trainer (used by ``codec export``)."""
    blob = torch.load(Path(ckpt), map_location="cpu", weights_only=False)
    hp = blob.get("hyper_parameters", {})
    module_family = family_of(family)
    net = module_family.build_net(**hp)
    net.load_state_dict(load_state_dict_any(ckpt))
    meta = {**checkpoint_stage(blob), "lr": float(hp.get("lr", 0.0)), "source": Path(ckpt).name}
    meta.update(_history(list(blob.get("lineage", [])), meta))
    save_model_file(module_family.export_model(net, quality, meta), path)
    return Path(path)


class ExportModel(pl.Callback):
    """Writes the shipped model file at the end of training (and every ``every_n_steps`` if set)."""

    def __init__(self, path: str, quality: int, family: str = "hyperprior", every_n_steps: int = 0) -> None:
        self.path, self.quality, self.family, self.every_n_steps = path, quality, family, every_n_steps

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and trainer.is_global_zero:
            export_module(module, self.path, self.quality, self.family)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            export_module(module, self.path, self.quality, self.family)
