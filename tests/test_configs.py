"""Every training config in ``configs/`` parses into a runnable model, data module and trainer.

A typo in a stage config would otherwise surface only when someone starts an hour-long run. Configs of one rate
point must agree with each other (same λ, same quality in the export) and every config must own its run folder,
because ``codec train`` resumes from the newest checkpoint under it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from neuralcodec.training.export import ExportModel
from neuralcodec.training.module import HyperpriorLitModule

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("**/*.yaml"))
POINT_CONFIG = re.compile(r"q(\d)(?:-.*)?\.yaml")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_config_builds_model_data_and_trainer(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuralcodec.training.cli import build_cli

    monkeypatch.chdir(ROOT)  # configs name paths relative to the repository root
    cli = build_cli(["--config", str(config.relative_to(ROOT))])
    assert isinstance(cli.model, HyperpriorLitModule)
    assert cli.trainer.max_steps > 0
    exports = [cb for cb in cli.trainer.callbacks if isinstance(cb, ExportModel)]
    assert len(exports) == 1, "each config exports exactly one model file"
    root = Path(cli.trainer.default_root_dir)
    assert Path(exports[0].path).parent == root
    assert Path(cli.trainer.logger.save_dir) == root, "the CSV log must live in the run folder that resume reads"
    init_from = cli.model.hparams.init_from
    assert init_from is None or Path(init_from).is_file(), f"init_from {init_from} is missing"

    point = POINT_CONFIG.fullmatch(config.name)
    if point:  # configs/hyperprior/qN[-stageK].yaml: one rate point, whatever the stage
        quality = int(point.group(1))
        assert exports[0].quality == quality
        assert Path(exports[0].path).name == f"hyperprior-q{quality}.pt"
        first_stage = _yaml(config.with_name(f"q{quality}.yaml"))
        assert cli.model.hparams.lmbda == first_stage["model"]["lmbda"], "all stages of a point train the same λ"


def test_every_config_has_its_own_run_folder() -> None:
    roots = [_yaml(path)["trainer"]["default_root_dir"] for path in CONFIGS]
    assert len(set(roots)) == len(roots), "two configs share a run folder, so one would resume the other"
