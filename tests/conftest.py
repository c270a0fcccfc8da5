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
# fit networks (Lightning Trainers, module-scoped tiny trained models), fuzz, evaluate, decode every golden file
# or run the CLI in fresh processes; every test that runs the CLI in a subprocess (the run_cli fixture); and the
# tests below, which take seconds each (fresh-process decodes, every rate point, banded passes over large latents).
SLOW_MODULES = {"test_batch", "test_cli", "test_coolchic", "test_determinism", "test_diffusion", "test_eval",
                "test_eval_video", "test_fuzz", "test_golden", "test_nerv", "test_training", "test_vq"}
SLOW_TESTS = {
    "test_two_threads_encode_one_thread_fresh_process_decode",
    "test_two_threads_encode_and_decode_one_thread_fresh_process_decode",
    "test_passes_in_bands_of_rows_equal_one_pass_over_the_latent",
    "test_two_pass_decode_gives_exactly_the_coded_symbols",
    "test_slice_by_slice_decode_gives_exactly_the_coded_symbols",
    "test_cli_encodes_and_decodes_with_the_model_file",
    "test_context_networks_are_immune_to_last_bit_noise",
    "test_context_networks_and_attention_are_immune_to_last_bit_noise",
    "test_an_untrained_model_codes_as_the_hyperprior_it_starts_from",
    "test_each_pass_depends_only_on_what_is_decoded_before_it",
    "test_training_rate_by_phase_grids_equals_the_dense_passes",
    "test_a_context_stage_model_file_stores_only_its_context_networks",
    "test_icc_profile_survives_the_round_trip",
    "test_bpp_and_psnr_increase_with_the_quality_index",
    "test_shipped_rate_point_roundtrip_through_a_file",
    "test_inference_never_imports_lightning_or_training",
}


@pytest.fixture
def noisy_mm(monkeypatch):
    """torch.mm off by ±1 ULP in its float64 results, as an inexact BLAS might be (for the exact decoders' tests)."""
    import torch

    mm = torch.mm
    gen = torch.Generator().manual_seed(0)

    def noisy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = mm(a, b)
        direction = torch.where(torch.rand(out.shape, generator=gen) < 0.5, -torch.inf, torch.inf).double()
        return torch.nextafter(out, direction)

    monkeypatch.setattr(torch, "mm", noisy)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        name = getattr(item, "originalname", item.name)
        if module in SLOW_MODULES or name in SLOW_TESTS or "run_cli" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
