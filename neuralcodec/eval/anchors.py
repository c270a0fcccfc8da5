"""Classical codecs run live, each measured from the bytes it produces.

| name | library | settings | quality sweep |
|---|---|---|---|
| jpeg | Pillow (libjpeg) | 4:2:0, optimize=True (Huffman tables optimised) | quality 5…95 step 5 |
| webp | Pillow (libwebp) | lossy, method=6 (slowest, best) | quality 5…95 step 10 |
| avif | Pillow (libavif) | 4:2:0, speed=6 | quality 10…90 step 10 |
| avif444 | Pillow (libavif) | 4:4:4, speed=3 (slower, better) | quality 10…90 step 10 |
| x265 | PyAV (libx265) | HEVC intra (keyint=1), 4:4:4 (yuv444p), preset medium, constant QP, no SEI | QP 47…17 step 5 |

x265 intra 4:4:4 is the modern equivalent of BPG.

``NAME@S`` (e.g. ``avif@0.5``) is the anchor on the image downscaled by ``S`` (Lanczos) and upscaled back after
decoding (bicubic): at extreme rates a classical codec does better on fewer pixels. Its bytes start with the
original width and height (2 bytes each), counted in the rate.

Every codec receives the same uint8 RGB image and returns its raw bitstream; the decoder reads only those bytes.
"""

from __future__ import annotations

import fractions
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

JPEG_QUALITIES = list(range(5, 96, 5))


def _to_pil(image: Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())


def _from_pil(img: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(img.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _pillow_codec(fmt: str, **options) -> tuple[Callable, Callable]:
    def encode(image: Tensor, quality: int) -> bytes:
        buf = io.BytesIO()
        _to_pil(image).save(buf, format=fmt, quality=int(quality), **options)
        return buf.getvalue()

    def decode(data: bytes) -> Tensor:
        return _from_pil(Image.open(io.BytesIO(data)))

    return encode, decode


def _x265_encode(image: Tensor, qp: int) -> bytes:
    import av

    _, h, w = image.shape
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w + (w % 2), h + (h % 2), "yuv444p"
    ctx.time_base = fractions.Fraction(1, 25)
    ctx.options = {"preset": "medium", "x265-params": f"qp={int(qp)}:keyint=1:info=0:log-level=error"}
    rgb = image.permute(1, 2, 0).numpy()
    if h % 2 or w % 2:  # x265 needs even sizes: replicate the last row/column, cropped after decoding
        rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv444p")
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    # first 4 bytes: original width and height (2 bytes each), since the stream holds the padded size
    return w.to_bytes(2, "big") + h.to_bytes(2, "big") + b"".join(bytes(p) for p in packets)


def _x265_decode(data: bytes) -> Tensor:
    import av

    w, h = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
    ctx = av.CodecContext.create("hevc", "r")
    frames = []
    for packet in ctx.parse(data[4:]) + ctx.parse(None):
        frames += ctx.decode(packet)
    frames += ctx.decode(None)
    rgb = frames[0].to_ndarray(format="rgb24")[:h, :w]
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class Anchor:
    """A classical codec: default quality sweep, encoder and decoder on bytes."""

    name: str
    description: str
    qualities: list[int]
    encode: Callable[[Tensor, int], bytes]
    decode: Callable[[bytes], Tensor]
    quality_range: tuple[int, int]  # what the encoder accepts (x265: constant QP)


def anchors() -> dict[str, Anchor]:
    """The live anchors by name."""
    jpeg = _pillow_codec("JPEG", subsampling="4:2:0", optimize=True)
    webp = _pillow_codec("WEBP", method=6)
    avif = _pillow_codec("AVIF", subsampling="4:2:0", speed=6)
    avif444 = _pillow_codec("AVIF", subsampling="4:4:4", speed=3)
    return {
        "jpeg": Anchor("jpeg", "JPEG (Pillow/libjpeg, 4:2:0, optimize=True)", JPEG_QUALITIES, *jpeg, (1, 100)),
        "webp": Anchor("webp", "WebP (Pillow/libwebp, method=6)", list(range(5, 96, 10)), *webp, (0, 100)),
        "avif": Anchor("avif", "AVIF (Pillow/libavif, 4:2:0, speed=6)", list(range(10, 91, 10)), *avif, (0, 100)),
        "avif444": Anchor("avif444", "AVIF (Pillow/libavif, 4:4:4, speed=3)", list(range(10, 91, 10)), *avif444,
                          (0, 100)),
        "x265": Anchor("x265", "HEVC intra 4:4:4 (PyAV/libx265, preset medium, constant QP)",
                       list(range(47, 16, -5)), _x265_encode, _x265_decode, (0, 51)),
    }


def _resize(image: Tensor, width: int, height: int, method: Image.Resampling) -> Tensor:
    return _from_pil(_to_pil(image).resize((width, height), method))


def scaled(anchor: Anchor, scale: float) -> Anchor:
    """``anchor`` on the image downscaled by ``scale`` (0 < scale < 1) and upscaled back after decoding."""
    if not 0.0 < scale < 1.0:
        raise ValueError(f"an anchor's scale must be in (0, 1), got {scale}")

    def encode(image: Tensor, quality: int) -> bytes:
        _, h, w = image.shape
        small = _resize(image, max(2, round(w * scale)), max(2, round(h * scale)), Image.Resampling.LANCZOS)
        return w.to_bytes(2, "big") + h.to_bytes(2, "big") + anchor.encode(small, quality)

    def decode(data: bytes) -> Tensor:
        w, h = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
        return _resize(anchor.decode(data[4:]), w, h, Image.Resampling.BICUBIC)

    return Anchor(f"{anchor.name}@{scale:g}", f"{anchor.description}, downscaled ×{scale:g} and upscaled back",
                  anchor.qualities, encode, decode, anchor.quality_range)


def anchor_by_name(name: str) -> Anchor:
    """A live anchor by name, ``NAME@SCALE`` for its downscaled variant; ``ValueError`` if unknown."""
    base, _, scale = name.partition("@")
    known = anchors()
    if base not in known:
        raise ValueError(f"unknown anchor '{base}' (anchors: {', '.join(known)})")
    if not scale:
        return known[base]
    try:
        factor = float(scale)
    except ValueError:
        raise ValueError(f"anchor scale must be a number: '{name}'") from None
    return scaled(known[base], factor)


def jpeg_roundtrip(image: Tensor, quality: int) -> tuple[bytes, Tensor]:
    """JPEG bytes of a uint8 RGB tensor and their decoded image (Pillow, 4:2:0, optimize=True)."""
    jpeg = anchors()["jpeg"]
    data = jpeg.encode(image, quality)
    return data, jpeg.decode(data)
