"""``codec eval-video``: clips coded by our video codec and live anchors, every point measured on the same frames.

| name | library | settings | default sweep |
|---|---|---|---|
| x264-medium | PyAV (libx264) | H.264, preset medium, CRF, yuv420p 8-bit | CRF 22…47 step 5 |
| x264-veryslow | PyAV (libx264) | H.264, preset veryslow, CRF, yuv420p 8-bit | CRF 22…47 step 5 |
| x265-medium | PyAV (libx265) | HEVC, preset medium, CRF, yuv420p 8-bit, ``info=0`` | CRF 22…47 step 5 |
| x265-veryslow | PyAV (libx265) | HEVC, preset veryslow, CRF, yuv420p 8-bit, ``info=0`` | CRF 22…47 step 5 |
| hyperprior-intra | neuralcodec | every frame coded as an image (all-intra learned baseline) | shipped points 0…7 |
| nerv | neuralcodec | ``video_coding.encode_frames``: a network fitted to the clip | qualities 0…3 |

x264 / x265 otherwise run with the encoders' defaults: GOP (keyint) 250, B-frames, reference frames, lookahead
and motion search as the preset sets them, no tune, threads chosen by the encoder; ``info=0`` only keeps x265
from writing its version SEI. Frames are fed as the reference YUV 4:2:0 planes (below), with pts 0, 1, … at the
clip's rate. nerv fits for ``epochs`` (default 300) or ``time_budget`` seconds.

Bytes (what bpp = bytes × 8 / (W · H · frames) and bitrate = bytes × 8 · fps / frames / 1000 kbit/s count):

- x264 / x265: the raw Annex-B elementary stream, written in memory, never a container file (an mp4 adds
  ~1 kB of boxes that are no part of the codec). The one SEI message x264 always writes, its version and
  options string (user data unregistered, ~0.7 kB, no picture information), is removed; x265 writes none
  (``info=0``). The stream is decoded from exactly the bytes counted;
- hyperprior-intra: the sum over frames of each frame's container file (header included);
- nerv: the whole container file (header included).

x264 / x265 need an even width and height in 4:2:0: an odd frame is padded by repeating its last row / column
(the chroma planes of an odd frame already have the padded size), and the padding is cropped after decoding.
Its bits are counted, the pixels are not.

Metrics (per frame, then averaged over frames, as CompressAI's video ``eval_model`` does):

- ``psnr-y``, ``psnr-u``, ``psnr-v``: PSNR (peak 255) of each 8-bit 4:2:0 plane. The reference planes are the
  source's own when the source is YUV (.y4m, .yuv, a 4:2:0 container), else ``rgb_to_yuv420`` of its RGB
  frames. Decoded planes are the codec's own for x264 / x265 (they code YUV 4:2:0 directly), and
  ``rgb_to_yuv420`` of the decoded RGB for the codecs that output RGB (nerv, hyperprior-intra);
- ``psnr-yuv`` = (6 · psnr-y + psnr-u + psnr-v) / 8 of each frame (the JCT-VC / JVET weighting), averaged over
  frames. (CompressAI's video ``eval_model`` also combines per-frame PSNRs and averages over frames, but
  weights them (4 · Y + U + V) / 6; its x264 / x265 ``bench`` averages each plane's MSE over frames before
  taking PSNR. Compare psnr-yuv across sources only when they say which they used.);
- ``psnr-rgb`` and ``ms-ssim-rgb`` (``eval.metrics``): against the source's RGB frames (``yuv420_to_rgb`` of
  the YUV planes for a YUV source); decoded RGB is ``yuv420_to_rgb`` of the planes for x264 / x265.
  MS-SSIM is ``None`` for frames under 161 px a side;
- ``encode_seconds``: wall time of the whole encode of the clip at that point (for nerv: the fit, quantization
  and stream writing); ``decode_fps``: frames / wall time of decoding from the counted bytes, metrics and
  colour conversions for measuring excluded.

Several clips: each metric is averaged over clips per rate point (bpp too: the mean of the clips' bpp, as
CompressAI averages its per-sequence bitrates).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neuralcodec.errors import InputError
from neuralcodec.video_io import (
    VIDEO_SUFFIXES,
    chroma_size,
    find_uvg_sequences,
    open_video,
    rgb_to_yuv420,
    yuv420_to_rgb,
)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
# what a decoder yields per frame: RGB (H, W, 3) or YUV 4:2:0 planes, whichever the codec outputs
DecodedFrame = tuple[np.ndarray | None, Planes | None]

CLASSICAL_CRFS = list(range(22, 48, 5))
VIDEO_CODECS = ("nerv", "x264-medium", "x264-veryslow", "x265-medium", "x265-veryslow", "hyperprior-intra")
FRAME_METRICS = ("psnr-y", "psnr-u", "psnr-v", "psnr-yuv", "psnr-rgb", "ms-ssim-rgb")
POINT_KEYS = ("bytes", "bpp", "bitrate", *FRAME_METRICS, "encode_seconds", "decode_fps")
YUV_WEIGHTS = (6, 1, 1)  # psnr-yuv = (6 Y + U + V) / 8


# ------------------------------------------------------------------------------------------------ metrics


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = (a.astype(np.int64) - b.astype(np.int64)).ravel()
    mse = int(np.dot(d, d)) / d.size  # the sum of squares exactly, in integers
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def psnr_yuv(y: float, u: float, v: float) -> float:
    """(6 · Y + U + V) / 8 of per-plane PSNRs in dB."""
    wy, wu, wv = YUV_WEIGHTS
    return (wy * y + wu * u + wv * v) / (wy + wu + wv)


def frame_metrics(original_rgb: np.ndarray, decoded_rgb: np.ndarray, original_yuv: Planes,
                  decoded_yuv: Planes) -> dict[str, float | None]:
    """PSNR of Y, U, V, their (6Y+U+V)/8, RGB PSNR and MS-SSIM of one frame ((H, W, 3) uint8 and 4:2:0 planes)."""
    import torch

    from neuralcodec.eval.metrics import ms_ssim, psnr_rgb

    if original_rgb.shape != decoded_rgb.shape:
        raise ValueError(f"frames differ in size: {original_rgb.shape} and {decoded_rgb.shape}")
    out: dict[str, float | None] = {}
    for name, a, b in zip("yuv", original_yuv, decoded_yuv, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"{name.upper()} planes differ in size: {a.shape} and {b.shape}")
        out[f"psnr-{name}"] = _psnr(a, b)
    out["psnr-yuv"] = psnr_yuv(out["psnr-y"], out["psnr-u"], out["psnr-v"])  # type: ignore[arg-type]
    ref = torch.from_numpy(np.ascontiguousarray(original_rgb)).permute(2, 0, 1)
    dec = torch.from_numpy(np.ascontiguousarray(decoded_rgb)).permute(2, 0, 1)
    out["psnr-rgb"] = psnr_rgb(dec, ref)
    out["ms-ssim-rgb"] = ms_ssim(dec, ref)
    return out


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return math.inf if any(math.isinf(v) for v in present) else statistics.fmean(present)


def video_metrics(original_rgb: np.ndarray, decoded_rgb: np.ndarray, original_yuv: list[Planes] | None = None,
                  decoded_yuv: list[Planes] | None = None) -> dict[str, Any]:
    """Per-frame and mean metrics of a decoded clip: ``{"per_frame": {key: [...]}, "mean": {key: value}}``.

    ``original_rgb`` / ``decoded_rgb``: (T, H, W, 3) uint8. ``original_yuv``: the source's own 4:2:0 planes per
    frame when the source is YUV, else ``None`` (then ``rgb_to_yuv420`` of ``original_rgb``). ``decoded_yuv``:
    the codec's own planes when it codes YUV (x264, x265), else ``None`` (``rgb_to_yuv420`` of ``decoded_rgb``).
    ``psnr-yuv`` is (6·Y + U + V)/8 of each frame's per-plane PSNRs, then averaged over frames (see the module
    docstring); ``ms-ssim-rgb`` is ``None`` for frames under 161 px a side.
    """
    if original_rgb.shape != decoded_rgb.shape or original_rgb.ndim != 4:
        raise ValueError(f"clips differ in shape or are not (T, H, W, 3): {original_rgb.shape} and "
                         f"{decoded_rgb.shape}")
    for name, planes in (("original_yuv", original_yuv), ("decoded_yuv", decoded_yuv)):
        if planes is not None and len(planes) != len(original_rgb):
            raise ValueError(f"{name} has {len(planes)} frames, the clip {len(original_rgb)}")
    per_frame: dict[str, list[float | None]] = {k: [] for k in FRAME_METRICS}
    for i in range(len(original_rgb)):
        ref_yuv = original_yuv[i] if original_yuv is not None else rgb_to_yuv420(original_rgb[i])
        dec_yuv = decoded_yuv[i] if decoded_yuv is not None else rgb_to_yuv420(decoded_rgb[i])
        for key, value in frame_metrics(original_rgb[i], decoded_rgb[i], ref_yuv, dec_yuv).items():
            per_frame[key].append(value)
    return {"per_frame": per_frame, "mean": {k: _mean(v) for k, v in per_frame.items()}}


# -------------------------------------------------------------------------------------------------- clips


@dataclass
class Clip:
    """A clip's frames in both forms every codec and metric needs."""

    name: str
    path: Path
    rgb: np.ndarray  # (T, H, W, 3) uint8
    yuv: list[Planes]  # the reference 4:2:0 planes of each frame
    fps: Fraction
    source_format: str  # as ``VideoInfo.source_format``: "y4m" | "yuv" | "av" | "png"

    @property
    def frames(self) -> int:
        return len(self.rgb)

    @property
    def height(self) -> int:
        return self.rgb.shape[1]

    @property
    def width(self) -> int:
        return self.rgb.shape[2]


