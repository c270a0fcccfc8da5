"""Datasets and Lightning data modules."""

from neuralcodec.datasets.image_folder import ImageFolderDataModule, RandomCropDataset, list_images

__all__ = ["ImageFolderDataModule", "RandomCropDataset", "list_images"]
