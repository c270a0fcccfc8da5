"""Video ⇄ container bytes (the ``nerv`` family): what ``codec encode``/``decode`` do with a clip.

Decoding imports only the exact runtime (:mod:`neuralcodec.codecs.nerv.codec`); encoding fits a network to the
clip and so imports :mod:`neuralcodec.training.nerv_fit` (Lightning) when called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralcodec.bitstream import Header, pack, unpack
from neuralcodec.bitstream.container import COLOUR_FORMATS, MAX_FPS_TERM
from neuralcodec.codecs.registry import family_of_id, get_family
from neuralcodec.errors import DecodeError, InputError
from neuralcodec.video_io import read_video_rgb

DEFAULT_VIDEO_CODEC = "nerv"
DEFAULT_EPOCHS = 300
COLOUR_FORMAT_IDS = {name: i for i, name in COLOUR_FORMATS.items()}


@dataclass
class EncodedVideo:
    """A finished video bitstream and facts about its fit."""

    data: bytes
    header: Header
    fit_seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True  # False in the other processes of a multi-process (DDP) fit


def _fps_fraction(fps: Fraction) -> tuple[int, int]:
    f = Fraction(fps).limit_denominator(1001)
    if f <= 0 or f.numerator > MAX_FPS_TERM:
        raise InputError(f"frame rate {float(fps):g} is outside what the container stores")
    return f.numerator, f.denominator


def encode_frames(frames: np.ndarray, fps: Fraction, quality: int | None = None, epochs: int | None = None,
                  time_budget: float | None = None, colour_format: str = "rgb", checkpoint: Path | None = None,
                  report: Callable[[dict[str, float]], None] | None = None, seed: int = 0,
                  trainer_args: dict[str, Any] | None = None) -> EncodedVideo:
    """Code uint8 (T, H, W, 3) frames: fit a network, quantize it, write its streams into a container."""
    from neuralcodec.codecs.nerv.codec import quantized_layers, streams_hash, write_streams
    from neuralcodec.codecs.nerv.net import arch_for
    from neuralcodec.codecs.nerv.qualities import QUALITIES
    from neuralcodec.training.nerv_fit import fit_clip

    family = get_family(DEFAULT_VIDEO_CODEC)
    quality = family.default_quality if quality is None else quality
    if quality not in family.qualities:
        raise InputError(f"{family.name} quality must be one of {', '.join(map(str, family.qualities))} "
                         f"(got {quality})")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise InputError("frames must be a non-empty uint8 array (T, H, W, 3)")
    if epochs is not None and epochs < 1:
        raise InputError("--epochs must be at least 1")
    if time_budget is not None and time_budget <= 0:
        raise InputError("--time-budget must be positive")
    count, height, width = frames.shape[:3]
    fps_num, fps_den = _fps_fraction(fps)
    header = Header(family_id=family.family_id, model_id=0, rate_point=quality, weights_hash=b"\0" * 4,
                    height=height, width=width, channels=3, bit_depth=8, frames=count, fps_num=fps_num,
                    fps_den=fps_den, colour_format=COLOUR_FORMAT_IDS[colour_format])
    try:
        header.check()
    except DecodeError as exc:
        raise InputError(str(exc)) from None
    arch = arch_for(height, width, count, quality)
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
    net, seconds, is_global_zero = fit_clip(clip, arch, epochs=epochs or DEFAULT_EPOCHS, time_budget=time_budget,
                            lmbda=QUALITIES[quality].lmbda, seed=seed, checkpoint=checkpoint, report=report,
                            trainer_args=trainer_args)
    streams = write_streams(arch, quantized_layers(net))
    header = Header(**{**header.__dict__, "weights_hash": streams_hash(streams)})
    data = pack(header, family.chunks_from_streams(streams))
    return EncodedVideo(data, header, seconds, {"parameters": sum(p.numel() for p in net.parameters())},
                        is_global_zero)


def encode_video(path: str | Path, quality: int | None = None, epochs: int | None = None,
                 time_budget: float | None = None, size: tuple[int, int] | None = None, fps: float | None = None,
                 max_frames: int | None = None, checkpoint: Path | None = None,
                 report: Callable[[dict[str, float]], None] | None = None, seed: int = 0,
                 trainer_args: dict[str, Any] | None = None) -> EncodedVideo:
    """Read a clip (Y4M, raw YUV, anything PyAV opens, a PNG-frame folder) and code it."""
    frames, info = read_video_rgb(path, size=size, fps=fps, max_frames=max_frames)
    colour = "rgb" if info.source_format == "png" else "yuv420"
    return encode_frames(frames, info.fps, quality, epochs, time_budget, colour, checkpoint, report, seed,
                         trainer_args)


def video_decoder(data: bytes, max_pixels: int | None = None,
                  max_samples: int | None = None) -> tuple[Header, Any]:
    """Header and exact decoder of a video container (``DecodeError`` if it is not one).

    For untrusted input, ``max_pixels`` (per frame) and ``max_samples`` (frames × pixels) lower the format's
    limits before any work: decoding time grows with both.
    """
    header, chunks = unpack(data)
    if not header.is_video:
        raise DecodeError("this bitstream holds an image, not a video")
    pixels = header.width * header.height
    if max_pixels is not None and pixels > max_pixels:
        raise DecodeError(f"frames of {header.width}×{header.height} exceed the limit of {max_pixels} pixels")
    if max_samples is not None and pixels * header.frames > max_samples:
        raise DecodeError(f"{header.frames} frames of {header.width}×{header.height} exceed the limit of "
                          f"{max_samples} pixels in all")
    family = family_of_id(header.family_id)
    if family.media != "video":
        raise DecodeError(f"{family.name} bitstreams are images, but the header claims a video")
    if header.model_id != 0:
        raise DecodeError(f"{family.name} model id {header.model_id} is unknown to this build (it reads 0)")
    streams = family.streams_from_chunks(chunks)
    from neuralcodec.codecs.nerv.codec import streams_hash

    if streams_hash(streams) != header.weights_hash:
        raise DecodeError("video bitstream's weights hash does not match its streams")
    decoder = family.load_streams(streams, header.height, header.width, header.frames)
    padded = (decoder.arch.grid[0] * decoder.arch.stride) * (decoder.arch.grid[1] * decoder.arch.stride)
    if max_pixels is not None and padded > max_pixels:  # the network computes the padded frame
        raise DecodeError(f"frames of {header.width}×{header.height} ({padded} pixels after padding) exceed the "
                          f"limit of {max_pixels} pixels")
    if max_samples is not None and padded * header.frames > max_samples:
        raise DecodeError(f"{header.frames} frames of {padded} pixels after padding exceed the limit of "
                          f"{max_samples} pixels in all")
    return header, decoder


def decode_video(data: bytes, max_pixels: int | None = None,
                 max_samples: int | None = None) -> tuple[Header, Iterator[Tensor]]:
    """Header and every frame (uint8 (3, H, W), in order, generated one batch at a time)."""
    header, decoder = video_decoder(data, max_pixels, max_samples)
    return header, decoder.frames()
