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

import argparse
import csv
import importlib.util
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from neuralcodec.datasets.image_folder import ImageFolderDataModule  # noqa: F401 - the configs' data class
from neuralcodec.errors import NeuralCodecError
from neuralcodec.training.fit_control import fit_interruptibly
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


class _ContinuedCSVWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts; a resumed run instead keeps the
    rows logged before the checkpoint it resumes from (``keep_before``) and appends after them."""

    def __init__(self, log_dir: str, keep_before: int | None) -> None:
        self.keep_before = keep_before
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if self.keep_before is None or not path.is_file():
            return super()._check_log_dir_exists()
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            keys = list(reader.fieldnames or [])
            rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) < self.keep_before]
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = sorted(keys)
        return None


class ContinuedCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume: rows before step ``keep_before`` stay."""

    def __init__(self, *args, keep_before: int | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._keep_before = keep_before

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedCSVWriter(self.log_dir, self._keep_before)
        return self._experiment


def _set_loggers(trainer: pl.Trainer, resume_step: int | None = None) -> None:
    """The CSV log in the run folder (continued across resumes), and TensorBoard beside it when installed (it is
    not a dependency)."""
    root = trainer.default_root_dir
    loggers: list = [ContinuedCSVLogger(save_dir=root, name="logs", version=0, keep_before=resume_step)]
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
    with warnings.catch_warnings():  # "args is intended to run from within Python": it is, on purpose
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        cli = _training_cli(own_module, args)
    _set_loggers(cli.trainer)
    return cli


def _training_cli(own_module: bool, args: list[str]) -> LightningCLI:
    return CodecTrainingCLI(
        pl.LightningModule if own_module else CodecLitModule,
        pl.LightningDataModule,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False},  # errors raise, so codec train reports them in one line
        subclass_mode_model=own_module,
        subclass_mode_data=True,
    )


class TrainingStartError(NeuralCodecError):
    """A training run could not start (or stopped on bad input): a config, an option, data or a model file."""


def _one_line(exc: BaseException) -> str:
    """An error as one line; jsonargparse's type errors (``Parser key "model.lmbda": Does not validate … Given
    value: abc``) as the option, the value and the types it takes."""
    text = " ".join(str(exc).split())
    key = re.match(r'Parser key "([^"]+)":', text)
    value = re.search(r"(?:Given|Got) value: (.*)$", text)
    if key and value:
        types = re.search(r"Subtypes: \[(.*?)\]", text)
        names = dict.fromkeys(re.findall(r"<class '(\w+)'>", types.group(1) if types else text))
        expected = ", ".join(names).replace("NoneType", "null") or "another type"
        return f"--{key.group(1)}: {value.group(1).strip()!r} is not a valid value (expected {expected})"
    return text[:300] or type(exc).__name__


def train_main(args: list[str] | None = None, on_resume: Callable[[Path, int], None] | None = None,
               progress: Callable[[dict], None] | None = None) -> None:
    """Parse the configs and fit, resuming from the run's newest checkpoint when present.

    Bad input (an unknown option, a value of the wrong type, a missing data folder or model file) is a
    :class:`TrainingStartError`; a run folder this call created and that holds no checkpoint or model file yet
    is removed again. ``on_resume(checkpoint, step)`` is told where a resumed run goes on from; ``progress``,
    when given, replaces Lightning's progress bar (:class:`~neuralcodec.training.fit_control.TrainingProgress`)."""
    try:
        cli = build_cli(args)
    except (argparse.ArgumentError, NeuralCodecError, OSError, ValueError, TypeError) as exc:
        raise TrainingStartError(_one_line(exc)) from None
    if progress is not None:
        from pytorch_lightning.callbacks import ProgressBar

        from neuralcodec.training.fit_control import TrainingProgress

        kept = [c for c in cli.trainer.callbacks if not isinstance(c, ProgressBar)]
        cli.trainer.callbacks = [*kept, TrainingProgress(progress)]
    root = Path(cli.trainer.default_root_dir)
    existed = root.exists()
    resume = last_checkpoint(root)
    if resume:
        try:
            step = torch.load(resume, map_location="cpu", weights_only=False, mmap=True)["global_step"]
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
            raise TrainingStartError(f"cannot resume from {resume} (damaged: {_one_line(exc)[:150]}); move it "
                                     "away to start the run again") from None
        _set_loggers(cli.trainer, resume_step=int(step))
        if on_resume is not None:
            on_resume(resume, int(step))
    try:
        fit_interruptibly(cli.trainer, cli.model, None, str(resume) if resume else None, datamodule=cli.datamodule)
    except (NeuralCodecError, OSError) as exc:
        if not existed and root.is_dir() and not any(root.glob("**/*.ckpt")) and not any(root.glob("**/*.pt")):
            shutil.rmtree(root, ignore_errors=True)  # a failed start leaves no empty run folder
        raise TrainingStartError(_one_line(exc)) from None


if __name__ == "__main__":
    import sys

    train_main(sys.argv[1:])
