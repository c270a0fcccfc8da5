"""Classical codecs run live through Pillow, measured from the bytes they produce."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor

# Quality sweep for JPEG (Pillow / libjpeg): 4:2:0 chroma subsampling, Huffman-optimised.
JPEG_QUALITIES = list(range(5, 96, 5))


def jpeg_roundtrip(image: Tensor, quality: int) -> tuple[bytes, Tensor]:
    """JPEG bytes of a uint8 RGB tensor and their decoded image (Pillow, 4:2:0, optimize=True)."""
    pil = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0", optimize=True)
    data = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return data, torch.from_numpy(decoded.copy()).permute(2, 0, 1).contiguous()