def load_clip(path: str | Path, size: tuple[int, int] | None = None, fps: float | Fraction | None = None,
              max_frames: int | None = None, name: str | None = None) -> Clip:
    """Read a clip (anything ``video_io.open_video`` reads) into memory: RGB frames and reference YUV planes.

    The readers define both views consistently: a YUV source's planes as stored (RGB = ``yuv420_to_rgb``), a
    PNG folder's RGB (YUV = ``rgb_to_yuv420``). Mind the memory: pass ``max_frames`` for long clips.
    """
    path = Path(path)
    with open_video(path, size=size, fps=fps, max_frames=max_frames) as reader:
        info = reader.info
        if info.source_format == "png":  # RGB is the source
            rgb = list(reader.frames_rgb())
            yuv = [rgb_to_yuv420(frame) for frame in rgb]
        elif info.source_format == "av":  # a container's non-4:2:0 frames reach RGB through ffmpeg: both reads
            yuv = list(reader.frames_yuv420())
            rgb = list(reader.frames_rgb())
        else:  # Y4M / raw YUV: the planes are the source, and the reader's RGB is exactly this conversion
            yuv = list(reader.frames_yuv420())
            rgb = [yuv420_to_rgb(*planes) for planes in yuv]
    if not rgb:
        raise InputError(f"{path} holds no frames")
    return Clip(name or clip_name(path), path, np.stack(rgb), yuv, info.fps, info.source_format)


