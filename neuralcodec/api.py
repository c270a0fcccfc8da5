"""The library API: images in, bytes out, and back (what ``codec encode`` / ``codec decode`` do, in memory).

    import neuralcodec
    data = neuralcodec.encode("photo.png", quality=5)    # bytes of a .bin file
    image = neuralcodec.decode(data)                       # PIL.Image
    image.save("photo-decoded.png")

Errors: :class:`~neuralcodec.errors.InputError` (unreadable image or invalid argument),
:class:`~neuralcodec.errors.ModelError` (unknown codec, rate point or missing model file),
:class:`~neuralcodec.errors.DecodeError` (malformed bitstream or one made by other weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuralcodec.codecs.registry import DEFAULT_CODEC
from neuralcodec.errors import InputError

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from neuralcodec.image_io import ImageInfo


def _as_image(image: Any) -> tuple[Tensor, ImageInfo]:
    """uint8 RGB tensor (3, H, W) and what the header records, from a path, PIL image, array or tensor."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    from neuralcodec.image_io import image_from_pil, read_image

    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, PILImage.Image):
        return image_from_pil(image)
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8:
            raise InputError(f"tensor images must be uint8 (got {image.dtype})")
        array = image.numpy()
        channels_first = True
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise InputError(f"array images must be uint8 (got {image.dtype})")
        array, channels_first = image, False
    else:
        raise InputError(f"cannot encode a {type(image).__name__}: give a path, PIL image, numpy array or tensor")
    if array.ndim == 2:
        array = array[None] if channels_first else array[:, :, None]
    if array.ndim != 3:
        raise InputError(f"image must be H×W or {'3×H×W' if channels_first else 'H×W×3'} (got shape {array.shape})")
    hwc = np.moveaxis(array, 0, -1) if channels_first else array
    if hwc.shape[2] not in (1, 3, 4):
        raise InputError(f"image must have 1, 3 or 4 channels (got {hwc.shape[2]})")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[hwc.shape[2]]
    return image_from_pil(PILImage.fromarray(np.ascontiguousarray(hwc if mode != "L" else hwc[:, :, 0]), mode))


def load_codec(codec: str = DEFAULT_CODEC, quality: int | None = None, model: str | Path | None = None) -> Any:
    """A loaded codec: a shipped rate point of ``codec``, or the model file ``model``."""
    from neuralcodec.codecs.registry import load_codec as _load

    return _load(codec, quality, model)


def encode(image: Any, codec: str = DEFAULT_CODEC, quality: int | None = None,
           model: str | Path | None = None, **options: Any) -> bytes:
    """The bytes of a ``.bin`` file for ``image`` (a path, PIL image, uint8 numpy H×W[×C] or tensor [C×]H×W).

    ``quality`` picks a shipped rate point (default: the family's default); ``model`` a model file instead.
    ``options`` are a fitted family's encode options, e.g. for ``codec="coolchic"``: ``preset="fast"``,
    ``iterations=500``, ``time_budget=60``, and ``report`` (a callable receiving the fit's progress).
    """
    from neuralcodec.codecs.registry import get_family
    from neuralcodec.coding import encode_fitted_tensor, encode_tensor

    if model is not None and quality is not None:
        raise InputError("give either quality or model: a model file is one rate point")
    tensor, info = _as_image(image)
    if get_family(codec).kind == "fitted":
        if model is not None:
            raise InputError(f"{codec} fits its model to each image: it takes no model file")
        report = options.pop("report", None)
        return encode_fitted_tensor(tensor, info, codec, quality, options, report=report).data
    if options:
        raise InputError(f"{', '.join(sorted(options))}: not an option of {codec}")
    return encode_tensor(tensor, info, load_codec(codec, quality, model)).data


def decode(data: bytes, model: str | Path | None = None, **options: Any) -> Image.Image:
    """The decoded image of a ``.bin`` file's bytes (grayscale originals come back as mode ``L``; the
    original's ICC profile, if it had one, is in ``info["icc_profile"]`` and ``save`` writes it).

    ``options`` choose the decoder and its settings, as on the command line: ``decoder="diffusion"`` with
    ``steps`` (1–4), ``strength`` (0–1), ``seed`` and ``decoder_model`` (a model file), and the family's own
    options, e.g. for ``vq`` files ``drop_rate=0.2, seed=1`` (simulate losing 20 % of the indices and restore
    them) and ``recovery="nearest"``."""
    from neuralcodec.coding import decode_bytes
    from neuralcodec.image_io import to_pil

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"decode takes the bytes of a .bin file, not a {type(data).__name__}")
    tensor, header = decode_bytes(bytes(data), model, options=options)
    return to_pil(tensor, header.channels, header.icc_profile)
