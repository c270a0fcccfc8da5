"""Export a trained network to the family's compact model file (e.g. fp16/int8 weights + integer tables)."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from neuralcodec.codecs.model_file import save_model_file
from neuralcodec.codecs.registry import family_names, get_family, model_file_name
from neuralcodec.errors import ModelError
from neuralcodec.training.checkpoints import checkpoint_stage, load_checkpoint, load_state_dict_any
from neuralcodec.training.recorded import data_facts


def _hardware() -> str:
    threads = torch.get_num_threads()
    return f"{platform.machine()} {threads} thread{'s' if threads > 1 else ''}" + (
        f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU")


def export_module(module: pl.LightningModule, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``module.net`` as a model file of its family; its training facts go into the file's ``meta``."""
    hp = dict(module.hparams)
    meta = {
        "lmbda": float(hp.get("lmbda", 0.0)), "steps": int(module.global_step),
        "train_seconds": float(getattr(module, "train_seconds", 0.0)), "hardware": _hardware(),
        "lr": float(hp.get("lr", 0.0)), **data_facts(module),
    }
    meta.update(_history(list(getattr(module, "lineage", [])), meta))
    meta.update(extra or {})
    family = module.family
    save_model_file(family.file_blob(family.export(module.net, int(hp.get("quality", 0)), meta)), path)
    return Path(path)


def _history(lineage: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The warm-start chain and the totals over it (steps and wall time of every stage, this one included)."""
    return {"lineage": lineage,
            "total_steps": int(meta["steps"] + sum(int(s.get("steps", 0)) for s in lineage)),
            "total_train_seconds": float(meta["train_seconds"]
                                         + sum(float(s.get("train_seconds", 0.0)) for s in lineage))}


def export_checkpoint(ckpt: str | Path, path: str | Path, quality: int | None = None) -> Path:
    """Export a Lightning checkpoint (trusted source) without Lightning's trainer (``codec export``).

    The family, architecture and (unless ``quality`` is given) rate point come from the checkpoint.
    """
    blob = load_checkpoint(ckpt)
    hp = blob.get("hyper_parameters", {})
    name = blob.get("family") or hp.get("family", "hyperprior")
    if name not in family_names():
        raise ModelError(f"{ckpt} is a checkpoint of {name!r}, which is not a codec family here")
    family = get_family(name)
    arch = hp.get("arch") or {k: hp[k] for k in ("N", "M") if k in hp}  # older checkpoints: N, M at top level
    try:
        net = family.build_net(**arch)
        net.load_state_dict(load_state_dict_any(ckpt))
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:  # torch's message lists every tensor
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{ckpt} does not match the {name} network it names ({first.rstrip(':.')})") from None
    meta = {**checkpoint_stage(blob), "lr": float(hp.get("lr", 0.0)), "source": Path(ckpt).name}
    meta.update(_history(list(blob.get("lineage", [])), meta))
    blob = family.export(net, int(hp.get("quality", 0) if quality is None else quality), meta)
    save_model_file(family.file_blob(blob), path)
    return Path(path)


class ExportModel(pl.Callback):
    """Writes the model file at the end of training (and every ``every_n_steps`` if set).

    The file is ``<run folder>/<family>-q<quality>.pt`` unless ``path`` is given. With ``keep_each`` every
    periodic export is also kept as ``exports/step-<N>.pt`` beside it, so that a later export can be chosen on
    validation images (GAN-trained decoders swing from one export to the next).
    """

    def __init__(self, path: str | None = None, every_n_steps: int = 0, keep_each: bool = False) -> None:
        self.path, self.every_n_steps, self.keep_each = path, every_n_steps, keep_each
        self._exported_step = 0  # a batch that steps no optimizer (or a second one) leaves the step where it was

    def target(self, trainer: pl.Trainer, module: pl.LightningModule) -> Path:
        """Where the model file goes."""
        if self.path:
            return Path(self.path)
        name = model_file_name(module.family.name, int(module.hparams.quality))
        return Path(trainer.default_root_dir) / name

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if not self.every_n_steps or step == self._exported_step or step % self.every_n_steps:
            return
        self._exported_step = step
        if trainer.is_global_zero:
            path = export_module(module, self.target(trainer, module))
            if self.keep_each:
                kept = path.parent / "exports" / f"step-{step}.pt"
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, kept)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            export_module(module, self.target(trainer, module))
