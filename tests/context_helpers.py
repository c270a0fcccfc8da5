"""Shared by the context-model tests: real crops of odd sizes and model files with random context networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from neuralcodec.codecs.model_file import load_model_file, save_model_file
from neuralcodec.codecs.registry import get_family, model_path
from neuralcodec.image_io import ImageInfo, read_image

ROOT = Path(__file__).resolve().parent.parent


def odd_crops() -> list[tuple[torch.Tensor, ImageInfo]]:
    """Crops of the bundled sample: 333×217, 65×128, a grayscale 97×150 and 1×1."""
    image, info = read_image(ROOT / "samples" / "parrots.png")
    grey = image[:1].expand(3, -1, -1)
    return [(image[:, :333, :217].contiguous(), info), (image[:, 5:70, 3:131].contiguous(), info),
            (grey[:, :97, :150].contiguous(), ImageInfo(1, 8)), (image[:, :1, :1].contiguous(), info)]


def context_model_file(family_name: str, folder: Path, randomize: Callable[[torch.nn.Module], None]) -> Path:
    """A full model file of ``family_name`` on the shipped hyperprior q0, its context networks set by
    ``randomize`` (an untrained context model would code exactly like the hyperprior)."""
    family = get_family(family_name)
    blob = load_model_file(model_path("hyperprior", 0))
    net = family.build_net(**blob["arch"])
    net.load_state_dict(get_family("hyperprior").float_state_dict(blob), strict=False)
    randomize(net)
    path = folder / f"{family_name}-q0.pt"
    save_model_file(family.export(net, 0, {"test": "random context"}), path)
    return path
