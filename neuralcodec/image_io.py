"""Reading images into the codecs' input form and writing reconstructions, atomically.

Conversion rule (documented in README "Input images"): every input is coded as 8-bit RGB.
- the EXIF orientation tag is applied first, so the image is coded as a viewer shows it;
- of an animated or multi-page file only the first frame is coded (with an ``InputWarning``);
- grayscale (1, L, I;16, I, F) is replicated to R = G = B and decoded back to grayscale (ITU-R 601 luma);
- palette images are expanded to their colours; CMYK, YCbCr, LAB, HSV are converted to RGB;
- an alpha channel (RGBA, LA, PA, transparent palettes) is not coded: the decoded image is opaque;
- 16-bit grayscale samples are reduced to 8 bits with rounding (v · 255 / 65535); 16-bit RGB keeps the high
  byte of each sample (Pillow's reading); 32-bit integer grayscale is read as 16-bit samples (clipped to
  0…65535); float grayscale is taken as 0…255 values, clipped and rounded. The header keeps the original
  channel count and bit depth (8 or 16) so ``codec info`` reports them;
- an ICC colour profile is kept: the container stores it and the decoded image carries it again.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:  # torch loads only when pixels become tensors: early checks stay fast
    from torch import Tensor

from neuralcodec.bitstream import MAX_PIXELS, MAX_SIDE
from neuralcodec.errors import InputError

# Suffixes of the image files folders are scanned for (batch encoding, training data).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})


class InputWarning(UserWarning):
    """Something about an input the user should know (the CLI prints it as ``codec: warning: …``)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header records of the original image."""

    channels: int  # 1, 3 or 4
    bit_depth: int  # 8 or 16
    icc_profile: bytes = b""  # the original's colour profile, empty if none
    alpha: bytes = b""  # the original's alpha plane as a greyscale PNG (lossless), empty if it had none


_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def _source_bit_depth(img: Image.Image) -> int:
    """16 for 16/32-bit sources: grey modes say so; 16-bit RGB files open as 8-bit "RGB" whose raw
    (on-disk) mode, e.g. ``RGB;16B`` for PNG, still does."""
    if img.mode in _SIXTEEN_BIT_MODES:
        return 16
    for tile in getattr(img, "tile", None) or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return 16
    return 8


def _to_uint8_grey(img: Image.Image) -> np.ndarray:
    if img.mode in _SIXTEEN_BIT_MODES:
        v = np.clip(np.asarray(img, dtype=np.float64), 0, 65535)  # 32-bit "I": read as 16-bit samples
        return np.clip(np.round(v * 255.0 / 65535.0), 0, 255).astype(np.uint8)
    if img.mode == "F":
        return np.clip(np.round(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L"))


def check_input_file(path: str | Path, what: str = "an image") -> Path:
    """``InputError`` unless ``path`` is an existing, non-empty file (cheap: before any model loads)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not {what}: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty: {path}")
    return path


def read_image(path: str | Path) -> tuple[Tensor, ImageInfo]:
    """uint8 RGB tensor (3, H, W) and the original's channels / bit depth; ``InputError`` if unreadable."""
    path = check_input_file(path)
    return _read_image(str(path), path)


def read_image_bytes(data: bytes, name: str = "<stdin>") -> tuple[Tensor, ImageInfo]:
    """``read_image`` of an image file's bytes (e.g. read from stdin); ``name`` stands for it in messages."""
    import io

    if not data:
        raise InputError(f"input is empty: {name}")
    return _read_image(name, io.BytesIO(data))


def _read_image(path: str, source: Path | IO[bytes]) -> tuple[Tensor, ImageInfo]:
    """What ``read_image`` and ``read_image_bytes`` share: ``path`` names the image, ``source`` holds it."""
    try:
        with Image.open(source) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1:  # animated GIF / APNG / WebP, multi-page TIFF
                warnings.warn(f"{path} has {frames} frames: coding the first one only", InputWarning, stacklevel=3)
            bit_depth = _source_bit_depth(img)  # before loading: the raw mode is gone afterwards
            # a phone photo stored sideways with an EXIF orientation tag is coded as viewers show it
            return _from_pil(ImageOps.exif_transpose(img), str(path), bit_depth)
    except InputError:
        raise
    except UnidentifiedImageError:  # its message names Pillow's source object, not the user's file
        raise InputError(f"cannot read {path} as an image: not an image format this build reads") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read {path} as an image: {exc}") from None


