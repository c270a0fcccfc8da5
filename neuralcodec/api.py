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

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from neuralcodec.codecs.registry import DEFAULT_CODEC
from neuralcodec.errors import InputError, NeuralCodecError

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from neuralcodec.image_io import ImageInfo


# what encode() takes as an image, and decode() as a file
IMAGE_KINDS = ("a path, the bytes or a binary file object of an image file, a PIL image, or a numpy array or torch "
               "tensor (uint8 0–255 or float 0–1) laid out H×W, H×W×C or C×H×W with C = 1, 3 or 4")


def _python_words(exc: NeuralCodecError) -> NeuralCodecError:
    """The same error in a caller's words: ``--decoder-model FILE`` → ``decoder_model=...``, ``--steps`` →
    ``steps``, ``'codec decode FILE --decoder X'`` → ``decode(data, decoder='X')`` (the library's messages are
    written for the command line, which most users see)."""
    text = re.sub(r"'codec decode FILE --decoder (\w+)'", r"decode(data, decoder='\1')", str(exc))
    text = re.sub(r"--([a-z][a-z0-9-]*) [A-Z]+\b", lambda m: m.group(1).replace("-", "_") + "=...", text)
    text = re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), text)
    return type(exc)(text)


def _layout(shape: tuple[int, ...], layout: str | None) -> str:
    """"hwc" or "chw" for a 3-D array: given, or told by where a channel count (1, 3, 4) is."""
    if layout is not None:
        if layout not in ("hwc", "chw"):
            raise InputError(f"layout must be 'hwc' or 'chw', not {layout!r}")
        return layout
    first, last = shape[0] in (1, 3, 4), shape[-1] in (1, 3, 4)
    if first and last:
        raise InputError(f"an array of shape {tuple(shape)} could be C×H×W or H×W×C: pass layout='chw' or 'hwc'")
    if not (first or last):
        raise InputError(f"an array of shape {tuple(shape)} has no axis of 1, 3 or 4 channels")
    return "chw" if first else "hwc"


def _to_uint8(array: Any) -> Any:
    """uint8 pixels from uint8 (as they are) or float (0–1) values; anything else is refused."""
    import numpy as np

    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise InputError("a float image must hold values from 0 to 1 (got "
                             f"{np.nanmin(array):g} … {np.nanmax(array):g})")
        return np.round(array * 255).astype(np.uint8)
    raise InputError(f"image arrays must be uint8 (0–255) or float (0–1), not {array.dtype}")


def _as_image(image: Any, layout: str | None = None) -> tuple[Tensor, ImageInfo]:
    """uint8 RGB tensor (3, H, W) and what the header records, from anything :data:`IMAGE_KINDS` names."""
    import numpy as np
    from PIL import Image as PILImage

    from neuralcodec.image_io import image_from_pil, read_image, read_image_bytes

    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return read_image_bytes(bytes(image), "<bytes>")
    if hasattr(image, "read"):
        data = image.read()
        if not isinstance(data, bytes):
            raise InputError("a file object must be opened in binary mode ('rb')")
        return read_image_bytes(data, getattr(image, "name", "<file object>"))
    if isinstance(image, PILImage.Image):
        return image_from_pil(image)
    if type(image).__module__.startswith("torch") and hasattr(image, "detach"):
        tensor = image.detach().cpu()
        array = (tensor.float() if tensor.is_floating_point() else tensor).numpy()  # bfloat16 has no numpy twin
    else:
        array = image if isinstance(image, np.ndarray) else None
    if array is None:
        raise InputError(f"cannot encode a {type(image).__name__}: give {IMAGE_KINDS}")
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim != 3:
        raise InputError(f"an image array has 2 or 3 axes (H×W, H×W×C or C×H×W), not shape {tuple(array.shape)}")
    elif _layout(array.shape, layout) == "chw":
        array = np.moveaxis(array, 0, -1)
    hwc = _to_uint8(array)
    if hwc.shape[2] not in (1, 3, 4):
        raise InputError(f"an image has 1, 3 or 4 channels, not {hwc.shape[2]}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[hwc.shape[2]]
    return image_from_pil(PILImage.fromarray(np.ascontiguousarray(hwc if mode != "L" else hwc[:, :, 0]), mode))


def _file_bytes(data: Any) -> bytes:
    """The bytes of a ``.bin`` file given as bytes, a path or a binary file object."""
    from neuralcodec.image_io import check_input_file

    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, Path)):
        return check_input_file(data, "a bitstream").read_bytes()
    if hasattr(data, "read"):
        blob = data.read()
        if not isinstance(blob, bytes):
            raise InputError("a file object must be opened in binary mode ('rb')")
        return blob
    raise InputError(f"decode takes a .bin file's bytes, its path or a binary file object, not a "
                     f"{type(data).__name__}")


