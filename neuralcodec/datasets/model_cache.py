"""What a frozen model file makes of a list of training images, computed once and cached on disk.

The cache file is named by the model's weights hash and the number of images, and holds the resolved image paths:
a different model or image list never reads another's data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor


def cached_per_image(model_file: str | Path, files: Sequence[Path], cache_dir: str | Path, kind: str,
                     compute: Callable[[], list[Tensor]]) -> list[Tensor]:
    """``compute()`` (one tensor per file) from ``cache_dir/<kind>-<weights hash>-<count>.pt``, or computed and
    stored there."""
    from neuralcodec.codecs.model_file import load_model_file, weights_hash

    key = weights_hash(load_model_file(model_file)).hex()
    names = [str(Path(f).resolve()) for f in files]
    path = Path(cache_dir) / f"{kind}-{key}-{len(files)}.pt"
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        if blob["files"] == names:
            return blob[kind]
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"files": names, kind: values}, path)
    return values
