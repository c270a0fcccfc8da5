"""Every training config in ``configs/`` composes with its ``base.yaml`` into a runnable model, data and trainer.

A typo in a config would otherwise surface only when someone starts an hour-long run. Each rate-point file
must name its own run (``codec train`` resumes from the newest checkpoint under ``runs/<name>/``) and export
the model file of its own rate point.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from neuralcodec.training.diffusion_module import DiffusionLitModule
from neuralcodec.training.export import ExportModel
from neuralcodec.training.module import CodecLitModule
from neuralcodec.training.vq_module import VQLitModule

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted(p for p in (ROOT / "configs").glob("**/*.yaml") if p.name != "base.yaml")
POINT_CONFIG = re.compile(r"q(\d+)\.yaml")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_config_builds_model_data_and_trainer(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuralcodec.training.cli import build_cli

    monkeypatch.chdir(ROOT)  # configs name paths relative to the repository root
    model = yaml.safe_load(config.read_text()).get("model") or {}
    # a family with its own LightningModule (vq, diffusion): arguments under init_args (its class_path may be in
    # the base.yaml beside it)
    own_module = "class_path" in model or "init_args" in model
    args = model.get("init_args", {}) if own_module else model
    # a later stage starts from an earlier stage's export under runs/ (init_from, and restorer_from of vq's top
    # point), made by that stage's config: it is checked by name here and not loaded
    overrides = []
    for key in ("init_from", "restorer_from"):
        declared = args.get(key)
        if declared is not None and Path(declared).parts[0] == "runs":
            stage = Path(declared).parts[1]
            makers = [p for p in CONFIGS if yaml.safe_load(p.read_text()).get("name") == stage]
            assert makers, f"no config makes {declared}"
            overrides += [f"--model.init_args.{key}" if own_module else f"--model.{key}", "null"]
    cli = build_cli(["--config", str(config.relative_to(ROOT)), *overrides])
    assert isinstance(cli.model, (VQLitModule, DiffusionLitModule) if own_module else CodecLitModule)
    declared_epochs = (yaml.safe_load(config.read_text()).get("trainer") or {}).get("max_epochs") or 0
    assert cli.trainer.max_steps > 0 or declared_epochs > 0, "a step limit, or an epoch limit for a stage without steps"
    family = config.parent.name if config.parent.parent.name == "configs" else config.parent.parent.name
    assert cli.model.family.name == family, "a config lives in its family's folder (or a stage folder in it)"
    exports = [cb for cb in cli.trainer.callbacks if isinstance(cb, ExportModel)]
    assert len(exports) == 1, "each config exports exactly one model file"
    root = Path(cli.trainer.default_root_dir)
    name = yaml.safe_load(config.read_text())["name"]
    assert root == Path("runs") / name
    quality = cli.model.hparams.quality
    assert exports[0].target(cli.trainer, cli.model) == root / f"{family}-q{quality}.pt"
    assert Path(cli.trainer.logger.save_dir) == root, "the CSV log must live in the run folder that resume reads"
    init_from = cli.model.hparams.init_from
    assert init_from is None or Path(init_from).is_file(), f"init_from {init_from} is missing"
    point = POINT_CONFIG.fullmatch(config.name)
    if point:  # configs/<family>/qN.yaml trains rate point N
        assert quality == int(point.group(1))


def test_explicit_base_gives_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from neuralcodec.training.cli import build_cli

    monkeypatch.chdir(ROOT)
    short = build_cli(["--config", "configs/hyperprior/q3.yaml"])
    both = build_cli(["--config", "configs/hyperprior/base.yaml", "--config", "configs/hyperprior/q3.yaml"])
    assert dict(short.model.hparams) == dict(both.model.hparams)
    assert short.trainer.default_root_dir == both.trainer.default_root_dir
    assert dict(short.datamodule.hparams) == dict(both.datamodule.hparams)


# Configs that continue another's run on purpose (same run folder: `codec train` resumes its checkpoint).
CONTINUATIONS = {"diffusion/decoder-gan-strong.yaml": "diffusion/decoder-gan.yaml"}


def test_every_config_has_its_own_run_name() -> None:
    named = {p.relative_to(ROOT / "configs").as_posix(): yaml.safe_load(p.read_text())["name"] for p in CONFIGS}
    for later, earlier in CONTINUATIONS.items():
        assert named.pop(later) == named[earlier]
    names = list(named.values())
    assert len(set(names)) == len(names), "two configs share a run folder, so one would resume the other"