def load_codec(codec: str = DEFAULT_CODEC, quality: int | None = None, model: str | Path | None = None) -> Any:
    """A loaded codec: a shipped rate point of ``codec``, or the model file ``model``."""
    from neuralcodec.codecs.registry import load_codec as _load

    return _load(codec, quality, model)


def encode(image: Any, codec: str | None = None, quality: int | None = None,
           model: str | Path | None = None, layout: str | None = None, **options: Any) -> bytes:
    """The bytes of a ``.bin`` file for ``image``: a path, the bytes or a binary file object of an image file, a
    PIL image, or a numpy array or torch tensor of uint8 (0–255) or float (0–1) pixels, H×W, H×W×C or C×H×W
    with C = 1, 3 or 4 (the axis of size 1, 3 or 4 is the channels; ``layout="hwc"`` or ``"chw"`` says which
    where both ends could be, e.g. a 3×4×3 array).

    ``codec`` is a family name (default: the model file's family with ``model``, else the default codec);
    ``quality`` picks a shipped rate point (default: the family's default); ``model`` a model file instead.
    ``options`` are a fitted family's encode options, e.g. for ``codec="coolchic"``: ``preset="fast"``,
    ``iterations=500``, ``time_budget=60``, and ``report`` (a callable receiving the fit's progress).
    """
    from neuralcodec.codecs.registry import get_family
    from neuralcodec.coding import encode_fitted_tensor, encode_tensor

    if model is not None and quality is not None:
        raise InputError("give either quality or model: a model file is one rate point")
    named, codec = codec, codec or DEFAULT_CODEC
    try:
        family = get_family(codec)
        if family.kind == "fitted":
            if model is not None:
                raise InputError(f"{codec} fits its model to each image: it takes no model file")
            unknown = sorted(set(options) - {o.name for o in family.encode_options} - {"report"})
            if unknown:
                raise InputError(f"{', '.join(unknown)}: not an option of {codec} (it takes "
                                 f"{', '.join(o.name for o in family.encode_options)}, report)")
        elif options:
            raise InputError(f"{', '.join(sorted(options))}: not an option of {codec} (it has no encode options)")
        tensor, info = _as_image(image, layout)
        if family.kind == "fitted":
            report = options.pop("report", None)
            return encode_fitted_tensor(tensor, info, codec, quality, options, report=report).data
        codec_model = load_codec(codec, quality, model)
        if model is not None and named is not None and codec_model.family.name != named:
            raise InputError(f"model file {Path(model).name} holds a {codec_model.family.name} model, not {codec}")
        return encode_tensor(tensor, info, codec_model).data
    except NeuralCodecError as exc:
        raise _python_words(exc) from None


def decode(data: bytes | str | Path | BinaryIO, model: str | Path | None = None, **options: Any) -> Image.Image:
    """The decoded image of a ``.bin`` file (its bytes, its path or a binary file object; grayscale originals
    come back as mode ``L``; the original's ICC profile, if it had one, is in ``info["icc_profile"]`` and
    ``save`` writes it).

    ``options`` choose the decoder and its settings, as on the command line: ``decoder="diffusion"`` with
    ``steps`` (1–4), ``strength`` (0–1), ``seed`` and ``decoder_model`` (a model file), and the family's own
    options, e.g. for ``vq`` files ``drop_rate=0.2, seed=1`` (simulate losing 20 % of the indices and restore
    them) and ``recovery="nearest"``."""
    from neuralcodec.coding import decode_bytes
    from neuralcodec.image_io import to_pil

    try:
        tensor, header = decode_bytes(_file_bytes(data), model, options=options)
    except NeuralCodecError as exc:
        raise _python_words(exc) from None
    return to_pil(tensor, header.channels, header.icc_profile, header.alpha)
