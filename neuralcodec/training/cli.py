"""``codec train --config configs/hyperprior/qN.yaml``: LightningCLI with automatic resume."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

from neuralcodec.datasets.image_folder import ImageFolderDataModule
from neuralcodec.training.module import HyperpriorLitModule


def last_checkpoint(root_dir: str | Path) -> Path | None:
    """The newest ``last.ckpt`` an earlier run of the same config left under its root (resume point)."""
    found = sorted(Path(root_dir).glob("**/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def add_tensorboard_if_installed(trainer: pl.Trainer) -> bool:
    """Log to TensorBoard as well as the config's CSV logger when ``tensorboard`` is importable.

    TensorBoard is optional (not a dependency): the CSV log is always written, TensorBoard only when a user has it.
    """
    from pytorch_lightning.loggers import TensorBoardLogger

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        return False
    if trainer.logger is None or any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers):
        return False
    trainer.loggers = [*trainer.loggers, TensorBoardLogger(save_dir=trainer.default_root_dir, name="tensorboard",
                                                           version=0)]
    return True


def build_cli(args: list[str] | None = None) -> LightningCLI:
    """Parse a training config into its model, data module and trainer, without fitting."""
    return LightningCLI(
        HyperpriorLitModule,
        ImageFolderDataModule,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": True},
        subclass_mode_model=False,
    )


def train_main(args: list[str] | None = None) -> None:
    """Parse a LightningCLI config and fit, resuming from the run's newest checkpoint when present."""
    cli = build_cli(args)
    add_tensorboard_if_installed(cli.trainer)
    resume = last_checkpoint(cli.trainer.default_root_dir)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(resume) if resume else None)


if __name__ == "__main__":
    train_main()