def clip_name(path: Path) -> str:
    """A clip's name in results: the file's stem or the PNG folder's name."""
    return path.name if path.is_dir() else path.stem


def _is_png_folder(path: Path) -> bool:
    try:
        return path.is_dir() and any(p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()
                                     for p in path.iterdir())
    except OSError:
        return False


def find_clips(input_path: str | Path) -> list[Path]:
    """The clips ``input_path`` names: a clip file, a PNG-frame folder, a UVG folder (``find_uvg_sequences``,
    which picks one 8-bit file per sequence), or a folder of clips (video files and PNG-frame subfolders).
    ``InputError`` with one line when there is none."""
    path = Path(input_path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{path} is not a clip (expected {', '.join(sorted(VIDEO_SUFFIXES))}, a folder of "
                             "PNG frames, or a folder of clips)")
        return [path]
    if _is_png_folder(path):
        return [path]
    try:
        return list(find_uvg_sequences(path).values())
    except InputError:
        pass  # not a UVG folder: any clips in it
    children = sorted((p for p in path.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    clips = [p for p in children if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or _is_png_folder(p)]
    if not clips:
        raise InputError(f"no clips in folder {path} (expected video files {', '.join(sorted(VIDEO_SUFFIXES))}, "
                         "folders of PNG frames, or UVG sequences)")
    return clips


def clip_names(paths: list[Path]) -> list[str]:
    """Unique names for the clips (the stem, or the whole file name where two stems collide)."""
    stems = [clip_name(p) for p in paths]
    return [s if stems.count(s) == 1 else p.name for s, p in zip(stems, paths, strict=True)]


# --------------------------------------------------------------------------------------------- codecs


@dataclass
class Coded:
    """A clip coded at one rate point: the counted size and how to decode it."""

    num_bytes: int
    decode: Callable[[], Iterator[DecodedFrame]]  # a generator: its set-up runs (and is timed) at first ``next``
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoCodec:
    """One codec configuration of ``codec eval-video``: its sweep and how to code a clip at a point."""

    name: str
    description: str
    point_key: str  # "crf" | "quality"
    points: list[int]
    encode: Callable[[Clip, int], Coded]
    # one-time set-up before a point's timed encode (imports, loading a model): not the codec's coding time
    prepare: Callable[[int], None] = lambda point: None


def _strip_version_sei(data: bytes, hevc: bool) -> bytes:
    """The Annex-B stream without SEI NAL units whose first message is user data unregistered (payload type 5):
    x264 writes its version and options there (~0.7 kB per stream), which no decoder needs."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    if not starts:
        return data
    # a NAL unit runs from its start code (with a 4th, leading zero byte if there is one) to the next one;
    # start codes cannot occur inside NAL payloads (emulation prevention)
    begins = [s - 1 if s > 0 and data[s - 1] == 0 else s for s in starts]
    keep = [data[: begins[0]]]
    for i, (begin, start) in enumerate(zip(begins, starts, strict=True)):
        end = begins[i + 1] if i + 1 < len(begins) else len(data)
        header = start + 3
        if hevc:
            sei = header + 2 < end and (data[header] >> 1) & 0x3F == 39 and data[header + 2] == 5
        else:
            sei = header + 1 < end and data[header] & 0x1F == 6 and data[header + 1] == 5
        if not sei:
            keep.append(data[begin:end])
    return b"".join(keep)


def _classical(family: str, preset: str, crfs: list[int]) -> VideoCodec:
    import av

    encoder, decoder = ("libx264", "h264") if family == "x264" else ("libx265", "hevc")

    def encode(clip: Clip, crf: int) -> Coded:
        h, w = clip.height, clip.width
        ph, pw = h + h % 2, w + w % 2  # 4:2:0 needs even sizes; the chroma planes already are ⌈h/2⌉ × ⌈w/2⌉
        options = {"preset": preset, "crf": str(crf)}
        if family == "x265":
            options["x265-params"] = "info=0:log-level=error"  # no version SEI, no banner on stderr
        try:
            ctx = av.CodecContext.create(encoder, "w")
            ctx.width, ctx.height, ctx.pix_fmt = pw, ph, "yuv420p"
            ctx.time_base, ctx.framerate = 1 / clip.fps, clip.fps
            ctx.options = options
            packets = []
            for i, (y, u, v) in enumerate(clip.yuv):
                if (ph, pw) != (h, w):
                    y = np.pad(y, ((0, ph - h), (0, pw - w)), mode="edge")
                flat = np.concatenate([y.ravel(), u.ravel(), v.ravel()])  # PyAV's yuv420p layout: planes in order
                frame = av.VideoFrame.from_ndarray(flat.reshape(ph * 3 // 2, pw), format="yuv420p")
                frame.pts = i
                packets += ctx.encode(frame)
            packets += ctx.encode(None)  # flush the delayed (lookahead, B-) frames
        except (av.FFmpegError, ValueError) as exc:  # encoder failures; PyAV's unknown codec is a ValueError
            raise InputError(" ".join(f"{family}-{preset} cannot code {clip.name} at CRF {crf}: {exc}"
                                      .splitlines())) from None
        raw = b"".join(bytes(p) for p in packets)
        data = _strip_version_sei(raw, hevc=family == "x265")
        cw, ch = chroma_size(w, h)

        def planes(frame: Any) -> Planes:
            flat = frame.to_ndarray(format="yuv420p")  # (3/2 · ph, pw): the Y rows, then U's and V's
            uv = flat[ph:].reshape(2, ph // 2, pw // 2)
            return np.ascontiguousarray(flat[:h, :w]), uv[0, :ch, :cw].copy(), uv[1, :ch, :cw].copy()

        def decode() -> Iterator[DecodedFrame]:
            try:
                dec = av.CodecContext.create(decoder, "r")
                for packet in [*dec.parse(data), *dec.parse(None)]:  # parse(None) flushes the parser's last frame
                    for frame in dec.decode(packet):
                        yield None, planes(frame)
                for frame in dec.decode(None):  # and the decoder's delayed frames
                    yield None, planes(frame)
            except av.FFmpegError as exc:
                raise InputError(" ".join(f"{family}-{preset} cannot decode its stream of {clip.name} at CRF {crf}: "
                                          f"{exc}".splitlines())) from None

        return Coded(len(data), decode, {"sei_bytes_removed": len(raw) - len(data)})

    settings = "info=0, " if family == "x265" else "version SEI removed, "
    description = (f"{'H.264' if family == 'x264' else 'HEVC'} ({family}, PyAV/{encoder}, preset {preset}, CRF, "
                   f"yuv420p, {settings}encoder defaults otherwise; raw Annex-B stream bytes)")

    def prepare(crf: int) -> None:  # an encoder this FFmpeg lacks fails here, before any clip is coded
        av.CodecContext.create(encoder, "w")

    return VideoCodec(f"{family}-{preset}", description, "crf", list(crfs), encode, prepare)


def _hyperprior_intra(qualities: list[int]) -> VideoCodec:
    import torch

    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor
    from neuralcodec.image_io import ImageInfo

    def encode(clip: Clip, quality: int) -> Coded:
        codec = load_codec("hyperprior", quality)  # cached: ``prepare`` loaded it
        files = [encode_tensor(torch.from_numpy(frame).permute(2, 0, 1).contiguous(), ImageInfo(3, 8), codec).data
                 for frame in clip.rgb]

        def decode() -> Iterator[DecodedFrame]:
            with torch.inference_mode():
                for data in files:
                    yield decode_bytes(data)[0].permute(1, 2, 0).numpy(), None

        return Coded(sum(len(f) for f in files), decode)

    def prepare(quality: int) -> None:  # loading the model is no part of coding the frames
        load_codec("hyperprior", quality)

    return VideoCodec("hyperprior-intra", "all-intra learned baseline: every frame coded as an image by the "
                      "shipped hyperprior rate point (bytes: the frames' container files, headers included)",
                      "quality", list(qualities), encode, prepare)


def _nerv(qualities: list[int], epochs: int | None, time_budget: float | None,
          report: Callable[[dict[str, float]], None] | None, keep_dir: Path | None = None) -> VideoCodec:
    from neuralcodec.video_coding import decode_video, encode_frames

    def prepare(quality: int) -> None:  # Lightning and the decoder runtime import in seconds: not coding time
        import neuralcodec.codecs.nerv.codec  # noqa: F401
        import neuralcodec.training.nerv_fit  # noqa: F401

    def encode(clip: Clip, quality: int) -> Coded:
        colour = "rgb" if clip.source_format == "png" else "yuv420"  # as ``encode_video`` records it
        enc = encode_frames(clip.rgb, clip.fps, quality=quality, epochs=epochs, time_budget=time_budget,
                            colour_format=colour, report=report)
        data = enc.data
        if keep_dir is not None:  # the fitted file, for later decoding (fits take minutes)
            from neuralcodec.image_io import atomic_write

            keep_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(keep_dir / f"{clip.name}-nerv-q{quality}.bin", data)

        def decode() -> Iterator[DecodedFrame]:
            _, frames = decode_video(data)
            for frame in frames:
                yield frame.permute(1, 2, 0).numpy(), None

        return Coded(len(data), decode, {"fit_seconds": enc.fit_seconds, **enc.stats})

    fit = f"{epochs} epochs" if epochs else "default epochs"
    if time_budget:
        fit += f", at most {time_budget:g} s"
    return VideoCodec("nerv", f"neuralcodec nerv: a network fitted to each clip ({fit}; bytes: the container file)",
                      "quality", list(qualities), encode, prepare)


def video_codec(name: str, points: list[int] | None = None, epochs: int | None = None,
                time_budget: float | None = None,
                nerv_report: Callable[[dict[str, float]], None] | None = None,
                keep_dir: Path | None = None) -> VideoCodec:
    """A codec configuration by name (``VIDEO_CODECS``) with its sweep (``points``, default the module table's).
    ``InputError`` for an unknown name or a point outside the codec's range."""
    from neuralcodec.codecs.registry import get_family, shipped_qualities

    if name not in VIDEO_CODECS:
        raise InputError(f"unknown video codec '{name}' (known: {', '.join(VIDEO_CODECS)})")
    if name == "nerv":
        valid = list(get_family("nerv").qualities)
        chosen = valid if points is None else points
        _check_points(name, "quality", chosen, valid)
        return _nerv(chosen, epochs, time_budget, nerv_report, keep_dir)
    if name == "hyperprior-intra":
        valid = shipped_qualities("hyperprior")
        chosen = valid if points is None else points
        _check_points(name, "quality", chosen, valid)
        return _hyperprior_intra(chosen)
    family, preset = name.split("-", 1)
    chosen = CLASSICAL_CRFS if points is None else points
    _check_points(name, "CRF", chosen, list(range(0, 52)))
    return _classical(family, preset, chosen)


def _check_points(name: str, what: str, points: list[int], valid: list[int]) -> None:
    if not points:
        raise InputError(f"{name}: no rate points")
    for p in points:
        if p not in valid:
            shown = f"{valid[0]}…{valid[-1]}" if len(valid) > 10 else ", ".join(map(str, valid))
            raise InputError(f"{name} has no {what} {p} (valid: {shown})")


# ------------------------------------------------------------------------------------------ evaluation


class _TimedIterator:
    """Iterates ``iterator`` and adds the time spent inside its ``next`` calls to ``seconds``."""

    def __init__(self, iterator: Iterator[DecodedFrame]) -> None:
        self.iterator, self.seconds = iterator, 0.0

    def __iter__(self) -> Iterator[DecodedFrame]:
        return self

    def __next__(self) -> DecodedFrame:
        t0 = time.perf_counter()
        try:
            return next(self.iterator)
        finally:
            self.seconds += time.perf_counter() - t0


def measure_point(codec: VideoCodec, clip: Clip, point: int) -> dict[str, Any]:
    """Code ``clip`` at one rate point, decode it from the counted bytes, measure every frame.

    Returns the point's means (``POINT_KEYS``), its per-frame metrics under ``"per_frame"`` and the codec's
    extras (e.g. nerv's fit seconds) under ``"extra"``.
    """
    codec.prepare(point)
    t0 = time.perf_counter()
    coded = codec.encode(clip, point)
    encode_seconds = time.perf_counter() - t0
    frames = _TimedIterator(coded.decode())
    per_frame: dict[str, list[float | None]] = {k: [] for k in FRAME_METRICS}
    count = 0
    for rgb, yuv in frames:
        if count >= clip.frames:
            raise InputError(f"{codec.name} decoded more than the {clip.frames} frames of {clip.name}")
        # conversions for measuring happen outside the timed decoder
        if rgb is None:
            rgb = yuv420_to_rgb(*yuv)  # type: ignore[misc]
        if yuv is None:
            yuv = rgb_to_yuv420(rgb)
        for key, value in frame_metrics(clip.rgb[count], rgb, clip.yuv[count], yuv).items():
            per_frame[key].append(value)
        count += 1
    if count != clip.frames:
        raise InputError(f"{codec.name} decoded {count} of the {clip.frames} frames of {clip.name} at "
                         f"{codec.point_key} {point}")
    pixels = clip.width * clip.height * clip.frames
    row: dict[str, Any] = {
        "bytes": coded.num_bytes,
        "bpp": 8 * coded.num_bytes / pixels,
        "bitrate": 8 * coded.num_bytes * float(clip.fps) / clip.frames / 1000,  # kbit/s, CompressAI's "bitrate"
        **{k: _mean(v) for k, v in per_frame.items()},
        "encode_seconds": encode_seconds,
        "decode_fps": clip.frames / frames.seconds if frames.seconds > 0 else math.inf,
    }
    row["per_frame"] = per_frame
    row["extra"] = coded.extra
    return row


def evaluate_clip(codec: VideoCodec, clip: Clip, on_start: Callable[[str], None] | None = None,
                  on_done: Callable[[], None] | None = None) -> dict[str, Any]:
    """Every rate point of ``codec`` on ``clip``: a results blob in CompressAI's schema (plus per-frame values).

    ``on_start(label)`` is called as each point begins, ``on_done()`` as it ends (progress bars).
    """
    results: dict[str, list[Any]] = {codec.point_key: [], **{k: [] for k in POINT_KEYS}}
    per_frame: dict[str, dict[str, list[float | None]]] = {}
    extras: dict[str, dict[str, Any]] = {}
    for point in codec.points:
        if on_start:
            on_start(f"{clip.name} {codec.name} {codec.point_key} {point}")
        row = measure_point(codec, clip, point)
        results[codec.point_key].append(point)
        for key in POINT_KEYS:
            results[key].append(row[key])
        per_frame[str(point)] = row["per_frame"]
        if row["extra"]:
            extras[str(point)] = row["extra"]
        if on_done:
            on_done()
    blob: dict[str, Any] = {
        "name": codec.name, "description": codec.description, "dataset": clip.name, "media": "video",
        "clip_count": 1, "source": str(clip.path),
        "frames": clip.frames, "width": clip.width, "height": clip.height, "fps": float(clip.fps),
        "results": results, "per_frame": per_frame,
        "notes": "bpp = bytes × 8 / (W·H·frames); bitrate in kbit/s; psnr-yuv = (6·Y + U + V)/8 per frame, "
                 "metrics averaged over frames; definitions in neuralcodec/eval/video.py",
    }
    if extras:
        blob["extra"] = extras
    return blob


def average_results(blobs: list[dict[str, Any]], dataset: str) -> dict[str, Any]:
    """One codec configuration's results over several clips: each value averaged over clips per rate point."""
    if not blobs:
        raise ValueError("no results to average")
    first = blobs[0]
    point_key = "crf" if "crf" in first["results"] else "quality"
    points = first["results"][point_key]
    for blob in blobs[1:]:
        if blob["name"] != first["name"] or blob["results"][point_key] != points:
            raise ValueError(f"results of {blob['name']} on {blob['dataset']} do not share the rate points of "
                             f"{first['name']} on {first['dataset']}")
    results: dict[str, list[Any]] = {point_key: list(points)}
    for key in POINT_KEYS:
        results[key] = [_mean([b["results"][key][i] for b in blobs]) for i in range(len(points))]
    return {
        "name": first["name"], "description": first["description"], "dataset": dataset, "media": "video",
        "clip_count": len(blobs), "results": results,
        "clips": [b["dataset"] for b in blobs],
        "per_clip": {b["dataset"]: b["results"] for b in blobs},
        "notes": "each value is the mean over clips of the clips' own results (bpp too); per-frame values are in "
                 "the per-clip files",
    }


def parse_int_list(text: str, what: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]``; ``InputError`` naming ``what`` otherwise."""
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"{what} must be comma-separated whole numbers, e.g. 0,1,2 (got {text!r})") from None
    if not values:
        raise InputError(f"{what} is empty")
    return values
