"""Training data: real JPEGs decoded into memory, optionally downsampled, cropped and flipped."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from neuralcodec.datasets.image_folder import RandomCropDataset, list_images
from neuralcodec.image_io import read_image


def test_downsampling_restores_the_chroma_detail_of_420_jpegs(tmp_path, sample_path):
    # a 4:2:0 JPEG, like every BSDS500 image: its chroma has no detail above half the Nyquist frequency
    jpeg = tmp_path / "photo.jpg"
    Image.open(sample_path).convert("RGB").save(jpeg, quality=95, subsampling=2)
    full = RandomCropDataset([jpeg], crop=32, length=4)
    half = RandomCropDataset([jpeg], crop=32, length=4, scale=0.5)
    (_, h, w), (_, h2, w2) = full.images[0].shape, half.images[0].shape
    assert (h2, w2) == (round(h / 2), round(w / 2))
    patch = half[0]
    assert patch.shape == (3, 32, 32) and patch.dtype == torch.float32 and 0 <= patch.min() <= patch.max() <= 1

    def relative_chroma_detail(img: torch.Tensor) -> float:
        """Neighbour differences of the colour-difference planes (B − Y, R − Y) over those of luma Y."""
        r, g, b = img.float()
        y = 0.299 * r + 0.587 * g + 0.114 * b

        def detail(plane: torch.Tensor) -> float:
            return float((plane[:, 1:] - plane[:, :-1]).abs().mean())

        return (detail(b - y) + detail(r - y)) / detail(y)

    # 4:2:0 at full size has lost chroma detail against the lossless original; halved, it has it back
    original = relative_chroma_detail(read_image(sample_path)[0])
    assert relative_chroma_detail(full.images[0]) < 0.9 * original
    assert relative_chroma_detail(half.images[0]) > original


def test_scale_out_of_range_is_refused(sample_path):
    with pytest.raises(ValueError, match="scale"):
        RandomCropDataset([sample_path], crop=32, length=1, scale=1.5)


def test_list_images_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        list_images([tmp_path / "nope"])