def image_from_pil(img: Image.Image) -> tuple[Tensor, ImageInfo]:
    """uint8 RGB tensor (3, H, W) and channels / bit depth of an in-memory PIL image (same rules as files)."""
    try:
        return _from_pil(img, "image")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot convert the image: {exc}") from None


def _from_pil(img: Image.Image, name: str, bit_depth: int | None = None) -> tuple[Tensor, ImageInfo]:
    width, height = img.size
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise InputError(f"{name}: {width}×{height} exceeds the supported size "
                         f"({MAX_SIDE} per side, {MAX_PIXELS} pixels)")
    mode = img.mode
    has_alpha = "A" in mode or (mode == "P" and "transparency" in img.info)
    bit_depth = bit_depth or _source_bit_depth(img)
    icc_profile = img.info.get("icc_profile") or b""
    alpha = _alpha_png(img) if has_alpha else b""  # b"" also for an alpha that is opaque everywhere
    if mode in _GREY_MODES:
        grey = _to_uint8_grey(img)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        channels = 1
    else:
        rgb = np.asarray(img.convert("RGB"))
        channels = 4 if has_alpha else 3
    import torch

    tensor = torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()
    return tensor, ImageInfo(channels=channels, bit_depth=bit_depth, icc_profile=bytes(icc_profile), alpha=alpha)


def _alpha_png(img: Image.Image) -> bytes:
    """An image's alpha plane (8 bits) as PNG bytes: lossless, and tiny where the alpha is flat; empty where it
    is opaque everywhere."""
    import io

    plane = (img if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") else img.convert("RGBA")).getchannel("A")
    if plane.getextrema() == (255, 255):  # opaque everywhere: nothing to keep (screenshots often say RGBA)
        return b""
    buf = io.BytesIO()
    plane.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def alpha_plane(alpha: bytes, width: int, height: int) -> Image.Image:
    """The alpha plane (mode L) a header carries; ``DecodeError`` if it is not a PNG of the image's size."""
    import io

    from neuralcodec.errors import DecodeError

    try:
        with Image.open(io.BytesIO(alpha), formats=["PNG"]) as plane:
            if plane.size != (width, height) or plane.mode != "L":
                raise DecodeError(f"alpha plane of {plane.size[0]}×{plane.size[1]} ({plane.mode}) does not fit a "
                                  f"{width}×{height} image")
            plane.load()
            return plane.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"damaged alpha plane: {exc}") from None


def to_pil(image: Tensor, channels: int = 3, icc_profile: bytes = b"", alpha: bytes = b"") -> Image.Image:
    """PIL image from a uint8 (3, H, W) tensor; grayscale originals come back as mode L (LA with alpha), colour
    ones as RGB (RGBA with alpha); the original's ICC profile (if any) is attached as ``info["icc_profile"]``,
    which Pillow writes into PNG, TIFF, JPEG, WebP and AVIF."""
    pil = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())  # HxWx3 uint8 → RGB
    if channels == 1:
        pil = pil.convert("L")
    if alpha:
        pil.putalpha(alpha_plane(alpha, pil.width, pil.height))
    if icc_profile:
        pil.info["icc_profile"] = icc_profile
    return pil


