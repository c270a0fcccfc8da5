"""Latents of a frozen analysis transform, computed once and cached: data for training context models.

Training a context model with the transforms frozen needs only ``y = g_a(x)`` of the training images, which
never changes, so it is computed once per source model (full images, padded to a multiple of 64) and stored
as float16 under ``cache_dir``. Each sample is a random ``latent_crop``² latent window (a multiple of 4, the
hyper-latent's stride; 16 is a 256×256 image crop) with random flips — a step is many times cheaper than on
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from neuralcodec.datasets.image_folder import list_images
from neuralcodec.datasets.model_cache import cached_per_image


@torch.no_grad()
def compute_latents(model_file: str | Path, files: Sequence[Path]) -> list[Tensor]:
    """``g_a`` of every image (float16, (M, H/16, W/16)) with the analysis transform of a model file."""
    from tqdm import tqdm

    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.image_io import read_image

    codec = load_codec(model_file=model_file)
    latents = []
    for path in tqdm(files, desc="latents", unit="image"):
        image, _ = read_image(path)
        y = codec.analysis(image)
        latents.append(y[0].to(torch.float16).contiguous())
    return latents


def cached_latents(model_file: str | Path, files: Sequence[Path], cache_dir: str | Path) -> list[Tensor]:
    """The latents of ``files`` under ``model_file``'s transform, from the cache or computed and stored."""
    return cached_per_image(model_file, files, cache_dir, "latents", lambda: compute_latents(model_file, files))


class LatentCropDataset(Dataset):
    """``length`` random latent crops (with flips), or one fixed centre crop per latent (``augment=False``)."""

    def __init__(self, latents: Sequence[Tensor], crop: int, length: int, augment: bool = True) -> None:
        if crop % 4:
            raise ValueError("latent crops must be a multiple of 4 (the hyper-latent stride)")
        self.latents = [y for y in latents if y.shape[1] >= crop and y.shape[2] >= crop]
        if not self.latents:
            raise ValueError(f"no latent is {crop}×{crop} or larger")
        self.crop, self.length, self.augment = crop, length, augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        y = self.latents[index % len(self.latents)]
        _, h, w = y.shape
        c = self.crop
        if self.augment:
            top = 4 * int(torch.randint(0, (h - c) // 4 + 1, ()))
            left = 4 * int(torch.randint(0, (w - c) // 4 + 1, ()))
        else:
            top, left = 4 * ((h - c) // 8), 4 * ((w - c) // 8)
        patch = y[:, top : top + c, left : left + c].float()
        if self.augment:
            if torch.rand(()) < 0.5:
                patch = patch.flip(2)
            if torch.rand(()) < 0.5:
                patch = patch.flip(1)
        return {"y": patch}


class LatentCacheDataModule(pl.LightningDataModule):
    """Cached latents of a frozen source model (``source_model``: a model file) for training context models."""

    def __init__(
        self,
        source_model: str,
        train_dirs: list[str] = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test"),
        val_dir: str = "../shared/datasets/bsds500/val",
        cache_dir: str = "runs/latent-cache",
        latent_crop: int = 16,
        batch_size: int = 16,
        samples_per_epoch: int = 8000,
        val_images: int = 16,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set: LatentCropDataset | None = None
        self.val_set: LatentCropDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.train_set is None:
            train = cached_latents(hp.source_model, list_images(hp.train_dirs), hp.cache_dir)
            self.train_set = LatentCropDataset(train, hp.latent_crop, hp.samples_per_epoch)
        if self.val_set is None:
            val_files = list_images([hp.val_dir])[: hp.val_images]
            val = cached_latents(hp.source_model, val_files, hp.cache_dir)
            self.val_set = LatentCropDataset(val, hp.latent_crop, len(val), augment=False)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, shuffle=False)
