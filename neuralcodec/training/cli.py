"""``codec train --config configs/hyperprior/qN.yaml``: LightningCLI with automatic resume."""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning.cli import LightningCLI

from neuralcodec.datasets.image_folder import ImageFolderDataModule
from neuralcodec.training.module import HyperpriorLitModule


def last_checkpoint(root_dir: str | Path) -> Path | None:
    """The newest ``last.ckpt`` an earlier run of the same config left under its root (resume point)."""
    found = sorted(Path(root_dir).glob("**/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def train_main(args: list[str] | None = None) -> None:
    """Parse a LightningCLI config and fit, resuming from the run's newest checkpoint when present."""
    cli = LightningCLI(
        HyperpriorLitModule,
        ImageFolderDataModule,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": True},
        subclass_mode_model=False,
    )
    resume = last_checkpoint(cli.trainer.default_root_dir)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(resume) if resume else None)


if __name__ == "__main__":
    train_main()