_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: mkstemp's files are 0600, outputs should follow the umask
TEMP_MARK = ".codec-"  # temporary files are ".<name>.codec-XXXX.part" beside their target


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporary files a killed run left in ``folder`` (never complete outputs); returns the count."""
    stale = list(Path(folder).glob(f".*{TEMP_MARK}*.part"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def output_target(path: Path) -> Path:
    """The file an output is written to: a symbolic link's final target (the link itself is kept), else ``path``.

    As the kernel's ``protected_symlinks`` does for ``open``, a link in a shared sticky folder (``/tmp``) is
    followed only when it belongs to the user or to the folder's owner: another user's planted link must not make
    an output replace a file of ours elsewhere."""
    if not path.is_symlink():
        return path
    try:
        folder, link = os.stat(path.parent), os.lstat(path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    if shared and link.st_uid not in (os.geteuid(), folder.st_uid):
        raise InputError(f"refusing to write through {path}: a symbolic link of another user in a shared folder")
    return Path(os.path.realpath(path))


def is_special_output(path: Path) -> bool:
    """Whether ``path`` (links followed, so ``/dev/stdout`` is the pipe or terminal behind it) exists as something
    other than a regular file or folder: a character device such as ``/dev/null``, a FIFO, a socket. Such outputs
    are written through, never renamed over."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def temp_file_beside(path: Path) -> tuple[int, Path]:
    """An open temporary file (descriptor, path) for an output, completed with :func:`commit_temporary`.

    Beside the file written (a symbolic link's target), with the mode that file has or would get, so the commit is
    one rename; for a device or FIFO it lies in the system's temporary folder, and the commit copies it through.
    ``InputError`` (one line, naming ``path``) if ``path`` cannot be written."""
    special = is_special_output(path)
    target = path if special else output_target(path)
    if not special and not target.parent.is_dir():
        raise InputError(f"output folder does not exist: {target.parent}")
    if target.is_dir():
        raise InputError(f"output is a folder: {path}")
    if target.exists() and not special and not target.stat().st_mode & 0o222:  # mode bits: root may write all
        raise InputError(f"output is read-only, not replaced: {path}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}", suffix=".part",
                                   dir=None if special else target.parent)
    except OSError as exc:  # name the user's file, not the temporary
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if special:
        return fd, Path(tmp)
    try:
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_UMASK)
    except OSError as exc:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return fd, Path(tmp)


def commit_temporary(tmp: Path, path: Path) -> None:
    """Complete an output written to ``tmp`` (from :func:`temp_file_beside`): renamed over a regular file (or a
    symbolic link's target, keeping the link), copied into a device or FIFO. ``tmp`` is gone afterwards."""
    try:
        if is_special_output(path):
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(tmp)
        else:
            os.replace(tmp, output_target(path))
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path`` when complete.

    A reader (or a crash) never sees a half-written ``path``; an existing file is replaced only by a
    complete new one. A symbolic link keeps being a link (its target is replaced); a device or FIFO
    (``/dev/null``, ``/dev/stdout``) is written straight through.
    """
    path = Path(path)
    if is_special_output(path):
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:  # e.g. a full disk: name the user's file, not the temporary
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    commit_temporary(tmp, path)


def output_format(path: str | Path) -> str:
    """The Pillow format a reconstruction is written in: by suffix, PNG without one; ``InputError`` for a
    suffix Pillow cannot write."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "PNG"
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise InputError(f"cannot write {suffix} images: {Path(path).name} (use .png, .tif, .webp, .jpg, .bmp, …)")
    return fmt


_ICC_FORMATS = frozenset({"PNG", "TIFF", "JPEG", "WEBP", "AVIF"})  # Pillow writers that embed an ICC profile
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP", "AVIF"})  # formats that keep an alpha channel


def encode_image_bytes(image: Image.Image, path: str | Path) -> bytes:
    """The bytes of ``image`` in the format named by ``path``'s suffix (PNG without one)."""
    import io

    fmt = output_format(path)
    buf = io.BytesIO()
    name = Path(path).name
    if image.mode in ("RGBA", "LA") and fmt not in _ALPHA_FORMATS:
        warnings.warn(f"{name}: {fmt} has no alpha channel: the image's alpha is dropped (write .png, .webp, .tif "
                      "or .avif to keep it)", InputWarning, stacklevel=2)
        profile = image.info.get("icc_profile")
        image = image.convert(image.mode[:-1])
        if profile:
            image.info["icc_profile"] = profile
    if image.info.get("icc_profile") and fmt not in _ICC_FORMATS:
        warnings.warn(f"{name}: {fmt} holds no colour profile: the image's ICC profile is dropped", InputWarning,
                      stacklevel=2)
    extra = {"icc_profile": image.info["icc_profile"]} if image.info.get("icc_profile") and fmt in _ICC_FORMATS else {}
    try:
        image.save(buf, format=fmt, **extra)
    except (KeyError, OSError, ValueError) as exc:
        raise InputError(f"cannot write {Path(path).name} as {fmt}: {exc}") from None
    return buf.getvalue()


def write_image(image: Tensor, path: str | Path, channels: int = 3, icc_profile: bytes = b"",
                alpha: bytes = b"") -> None:
    """Save a reconstruction atomically, in the format of the file suffix (PNG by default), with the
    original's ICC profile and alpha plane where the format can hold them."""
    atomic_write(path, encode_image_bytes(to_pil(image, channels, icc_profile, alpha), path))
