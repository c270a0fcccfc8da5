"""``codec train --config configs/hyperprior/q3.yaml``: LightningCLI with composed configs and automatic resume.

A family's config folder holds one ``base.yaml`` (trainer, data, defaults) and one short file per rate
point (name, λ, quality, warm-start source, steps). ``--config POINT.yaml`` is read on top of the
``base.yaml`` beside it (LightningCLI's repeated ``--config``), so both of these run the same thing::

    codec train --config configs/hyperprior/q3.yaml
    codec train --config configs/hyperprior/base.yaml --config configs/hyperprior/q3.yaml

The run's ``name`` places everything: ``runs/<name>/`` holds checkpoints, the CSV log and the exported
model file (unless ``--trainer.default_root_dir`` is given).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytorch_lightning as pl
import yaml
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from neuralcodec.datasets.image_folder import ImageFolderDataModule  # noqa: F401 - the configs' data class
from neuralcodec.training.module import CodecLitModule

BASE_CONFIG = "base.yaml"
RUNS_DIR = "runs"


def with_base_configs(args: list[str]) -> list[str]:
    """Insert ``--config <folder>/base.yaml`` before each config that has a base beside it (once)."""
    out: list[str] = []
    given = {Path(a).resolve() for a in args}
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--config" and i + 1 < len(args) else None
        if value and Path(value).name != BASE_CONFIG:
            base = Path(value).with_name(BASE_CONFIG)
            if base.is_file() and base.resolve() not in given:
                out += ["--config", str(base)]
                given.add(base.resolve())
        out.append(arg)
    return out


def last_checkpoint(root_dir: str | Path) -> Path | None:
    """The newest ``last.ckpt`` an earlier run of the same config left under its root (resume point)."""
    found = sorted(Path(root_dir).glob("**/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


class CodecTrainingCLI(LightningCLI):
    """LightningCLI plus a top-level ``name`` from which the run folder derives."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001 - jsonargparse's parser
        parser.add_argument("--name", type=str, default=None,
                            help="run name: runs/<name>/ holds checkpoints, logs and the exported model file")

    def before_instantiate_classes(self) -> None:
        if self.config.trainer.default_root_dir is None:
            if not self.config.name:
                raise ValueError("the config needs a 'name' (or --trainer.default_root_dir)")
            self.config.trainer.default_root_dir = str(Path(RUNS_DIR) / self.config.name)


def _set_loggers(trainer: pl.Trainer) -> None:
    """The CSV log in the run folder, and TensorBoard beside it when installed (it is not a dependency)."""
    root = trainer.default_root_dir
    loggers: list = [CSVLogger(save_dir=root, name="logs", version=0)]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=root, name="tensorboard", version=0))
    trainer.loggers = loggers


def names_module_class(args: list[str]) -> bool:
    """Whether a config names its LightningModule (``model: {class_path: …}``, e.g. the ``vq`` family's own
    module); configs without one train :class:`CodecLitModule`."""
    for i, arg in enumerate(args[:-1]):
        if arg == "--config" and Path(args[i + 1]).is_file():
            config = yaml.safe_load(Path(args[i + 1]).read_text()) or {}
            if isinstance(config.get("model"), dict) and "class_path" in config["model"]:
                return True
    return False


def build_cli(args: list[str] | None = None) -> LightningCLI:
    """Parse training configs into the model, data module and trainer, without fitting."""
    args = with_base_configs(list(args or []))
    own_module = names_module_class(args)
    cli = CodecTrainingCLI(
        pl.LightningModule if own_module else CodecLitModule,
        pl.LightningDataModule,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": True},
        subclass_mode_model=own_module,
        subclass_mode_data=True,
    )
    _set_loggers(cli.trainer)
    return cli


def train_main(args: list[str] | None = None) -> None:
    """Parse the configs and fit, resuming from the run's newest checkpoint when present."""
    cli = build_cli(args)
    resume = last_checkpoint(cli.trainer.default_root_dir)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(resume) if resume else None)


if __name__ == "__main__":
    import sys

    train_main(sys.argv[1:])
