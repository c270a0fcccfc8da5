"""LPIPS (Zhang et al. 2018, AlexNet) when its ImageNet backbone weights are on disk — never downloaded.

The backbone is looked up the standard torch way: ``$TORCH_HOME/hub/checkpoints`` (default
``~/.cache/torch/hub/checkpoints``), file ``alexnet-owt-7be5be79.pth`` as torchvision names it. When it is
missing, ``load_lpips`` returns ``None`` and the reason, and evaluations report ``"lpips": null``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def backbone_path() -> Path:
    """Where torchvision would look for the cached AlexNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def load_lpips(random_backbone: bool = False) -> tuple[torch.nn.Module | None, str]:
    """The LPIPS module (eval mode) and a note; ``(None, reason)`` when weights are not available.

    ``random_backbone`` builds it with a randomly initialised AlexNet: only to test the plumbing, its
    numbers are meaningless and must never be reported.
    """
    import warnings

    import lpips

    if not random_backbone and not backbone_path().is_file():
        return None, f"LPIPS not computed: AlexNet ImageNet weights not found at {backbone_path()} (no download)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=random_backbone, verbose=False)
    return model.eval(), "random backbone (plumbing test only)" if random_backbone else "LPIPS AlexNet v0.1"


@torch.no_grad()
def lpips_distance(model: torch.nn.Module, a: Tensor, b: Tensor) -> float:
    """LPIPS between two uint8 RGB images (inputs scaled to [−1, 1] as the package expects)."""
    xa = a[None].float() / 127.5 - 1
    xb = b[None].float() / 127.5 - 1
    return float(model(xa, xb).mean())
