"""The encoders of fitted image families, by family name (their fitting needs Lightning, so the declarations
under ``codecs/`` cannot hold them)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# family name → "module:function" taking (uint8 image, quality=…, checkpoint=…, report=…, trainer_args=…,
# **the family's encode options) and returning an object with ``streams`` and ``reconstruction``
IMAGE_FITTERS = {"coolchic": "neuralcodec.training.coolchic_fit:encode_image"}


def image_fitter(family: str) -> Callable[..., Any]:
    module, function = IMAGE_FITTERS[family].split(":")
    return getattr(importlib.import_module(module), function)
