"""(original, base decoding) pairs: the training data of the diffusion decoder.

Every training image is coded once with each rate point of a base codec and decoded from the real bitstream;
the decodings are cached (uint8) under ``cache_dir`` per model file, so a training step only crops. Each sample
is one image at one random rate point: the same random crop (and flips) of the original and of its decoding,
and the rate point's position in the list. The error variance of each rate point on the validation images
(in [-1, 1] units) is what the decoder's rate → timestep mapping is built from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from neuralcodec.datasets.image_folder import _load_rgb_uint8, list_images
from neuralcodec.datasets.model_cache import cached_per_image


@torch.no_grad()
def decode_all(model_file: str | Path, images: Sequence[Tensor]) -> list[Tensor]:
    """The exact decoder output of each image coded with a model file (uint8 (3, H, W))."""
    from tqdm import tqdm

    from neuralcodec.codecs.registry import load_codec

    codec = load_codec(model_file=model_file)
    return [codec.compress(image, reconstruct=True)[1] for image in tqdm(images, desc=Path(model_file).name)]


def cached_decodings(model_file: str | Path, files: Sequence[Path], images: Sequence[Tensor],
                     cache_dir: str | Path) -> list[Tensor]:
    """Decodings of ``images`` (read from ``files``) by ``model_file``, from the cache or made and stored."""
    return cached_per_image(model_file, files, cache_dir, "decoded", lambda: decode_all(model_file, images))


class DecodedPairsDataset(Dataset):
    """Random (or, without ``augment``, centre) crops of (original, decoding at a random rate point) pairs."""

    def __init__(self, originals: Sequence[Tensor], decoded: Sequence[Sequence[Tensor]], crop: int, length: int,
                 augment: bool = True) -> None:
        self.originals, self.decoded = list(originals), [list(d) for d in decoded]
        self.crop, self.length, self.augment = crop, length, augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if self.augment:
            i, point = index % len(self.originals), int(torch.randint(0, len(self.decoded), ()))
        else:  # validation: every image at every rate point
            i, point = index // len(self.decoded) % len(self.originals), index % len(self.decoded)
        x, c = self.originals[i], self.decoded[point][i]
        _, h, w = x.shape
        size = min(self.crop, h, w) // 8 * 8
        if self.augment:
            top, left = int(torch.randint(0, h - size + 1, ())), int(torch.randint(0, w - size + 1, ()))
        else:
            top, left = (h - size) // 2, (w - size) // 2
        pair = torch.stack([x, c])[:, :, top : top + size, left : left + size].float() / 255.0
        if self.augment:
            if torch.rand(()) < 0.5:
                pair = pair.flip(3)
            if torch.rand(()) < 0.5:
                pair = pair.flip(2)
        return {"x": pair[0], "c": pair[1], "point": torch.tensor(point)}


class DecodedPairsDataModule(pl.LightningDataModule):
    """Pairs from the rate points of one base family: its shipped files of ``qualities`` or ``model_files``.

    ``equivalent_families`` decode rate point q with the same error as the base family's q (the context models:
    their shipped points carry the hyperprior's transforms of the same λ), so the decoder serves them with the
    same timesteps."""

    def __init__(
        self,
        family: str = "hyperprior",
        qualities: list[int] = (0, 1, 2, 3, 4, 5, 6, 7),
        model_files: list[str] | None = None,
        train_dirs: list[str] = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test"),
        val_dir: str = "../shared/datasets/bsds500/val",
        cache_dir: str = "runs/decoded-cache",
        crop: int = 128,
        batch_size: int = 8,
        samples_per_epoch: int = 8000,
        val_images: int = 16,
        equivalent_families: list[str] = (),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set: DecodedPairsDataset | None = None
        self.val_set: DecodedPairsDataset | None = None
        self.error_variance: dict[str, list[float]] = {}  # σ²(q) on the validation images, [-1, 1] units
        self.point_quality: list[int] = []  # the rate point of each sample's "point" index

    def model_files(self) -> list[str]:
        """One model file per rate point, in the order of ``qualities``."""
        from neuralcodec.codecs.registry import model_path

        hp = self.hparams
        if hp.model_files:
            return list(hp.model_files)
        return [str(model_path(hp.family, int(q))) for q in hp.qualities]

    def setup(self, stage: str | None = None) -> None:
        from neuralcodec.codecs.registry import load_codec

        hp = self.hparams
        if self.train_set is not None:
            return
        files = self.model_files()
        train_files = list_images(hp.train_dirs)
        val_files = list_images([hp.val_dir])[: hp.val_images]
        train = [_load_rgb_uint8(f) for f in train_files]
        val = [_load_rgb_uint8(f) for f in val_files]
        train_decoded = [cached_decodings(m, train_files, train, hp.cache_dir) for m in files]
        val_decoded = [cached_decodings(m, val_files, val, hp.cache_dir) for m in files]
        self.train_set = DecodedPairsDataset(train, train_decoded, hp.crop, hp.samples_per_epoch)
        self.val_set = DecodedPairsDataset(val, val_decoded, 256, len(val) * len(files), augment=False)
        self.point_quality = [load_codec(model_file=m).quality for m in files]
        # σ² per rate point, indexed by the file's quality (a family's points are 0, 1, … in order)
        by_quality: dict[int, float] = {}
        for quality, decoded in zip(self.point_quality, val_decoded, strict=True):
            errors = [((d.float() - o.float()) / 127.5).pow(2).mean() for d, o in zip(decoded, val, strict=True)]
            by_quality[quality] = float(torch.stack(errors).mean())
        if sorted(by_quality) != list(range(len(by_quality))):
            raise ValueError(f"the base rate points must be 0…{len(by_quality) - 1}, got {sorted(by_quality)}")
        variance = [by_quality[q] for q in range(len(by_quality))]
        self.error_variance = {name: list(variance) for name in (hp.family, *hp.equivalent_families)}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=4, shuffle=False)
