"""Shared fixtures: real images, the shipped model, a CLI runner in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLE = ROOT / "samples" / "parrots.png"
VIDEO = SHARED / "datasets" / "video"  # the shared clips (tests that need them skip without ../shared)
BASKETBALL = VIDEO / "basketballpass_416x240"
BUNNY = VIDEO / "bunny_720p"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    path = SHARED / "datasets" / "kodak"
    if not path.is_dir():
        pytest.skip("../shared/datasets/kodak is absent (project data for tests and benchmarks)")
    return path


@pytest.fixture(scope="session")
def default_codec():
    from neuralcodec.codecs.registry import load_codec

    return load_codec()


@pytest.fixture
def run_cli():
    """Run ``codec ARGS`` in a fresh process; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        return subprocess.run([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)

    return run


# The slow tier (`make test` runs everything; `make test-fast` leaves these out): modules whose tests train or
# fit networks (Lightning Trainers, module-scoped tiny trained models), fuzz, or run the CLI in fresh processes,
# and every test elsewhere that runs the CLI in a subprocess (the run_cli fixture).
SLOW_MODULES = {"test_batch", "test_cli", "test_determinism", "test_diffusion", "test_eval_video", "test_fuzz",
                "test_nerv", "test_training", "test_vq"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or "run_cli" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
