"""Image-folder training data: images decoded once into memory, random crops and flips per sample."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from neuralcodec.image_io import IMAGE_SUFFIXES


def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """All image files directly inside the given folders, sorted, so runs see the same order."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder not found: {folder}")
        files += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {', '.join(map(str, folders))}")
    return files


def _load_rgb_uint8(path: Path, scale: float = 1.0) -> Tensor:
    with Image.open(path) as img:
        img = img.convert("RGB")
        if scale != 1.0:
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img = img.resize(size, Image.Resampling.LANCZOS)  # antialiased
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous()


class RandomCropDataset(Dataset):
    """``length`` random ``crop``×``crop`` patches (with flips) drawn from images held in memory as uint8.

    Decoding the JPEGs once keeps data loading out of the training step on a 2-core machine, where
    dataloader workers would compete with the model for the CPU. ``scale`` < 1 downsamples each image
    once at load time (see :class:`ImageFolderDataModule`).
    """

    def __init__(self, files: Sequence[Path], crop: int, length: int, augment: bool = True,
                 scale: float = 1.0) -> None:
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        self.images = [_load_rgb_uint8(f, scale) for f in files]
        self.crop, self.length, self.augment = crop, length, augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        img = self.images[index % len(self.images)]
        _, h, w = img.shape
        c = self.crop
        if h < c or w < c:  # edge-replicate small images up to the crop size
            img = torch.nn.functional.pad(img[None].float(), (0, max(0, c - w), 0, max(0, c - h)), mode="replicate")[0]
            _, h, w = img.shape
        if self.augment:
            top = int(torch.randint(0, h - c + 1, ()))
            left = int(torch.randint(0, w - c + 1, ()))
        else:  # validation: deterministic centre crops
            top, left = (h - c) // 2, (w - c) // 2
        patch = img[:, top : top + c, left : left + c].float() / 255.0
        if self.augment:
            if torch.rand(()) < 0.5:
                patch = patch.flip(2)
            if torch.rand(()) < 0.5:
                patch = patch.flip(1)
        return patch


class ImageFolderDataModule(pl.LightningDataModule):
    """Random crops from training folders; fixed centre crops from a validation folder.

    ``train_scale`` downsamples the training images once (Lanczos) before cropping. BSDS500 ships as
    4:2:0 JPEGs: at full size their chroma holds no detail above half the Nyquist frequency, so a model
    trained on them never learns to code the full-resolution chroma of a 4:4:4 test image such as Kodak's.
    At 0.5 the chroma is full-band and JPEG block artefacts and sensor noise shrink too (the usual
    practice of downsampling training photos in learned compression).
    """

    def __init__(
        self,
        train_dirs: list[str] = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test"),
        val_dir: str = "../shared/datasets/bsds500/val",
        crop: int = 128,
        val_crop: int = 256,
        batch_size: int = 8,
        samples_per_epoch: int = 8000,
        val_images: int = 16,
        num_workers: int = 0,
        train_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set: RandomCropDataset | None = None
        self.val_set: RandomCropDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.train_set is None:
            self.train_set = RandomCropDataset(list_images(hp.train_dirs), hp.crop, hp.samples_per_epoch,
                                               scale=hp.train_scale)
        if self.val_set is None:
            val_files = list_images([hp.val_dir])[: hp.val_images]
            self.val_set = RandomCropDataset(val_files, hp.val_crop, len(val_files), augment=False)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True,
                          num_workers=self.hparams.num_workers, drop_last=True,
                          persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, shuffle=False, num_workers=0)
