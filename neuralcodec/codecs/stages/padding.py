"""Padding images to a multiple of a codec's total downsampling."""

from __future__ import annotations

import torch
from torch import Tensor


def pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Rows and columns to add below and right of an image so both sides are multiples of ``multiple``."""
    return (-height) % multiple, (-width) % multiple


def pad_replicate(image: Tensor, multiple: int) -> Tensor:
    """uint8 (C, H, W) → (1, C, H', W') padded by edge replication (cheaper edges to code than zeros).

    Padded in uint8: a float copy of a 24-megapixel image would cost 288 MB.
    """
    ph, pw = pad_amounts(image.shape[1], image.shape[2], multiple)
    if ph:
        image = torch.cat([image, image[:, -1:, :].expand(-1, ph, -1)], dim=1)
    if pw:
        image = torch.cat([image, image[:, :, -1:].expand(-1, -1, pw)], dim=2)
    return image.unsqueeze(0)
