"""Reading videos frame by frame and writing them atomically (Y4M, raw YUV, PyAV containers, PNG folders).

Rules:
- every frame is 8-bit. YUV means 8-bit planar 4:2:0 (Y full size, U and V ``ceil(H/2)`` × ``ceil(W/2)``,
  so odd sizes work); other layouts (4:2:2, 4:4:4, 10-bit, …) are refused with an ``InputError``, except
  in containers PyAV decodes, whose frames are converted (below);
- ``YUV_MATRIX``: the one RGB↔YCbCr conversion used everywhere is ITU-R BT.601, limited ("TV") range:
  Y in 16…235, U and V in 16…240, which is what ffmpeg assumes of untagged YUV. YUV read from any file is
  taken as such, whatever colour tags the file carries;
- chroma siting is centred (JPEG / MPEG-1): ``rgb_to_yuv420`` averages each 2×2 block of pixels (over the
  pixels that exist at an odd right or bottom edge), hence the ``C420jpeg`` tag of the Y4M files written
  here; ``yuv420_to_rgb`` replicates each chroma sample over its 2×2 block (nearest). Replication makes
  YUV → RGB → YUV lossless up to rounding and the clipping of colours outside the RGB cube (box averaging of
  a replicated block gives the sample back), so a codec working in RGB can be scored in YUV 4:2:0 without
  the conversion costing PSNR;
- a raw ``.yuv`` file has no header: its size comes from its name (``Beauty_1920x1080_120fps_420_8bit_YUV.yuv``,
  JCT-VC's ``BasketballPass_416x240_50.yuv``) or from an explicit ``size``; its rate from the name or an
  explicit ``fps``, else 30. An explicit size or rate wins over the name; for other inputs an explicit size
  must match the file's and an explicit rate replaces the file's;
- a folder of PNG frames is read in natural name order (``f2.png`` before ``f10.png``), hidden files
  ignored, at 30 fps unless ``fps`` is given; written frames are named ``f00001.png``, ``f00002.png``, …;
- PyAV containers (mp4, mkv, webm, …): 8-bit 4:2:0 frames are taken as they are; frames of any other pixel
  format are converted to RGB by ffmpeg's swscale and from there to YUV by ``rgb_to_yuv420``;
- reading streams: a reader holds one frame in memory at a time, and each ``frames_*`` call starts again at
  the first frame with its own file position (two iterations may run side by side);
- sizes are checked (1…``MAX_SIDE`` per side, at most ``MAX_PIXELS`` pixels) before any frame is allocated;
- every bad input raises ``InputError`` with a one-line message;
- writing is atomic: frames go to a temporary ``.<name>.codec-XXXX.part`` file (PNG frames to a temporary
  ``.<name>.codec-XXXX.tmpdir`` folder) beside the target, renamed onto it by a successful ``close``; an
  exception inside the ``with`` block, or ``abort``, removes the temporary, so no half-written video is ever
  left under the target's name. A PNG folder that exists already is replaced as a whole, and only if it holds
  nothing but ``f<digits>.png`` frames (anything else is refused, never deleted);
- writers: ``.y4m`` (``C420jpeg``), ``.yuv`` (raw planes, no header: name the file like
  ``Name_WxH_50fps_420_8bit_YUV.yuv`` to read it back), ``.mp4`` / ``.mkv`` / ``.mov`` (libx264, crf 0: lossless
  in YUV 4:2:0), ``.webm`` (libvpx-vp9, lossless), ``.avi`` (FFV1, lossless); container writers need even
  sizes. A path ending in "/", an existing folder or a path without suffix is a PNG folder.
"""

from __future__ import annotations

import math
import operator
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from neuralcodec.bitstream import MAX_PIXELS, MAX_SIDE
from neuralcodec.errors import InputError
from neuralcodec.image_io import (
    _GREY_MODES,
    _UMASK,
    TEMP_MARK,
    _to_uint8_grey,
    commit_temporary,
    is_special_output,
    temp_file_beside,
)

YUV_MATRIX = "bt601"  # ITU-R BT.601, limited range: see the module docstring

VIDEO_SUFFIXES = frozenset({".y4m", ".yuv", ".mp4", ".mkv", ".webm", ".avi", ".mov"})

UVG_SEQUENCES: tuple[str, ...] = ("Beauty", "Bosphorus", "HoneyBee", "Jockey", "ReadySteadyGo", "ShakeNDry",
                                  "YachtRide")
_UVG_ALIASES = {"ReadySteadyGo": ("ReadySetGo",)}  # the UVG 4K release's name for the same scene

DEFAULT_FPS = Fraction(30)
_Y4M_MAGIC = b"YUV4MPEG2"
_Y4M_HEADER_LIMIT = 4096  # bytes; real headers are < 100
_Y4M_FRAME_HEADER_LIMIT = 1024
_Y4M_420_TAGS = frozenset({"420", "420jpeg", "420paldv", "420mpeg2"})
_TEMP_DIR_SUFFIX = ".tmpdir"  # not ".part": remove_stale_temporaries unlinks those and would fail on a folder
_FRAME_NAME = re.compile(r"f\d+\.png", re.IGNORECASE)

# (container format, encoder, encoder options) of the PyAV writers, by suffix
_AV_WRITERS: dict[str, tuple[str, str, dict[str, str]]] = {
    ".mp4": ("mp4", "libx264", {"crf": "0", "preset": "medium"}),
    ".mkv": ("matroska", "libx264", {"crf": "0", "preset": "medium"}),
    ".mov": ("mov", "libx264", {"crf": "0", "preset": "medium"}),
    ".webm": ("webm", "libvpx-vp9", {"lossless": "1"}),
    ".avi": ("avi", "ffv1", {}),
}


def _error(message: str) -> InputError:
    """An ``InputError`` whose message is one line even if a file name or library message is not."""
    return InputError(" ".join(message.splitlines()))


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows of a video before reading its frames."""

    width: int
    height: int
    fps: Fraction
    frame_count: int | None  # frames the reader yields (after max_frames); None if a container cannot tell
    source_format: str  # "y4m" | "yuv" | "av" | "png"


# ---------------------------------------------------------------------------------------------- conversion

# BT.601 luma weights; limited range scales luma to 219 and chroma to 224 steps of 255
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB
_YS, _CS = 219.0 / 255.0, 224.0 / 255.0


def chroma_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the U and V planes of a 4:2:0 frame."""
    return (width + 1) // 2, (height + 1) // 2


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB → Y (H, W), U and V (ceil(H/2), ceil(W/2)), uint8, BT.601 limited range.

    Chroma is the mean over each 2×2 block (over the existing pixels at an odd edge): centred siting.
    """
    rgb = _check_rgb(rgb)
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16.0 + _YS * (_KR * r + _KG * g + _KB * b)
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:  # repeating the edge row/column makes the 2×2 mean the mean of the pixels that exist
        f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    m = (f[0::2, 0::2] + f[1::2, 0::2] + f[0::2, 1::2] + f[1::2, 1::2]) * np.float32(0.25)
    r, g, b = m[..., 0], m[..., 1], m[..., 2]
    u = 128.0 + _CS * (b - (_KR * r + _KG * g + _KB * b)) / (2.0 * (1.0 - _KB))
    v = 128.0 + _CS * (r - (_KR * r + _KG * g + _KB * b)) / (2.0 * (1.0 - _KR))
    return _to_uint8(y), _to_uint8(u), _to_uint8(v)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Y (H, W), U and V (ceil(H/2), ceil(W/2)) uint8 → (H, W, 3) uint8 RGB; each chroma sample covers its
    2×2 block (nearest upsampling), so ``rgb_to_yuv420`` of the result gives the planes back up to rounding."""
    y, u, v = _check_planes(y, u, v)
    h, w = y.shape
    yf = (y.astype(np.float32) - 16.0) / _YS
    # (2×2 repetition, cropped at odd edges)
    uf = np.repeat(np.repeat((u.astype(np.float32) - 128.0) / _CS, 2, axis=0), 2, axis=1)[:h, :w]
    vf = np.repeat(np.repeat((v.astype(np.float32) - 128.0) / _CS, 2, axis=0), 2, axis=1)[:h, :w]
    rgb = np.empty((h, w, 3), dtype=np.float32)
    rgb[..., 0] = yf + 2.0 * (1.0 - _KR) * vf
    rgb[..., 1] = yf - (2.0 * (1.0 - _KB) * _KB / _KG) * uf - (2.0 * (1.0 - _KR) * _KR / _KG) * vf
    rgb[..., 2] = yf + 2.0 * (1.0 - _KB) * uf
    return _to_uint8(rgb)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise _error(f"expected an (H, W, 3) uint8 RGB frame, got shape {rgb.shape} {rgb.dtype}")
    _check_size(rgb.shape[1], rgb.shape[0], "frame")
    return rgb


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, v = np.asarray(y), np.asarray(u), np.asarray(v)
    if y.ndim != 2 or any(p.dtype != np.uint8 for p in (y, u, v)):
        raise _error(f"expected uint8 Y (H, W), U, V planes, got {y.shape} {y.dtype}, {u.shape} {u.dtype}, "
                     f"{v.shape} {v.dtype}")
    h, w = y.shape
    _check_size(w, h, "frame")
    cw, ch = chroma_size(w, h)
    if u.shape != (ch, cw) or v.shape != (ch, cw):
        raise _error(f"4:2:0 chroma planes of a {w}×{h} frame must be {cw}×{ch}, got U {u.shape[::-1]} "
                     f"and V {v.shape[::-1]} (width×height)")
    return y, u, v


def _int_pair(pair: Any, what: str) -> tuple[int, int]:
    """Two integers (Python or NumPy) as a tuple of ints."""
    try:
        first, second = pair
        return operator.index(first), operator.index(second)
    except (TypeError, ValueError):
        raise _error(f"bad {what} {pair!r}: expected two integers (width, height)") from None


def _check_size(width: int, height: int, name: str) -> None:
    """Before anything of that size is allocated: the container format's limits."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise _error(f"{name}: frame size {width}×{height} is outside the supported 1…{MAX_SIDE} per side "
                     f"and {MAX_PIXELS} pixels")


def _frame_bytes(width: int, height: int) -> int:
    cw, ch = chroma_size(width, height)
    return width * height + 2 * cw * ch


# ----------------------------------------------------------------------------------------------- names

_SIZE_IN_NAME = re.compile(r"(?<!\d)(\d{1,5})[xX](\d{1,5})(?!\d)")
_FPS_IN_NAME = re.compile(r"(?<![\d.])(\d{1,4}(?:\.\d{1,3})?)(?:fps|hz)", re.IGNORECASE)
_JCTVC_FPS = re.compile(r"^[_\-](\d{1,3})(?=$|[_\-.])")  # "_50" right after the size: BasketballPass_416x240_50
_BITS_IN_NAME = re.compile(r"(?<![\dx])(\d{1,2})[_\-]?bits?(?![a-z])", re.IGNORECASE)
_CHROMA_IN_NAME = re.compile(r"(?:^|[_\-.])(?:yuv)?(4[24][024])p?(?=$|[_\-.])", re.IGNORECASE)
_NTSC_RATES = {"23.976": Fraction(24000, 1001), "23.98": Fraction(24000, 1001), "29.97": Fraction(30000, 1001),
               "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}


def parse_yuv_name(name: str) -> tuple[int, int, Fraction] | None:
    """(width, height, fps) from a raw YUV file name; fps is 30 if the name gives none; None without a size.

    ``Beauty_1920x1080_120fps_420_8bit_YUV.yuv`` → (1920, 1080, 120); ``BasketballPass_416x240_50.yuv`` → (416,
    240, 50); ``Foo_1280x720_29.97fps.yuv`` → (1280, 720, 30000/1001).
    """
    stem = Path(name).name
    if stem.lower().endswith((".yuv", ".y4m")):
        stem = stem[:-4]
    size = _SIZE_IN_NAME.search(stem)
    if size is None:
        return None
    width, height = int(size.group(1)), int(size.group(2))
    if width == 0 or height == 0:
        return None
    rest = stem[:size.start()] + "_" + stem[size.end():]  # the size's digits are no rate
    fps = None
    match = _FPS_IN_NAME.search(rest)
    if match is not None:
        fps = _NTSC_RATES.get(match.group(1)) or Fraction(match.group(1))
    else:
        jctvc = _JCTVC_FPS.match(stem[size.end():])
        if jctvc is not None and 1 <= int(jctvc.group(1)) <= 300:
            fps = Fraction(int(jctvc.group(1)))
    if fps is None or fps <= 0:
        fps = DEFAULT_FPS
    return width, height, fps


def _check_yuv_name_layout(path: Path) -> None:
    """A raw file whose name says it is not 8-bit 4:2:0 would be misread silently: refuse it."""
    stem = path.stem
    size = _SIZE_IN_NAME.search(stem)
    rest = stem if size is None else stem[:size.start()] + "_" + stem[size.end():]
    bits = _BITS_IN_NAME.search(rest)
    if bits is not None and int(bits.group(1)) != 8:
        raise _error(f"{path}: the name says {bits.group(1)}-bit samples; only 8-bit 4:2:0 raw YUV is supported")
    chroma = _CHROMA_IN_NAME.search(rest)
    if chroma is not None and chroma.group(1) != "420":
        raise _error(f"{path}: the name says {chroma.group(1)} chroma; only 8-bit 4:2:0 raw YUV is supported")


def parse_size(text: str) -> tuple[int, int]:
    """(width, height) from "WxH" (e.g. a ``--size`` argument); ``InputError`` otherwise."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*[xX×]\s*(\d{1,9})\s*", text)
    if match is None:
        raise _error(f"bad frame size {text!r}: expected WxH, e.g. 1920x1080")
    width, height = int(match.group(1)), int(match.group(2))
    _check_size(width, height, "size")
    return width, height


def _fraction_fps(fps: float | Fraction | int | str, name: str = "fps") -> Fraction:
    """A positive rate as a Fraction; floats near the NTSC rates become n·1000/1001 (29.97 → 30000/1001)."""
    try:
        if isinstance(fps, float):
            if not math.isfinite(fps):
                raise ValueError
            for n in (24, 30, 48, 60, 120, 240):
                if abs(fps - n * 1000 / 1001) < 5e-3:
                    return Fraction(n * 1000, 1001)
            value = Fraction(fps).limit_denominator(1001)
        else:
            value = Fraction(fps)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise _error(f"bad {name}: {fps!r}") from None
    if not 0 < value <= 10_000:
        raise _error(f"bad {name}: {fps!r} (must be a positive rate up to 10000 frames per second)")
    return value


def _natural_key(path: Path) -> tuple[Any, ...]:
    """Digits compared as numbers: f2.png before f10.png."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.lower(), p) for p in parts)


def _png_frames(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")
                   and p.is_file()), key=_natural_key)


def is_video_path(path: str | Path) -> bool:
    """True for a video suffix (whether or not the file exists) or an existing folder holding PNG files."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    try:
        return path.is_dir() and any(p.suffix.lower() == ".png" and not p.name.startswith(".")
                                     for p in path.iterdir())
    except OSError:
        return False


def find_uvg_sequences(folder: str | Path) -> dict[str, Path]:
    """The UVG sequences in ``folder`` (or its direct subfolders): name → .yuv / .y4m file.

    A file belongs to a sequence if its name starts with the sequence's name (case-insensitively) followed by a
    non-letter. Of several candidates, 8-bit ones are preferred, then the first in name order. ``InputError``
    if there is none; missing sequences are absent from the result.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _error(f"UVG folder not found: {folder}")
    files = [p for p in folder.iterdir() if p.is_file()]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files += [p for p in sub.iterdir() if p.is_file()]
    files = sorted((p for p in files if p.suffix.lower() in (".yuv", ".y4m") and not p.name.startswith(".")),
                   key=lambda p: (_natural_key(p), str(p)))
    found: dict[str, Path] = {}
    for name in UVG_SEQUENCES:
        prefixes = tuple(n.lower() for n in (name, *_UVG_ALIASES.get(name, ())))
        candidates = [p for p in files if any(re.match(re.escape(pre) + r"(?![a-z])", p.name.lower())
                                              for pre in prefixes)]
        if candidates:
            found[name] = min(candidates, key=lambda p: (not _says_8bit_or_nothing(p), candidates.index(p)))
    if not found:
        raise _error(f"no UVG sequences ({', '.join(UVG_SEQUENCES)}) as .yuv or .y4m files in {folder}")
    return found


def _says_8bit_or_nothing(path: Path) -> bool:
    bits = _BITS_IN_NAME.search(path.stem)
    return bits is None or int(bits.group(1)) == 8


# --------------------------------------------------------------------------------------------- readers


class VideoReader:
    """Frames of a video, one at a time; a context manager, iterable over RGB frames."""

    info: VideoInfo

    def __init__(self, path: Path, info: VideoInfo, max_frames: int | None) -> None:
        self.path = path
        self.info = info
        self._max_frames = max_frames
        self._closed = False

    def frames_yuv420(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Y, U, V uint8 planes of each frame, from the first."""
        raise NotImplementedError

    def frames_rgb(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB of each frame, from the first."""
        for y, u, v in self.frames_yuv420():
            yield yuv420_to_rgb(y, u, v)

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"reader of {self.path} is closed")

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames_rgb()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {self.info})"


class _PlanarFileReader(VideoReader):
    """Y4M and raw YUV: frames at known byte offsets, read with one ``readinto`` each."""

    def __init__(self, path: Path, info: VideoInfo, offsets: list[int], max_frames: int | None) -> None:
        super().__init__(path, info, max_frames)
        self._offsets = offsets  # start of each frame's planes
        self._file: BinaryIO | None = open(path, "rb")  # closed by close()

    def frames_yuv420(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        self._check_open()
        w, h = self.info.width, self.info.height
        cw, ch = chroma_size(w, h)
        size = _frame_bytes(w, h)
        for index, offset in enumerate(self._offsets):
            if self._file is None:
                raise ValueError(f"reader of {self.path} is closed")
            buf = bytearray(size)  # fresh per frame: frames a caller keeps are not overwritten
            self._file.seek(offset)
            got = self._file.readinto(buf)
            if got != size:
                raise _error(f"{self.path} ended inside frame {index + 1} ({got} of {size} bytes): "
                             "did the file change while it was read?")
            data = np.frombuffer(buf, dtype=np.uint8)
            y = data[:w * h].reshape(h, w)
            u = data[w * h:w * h + cw * ch].reshape(ch, cw)
            v = data[w * h + cw * ch:].reshape(ch, cw)
            yield y, u, v

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None


class _PngFolderReader(VideoReader):
    def __init__(self, path: Path, info: VideoInfo, files: list[Path], max_frames: int | None) -> None:
        super().__init__(path, info, max_frames)
        self._files = files

    def frames_rgb(self) -> Iterator[np.ndarray]:
        self._check_open()
        for file in self._files:
            rgb = _read_png_rgb(file)
            if rgb.shape[:2] != (self.info.height, self.info.width):
                raise _error(f"{file} is {rgb.shape[1]}×{rgb.shape[0]}, not {self.info.width}×{self.info.height} "
                             "like the first frame")
            yield rgb

    def frames_yuv420(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for rgb in self.frames_rgb():
            yield rgb_to_yuv420(rgb)


def _read_png_rgb(path: Path) -> np.ndarray:
    """RGB uint8 of one frame, by the still-image rules (grey replicated, alpha dropped, 16 → 8 bits)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode in _GREY_MODES:
                return np.repeat(_to_uint8_grey(img)[:, :, None], 3, axis=2)
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _error(f"cannot read {path} as a PNG frame: {exc}") from None


class _AvReader(VideoReader):
    """Anything PyAV opens; each iteration opens the container afresh (a decoder cannot rewind cheaply)."""

    def __init__(self, path: Path, info: VideoInfo, max_frames: int | None) -> None:
        super().__init__(path, info, max_frames)
        self._containers: list[Any] = []

    def _decoded(self) -> Iterator[Any]:
        self._check_open()
        container = _av_open(self.path)
        self._containers.append(container)
        count = 0
        try:
            stream = container.streams.video[0]
            try:
                for frame in container.decode(stream):
                    if self._max_frames is not None and count >= self._max_frames:
                        return
                    if (frame.width, frame.height) != (self.info.width, self.info.height):
                        raise _error(f"{self.path}: frame {count + 1} is {frame.width}×{frame.height}, not "
                                     f"{self.info.width}×{self.info.height}: size changes are not supported")
                    count += 1
                    yield frame
            except InputError:
                raise
            except Exception as exc:  # PyAV's FFmpegError family and decoder failures
                raise _error(f"cannot decode frame {count + 1} of {self.path}: {exc}") from None
        finally:
            container.close()
            if container in self._containers:
                self._containers.remove(container)

    def frames_yuv420(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for frame in self._decoded():
            if frame.format.name == "yuv420p":
                yield tuple(_plane_array(p) for p in frame.planes[:3])  # type: ignore[misc]
            else:
                yield rgb_to_yuv420(frame.to_ndarray(format="rgb24"))

    def frames_rgb(self) -> Iterator[np.ndarray]:
        for frame in self._decoded():
            if frame.format.name == "yuv420p":  # our conversion, so RGB and YUV readings agree
                yield yuv420_to_rgb(*(_plane_array(p) for p in frame.planes[:3]))
            else:
                yield np.ascontiguousarray(frame.to_ndarray(format="rgb24"))

    def close(self) -> None:
        super().close()
        for container in self._containers:
            container.close()
        self._containers.clear()


def _plane_array(plane: Any) -> np.ndarray:
    """A copy of one decoded plane without the row padding (``line_size`` ≥ width)."""
    rows = np.frombuffer(plane, dtype=np.uint8, count=plane.height * plane.line_size)
    rows = rows.reshape(plane.height, plane.line_size)
    return rows[:, :plane.width].copy()


def _av_open(path: Path) -> Any:
    import av

    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # FFmpegError subclasses, OSError
        raise _error(f"cannot read {path} as a video: {exc}") from None
    if not container.streams.video:
        container.close()
        raise _error(f"{path} has no video stream")
    return container


def open_video(path: str | Path, size: tuple[int, int] | None = None, fps: float | Fraction | None = None,
               max_frames: int | None = None) -> VideoReader:
    """A streaming reader of ``path``: .y4m, .yuv, a folder of PNG frames, or anything else PyAV opens.

    ``size`` = (width, height) is needed for a raw .yuv whose name does not give it; ``fps`` replaces the rate
    of the file; ``max_frames`` stops reading after that many frames. ``InputError`` for anything unreadable.
    """
    path = Path(path)
    if size is not None:
        size = _int_pair(size, "frame size")
        _check_size(size[0], size[1], "size")
    rate = None if fps is None else _fraction_fps(fps)
    if max_frames is not None and (not isinstance(max_frames, int | np.integer) or max_frames < 1):
        raise _error(f"bad max_frames: {max_frames!r} (must be a positive integer)")
    if not path.exists():
        raise _error(f"input video not found: {path}")
    if path.is_dir():
        return _open_png_folder(path, size, rate, max_frames)
    if path.stat().st_size == 0:
        raise _error(f"input video is empty: {path}")
    with open(path, "rb") as f:
        magic = f.read(len(_Y4M_MAGIC))
    suffix = path.suffix.lower()
    if magic == _Y4M_MAGIC or suffix == ".y4m":
        return _open_y4m(path, size, rate, max_frames)
    if suffix == ".yuv":
        return _open_yuv(path, size, rate, max_frames)
    return _open_av(path, size, rate, max_frames)


def _check_given_size(path: Path, width: int, height: int, size: tuple[int, int] | None) -> None:
    if size is not None and size != (width, height):
        raise _error(f"{path} is {width}×{height}, not the given size {size[0]}×{size[1]}")


def _capped(count: int, max_frames: int | None) -> int:
    return count if max_frames is None else min(count, max_frames)


def _open_yuv(path: Path, size: tuple[int, int] | None, fps: Fraction | None,
              max_frames: int | None) -> VideoReader:
    _check_yuv_name_layout(path)
    parsed = parse_yuv_name(path.name)
    if size is None:
        if parsed is None:
            raise _error(f"cannot infer the frame size of {path}: name it like Name_1920x1080_50fps_420_8bit_YUV.yuv "
                         "or pass --size WxH")
        size = parsed[:2]
    width, height = size
    _check_size(width, height, str(path))
    rate = fps or (parsed[2] if parsed is not None else DEFAULT_FPS)
    frame = _frame_bytes(width, height)
    total = path.stat().st_size
    count, left = divmod(total, frame)
    if left or count == 0:
        raise _error(f"{path} is not a whole number of {width}×{height} 8-bit 4:2:0 frames ({frame} bytes each): "
                     f"{left} bytes left over after {count} frames (wrong size, layout or a truncated file?)")
    count = _capped(count, max_frames)
    info = VideoInfo(width, height, rate, count, "yuv")
    return _PlanarFileReader(path, info, [i * frame for i in range(count)], max_frames)


def _parse_y4m_header(path: Path, f: BinaryIO) -> tuple[int, int, Fraction | None, int]:
    """(width, height, rate or None, header length) of a Y4M stream; ``InputError`` for anything but 8-bit 4:2:0."""
    head = f.read(_Y4M_HEADER_LIMIT)
    if not head.startswith(_Y4M_MAGIC + b" "):
        raise _error(f"{path} is not a Y4M file: it does not start with 'YUV4MPEG2 '")
    end = head.find(b"\n")
    if end < 0:
        raise _error(f"bad Y4M header in {path}: no end of line in its first {_Y4M_HEADER_LIMIT} bytes")
    try:
        fields = head[len(_Y4M_MAGIC) + 1:end].decode("ascii").split()
    except UnicodeDecodeError:
        raise _error(f"bad Y4M header in {path}: it is not ASCII text") from None
    width = height = None
    rate = None
    colour = "420"  # the Y4M default when there is no C tag
    for field in fields:
        key, value = field[0], field[1:]
        try:
            if key == "W":
                width = int(value)
            elif key == "H":
                height = int(value)
            elif key == "F":
                num, den = value.split(":")
                rate = Fraction(int(num), int(den))
            elif key == "C":
                colour = value
            # I (interlacing), A (aspect), X (comments) do not change how planes are stored
        except (ValueError, ZeroDivisionError):
            raise _error(f"bad Y4M header in {path}: field {field!r}") from None
    if width is None or height is None:
        raise _error(f"bad Y4M header in {path}: it has no {'width (W)' if width is None else 'height (H)'}")
    if colour not in _Y4M_420_TAGS:
        raise _error(f"{path}: Y4M colour space C{colour} is not supported (only 8-bit 4:2:0: C420, C420jpeg, "
                     "C420paldv, C420mpeg2)")
    _check_size(width, height, str(path))
    if rate is not None and rate <= 0:
        raise _error(f"bad Y4M header in {path}: frame rate F{rate} is not positive")
    return width, height, rate, end + 1


def _open_y4m(path: Path, size: tuple[int, int] | None, fps: Fraction | None,
              max_frames: int | None) -> VideoReader:
    total = path.stat().st_size
    with open(path, "rb") as f:
        width, height, rate, pos = _parse_y4m_header(path, f)
        _check_given_size(path, width, height, size)
        frame = _frame_bytes(width, height)
        offsets: list[int] = []
        # walk the FRAME headers (seeks, no pixel reads) so a bad or truncated file fails here, with a count
        while pos < total and (max_frames is None or len(offsets) < max_frames):
            f.seek(pos)
            head = f.read(_Y4M_FRAME_HEADER_LIMIT)
            end = head.find(b"\n")
            if not head.startswith(b"FRAME") or end < 0:
                raise _error(f"bad Y4M frame header at byte {pos} of {path} (frame {len(offsets) + 1}): "
                             "expected 'FRAME'")
            start = pos + end + 1
            if start + frame > total:
                raise _error(f"{path} is truncated: frame {len(offsets) + 1} has {total - start} of {frame} bytes")
            offsets.append(start)
            pos = start + frame
    if not offsets:
        raise _error(f"{path} holds no frames")
    info = VideoInfo(width, height, fps or rate or DEFAULT_FPS, len(offsets), "y4m")
    return _PlanarFileReader(path, info, offsets, max_frames)


def _open_png_folder(path: Path, size: tuple[int, int] | None, fps: Fraction | None,
                     max_frames: int | None) -> VideoReader:
    from PIL import Image, UnidentifiedImageError

    files = _png_frames(path)
    if not files:
        raise _error(f"no PNG frames in folder {path}")
    if max_frames is not None:
        files = files[:max_frames]
    first = None
    for file in files:  # headers only: Pillow reads pixels lazily
        try:
            with Image.open(file) as img:
                dims = img.size
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise _error(f"cannot read {file} as a PNG frame: {exc}") from None
        if first is None:
            first = dims
            _check_size(dims[0], dims[1], str(file))
        elif dims != first:
            raise _error(f"PNG frames in {path} differ in size: {files[0].name} is {first[0]}×{first[1]}, "
                         f"{file.name} is {dims[0]}×{dims[1]}")
    assert first is not None
    _check_given_size(path, first[0], first[1], size)
    info = VideoInfo(first[0], first[1], fps or DEFAULT_FPS, len(files), "png")
    return _PngFolderReader(path, info, files, max_frames)


def _open_av(path: Path, size: tuple[int, int] | None, fps: Fraction | None,
             max_frames: int | None) -> VideoReader:
    container = _av_open(path)
    try:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise _error(f"cannot read {path} as a video: its video stream has no frame size")
        _check_size(width, height, str(path))
        _check_given_size(path, width, height, size)
        rate = fps
        for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate is None and candidate:
                rate = Fraction(candidate)
        count = stream.frames if stream.frames and stream.frames > 0 else None
    finally:
        container.close()
    info = VideoInfo(width, height, rate or DEFAULT_FPS, None if count is None else _capped(count, max_frames),
                     "av")
    return _AvReader(path, info, max_frames)


def read_video_rgb(path: str | Path, size: tuple[int, int] | None = None, fps: float | Fraction | None = None,
                   max_frames: int | None = None) -> tuple[np.ndarray, VideoInfo]:
    """All frames as one (T, H, W, 3) uint8 array (mind the memory: pass ``max_frames`` for long videos)."""
    with open_video(path, size=size, fps=fps, max_frames=max_frames) as reader:
        info = reader.info
        if info.frame_count is not None:  # one allocation, no stacking copy
            video = np.empty((info.frame_count, info.height, info.width, 3), dtype=np.uint8)
            count = 0
            for count, rgb in enumerate(reader.frames_rgb(), start=1):
                video[count - 1] = rgb
            video = video[:count]
        else:
            frames = list(reader.frames_rgb())
            video = np.stack(frames) if frames else np.empty((0, info.height, info.width, 3), dtype=np.uint8)
    if len(video) == 0:
        raise _error(f"{path} holds no frames")
    if info.frame_count != len(video):
        info = VideoInfo(info.width, info.height, info.fps, len(video), info.source_format)
    return video, info


# --------------------------------------------------------------------------------------------- writers


class VideoWriter:
    """Frames into a temporary beside ``path``, renamed onto ``path`` by ``close``; a context manager that
    discards everything if its block raises."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        self.frames_written = 0
        self._done = False

    def write_rgb(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        self._check_writable()
        self._check_shape(_check_rgb(frame).shape[:2])
        self._write_rgb(frame)
        self.frames_written += 1

    def write_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Append one frame of uint8 4:2:0 planes."""
        self._check_writable()
        y, u, v = _check_planes(y, u, v)
        self._check_shape(y.shape)
        self._write_yuv420(y, u, v)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and rename it onto the target; ``InputError`` (and nothing written) if no frame
        was written or finishing fails. Closing twice does nothing."""
        if self._done:
            return
        if self.frames_written == 0:
            self.abort()
            raise _error(f"no frames were written to {self.path}: nothing saved")
        try:
            self._commit()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise _error(f"cannot write {self.path}: {exc.strerror or exc}") from None
            raise
        self._done = True

    def abort(self) -> None:
        """Discard the frames written so far; the target is left as it was."""
        if not self._done:
            self._done = True
            self._discard()

    def _check_writable(self) -> None:
        if self._done:
            raise ValueError(f"writer of {self.path} is closed")

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if tuple(shape) != (self.height, self.width):
            raise _error(f"frame of {shape[1]}×{shape[0]} written to a {self.width}×{self.height} video "
                         f"{self.path}")

    # the format's part: by default YUV and RGB are converted into each other
    def _write_rgb(self, rgb: np.ndarray) -> None:
        self._write_yuv420(*rgb_to_yuv420(rgb))

    def _write_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        self._write_rgb(yuv420_to_rgb(y, u, v))

    def _commit(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:  # a writer dropped without close leaves no temporary behind
        try:
            self.abort()
        except Exception:  # e.g. at interpreter shutdown: nothing more to do
            pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {self.width}×{self.height}, {self.fps} fps)"


class _PlanarFileWriter(VideoWriter):
    """Y4M (with headers) or raw YUV planes."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, y4m: bool) -> None:
        super().__init__(path, width, height, fps)
        self._y4m = y4m
        self._tmp: Path | None = None
        if is_special_output(path):  # a FIFO or device: frames stream straight into it
            try:
                self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in _commit / _discard
            except OSError as exc:
                raise _error(f"cannot write {path}: {exc.strerror or exc}") from None
        else:
            fd, self._tmp = temp_file_beside(path)
            self._file = os.fdopen(fd, "wb")
        if y4m:
            header = f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A1:1 C420jpeg\n"
            self._write(header.encode("ascii"))

    def _write(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as exc:  # e.g. a full disk: name the user's file
            self.abort()
            raise _error(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _write_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        if self._y4m:
            self._write(b"FRAME\n")
        for plane in (y, u, v):
            self._write(memoryview(np.ascontiguousarray(plane)).cast("B"))

    def _commit(self) -> None:
        assert self._file is not None
        self._file.flush()
        if self._tmp is not None:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        if self._tmp is not None:
            commit_temporary(self._tmp, self.path)

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class _AvWriter(VideoWriter):
    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        super().__init__(path, width, height, fps)
        import av

        container_format, codec, options = _AV_WRITERS[path.suffix.lower()]
        if width % 2 or height % 2:
            raise _error(f"cannot write {path}: {codec} in 4:2:0 needs an even width and height, got "
                         f"{width}×{height} (write .y4m or .yuv instead)")
        try:
            av.Codec(codec, "w")
        except Exception:  # PyAV raises UnknownCodecError (a ValueError) for encoders this FFmpeg lacks
            raise _error(f"cannot write {path}: this PyAV's FFmpeg has no {codec} encoder") from None
        fd, self._tmp = temp_file_beside(path)
        os.close(fd)
        self._container: Any = None
        try:
            self._container = av.open(str(self._tmp), mode="w", format=container_format)
            self._stream = self._container.add_stream(codec, rate=fps)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = options
            cc = self._stream.codec_context
            cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 6, 6, 6  # limited, BT.601 (170M)
        except Exception as exc:
            self._done = True
            self._discard()
            raise _error(f"cannot write {path}: {exc}") from None

    def _write_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        import av

        flat = np.concatenate([y.ravel(), u.ravel(), v.ravel()])  # PyAV's yuv420p layout: planes one after another
        frame = av.VideoFrame.from_ndarray(flat.reshape(self.height * 3 // 2, self.width), format="yuv420p")
        frame.pts = self.frames_written
        self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[Any]) -> None:
        try:
            self._container.mux(packets)
        except Exception as exc:
            self.abort()
            raise _error(f"cannot write {self.path}: {exc}") from None

    def _commit(self) -> None:
        self._mux(self._stream.encode(None))  # flush the encoder's delayed frames
        self._container.close()
        self._container = None
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        commit_temporary(self._tmp, self.path)

    def _discard(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the file is deleted next anyway
                pass
            self._container = None
        self._tmp.unlink(missing_ok=True)


class _PngFolderWriter(VideoWriter):
    """Frames into a temporary folder beside the target, renamed onto it (replacing an old frame folder)."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        super().__init__(path, width, height, fps)
        if not path.parent.is_dir():
            raise _error(f"output folder does not exist: {path.parent}")
        if path.exists() and not path.is_dir():
            raise _error(f"output for PNG frames is a file, not a folder: {path}")
        _check_only_frames(path)
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARK}", suffix=_TEMP_DIR_SUFFIX,
                                              dir=path.parent))
            os.chmod(self._tmp, 0o777 & ~_UMASK)
        except OSError as exc:
            raise _error(f"cannot write {path}: {exc.strerror or exc}") from None

    def _write_rgb(self, rgb: np.ndarray) -> None:
        from PIL import Image

        target = self._tmp / f"f{self.frames_written + 1:05d}.png"
        try:
            Image.fromarray(np.ascontiguousarray(rgb)).save(target, format="PNG")
        except OSError as exc:
            self.abort()
            raise _error(f"cannot write {self.path / target.name}: {exc.strerror or exc}") from None

    def _commit(self) -> None:
        _check_only_frames(self.path)  # again: the folder may have changed since the writer was opened
        for p in self._tmp.iterdir():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        if self.path.is_dir() and any(self.path.iterdir()):
            # a folder cannot be renamed onto a non-empty one: move the old frames aside first, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}{TEMP_MARK}old-", suffix=_TEMP_DIR_SUFFIX,
                                        dir=self.path.parent))
            os.rmdir(old)
            os.rename(self.path, old)
            try:
                os.rename(self._tmp, self.path)
            except OSError:
                os.rename(old, self.path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self._tmp, self.path)  # an empty folder is replaced in one step

    def _discard(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def _check_only_frames(folder: Path) -> None:
    """``InputError`` if ``folder`` exists and holds anything but f<digits>.png frames (those are replaced)."""
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if not (_FRAME_NAME.fullmatch(p.name) and p.is_file()))
        if others:
            raise _error(f"output folder {folder} holds files other than f<digits>.png frames ({others[0]}, …): "
                         "not replaced; choose a new or empty folder")


def open_writer(path: str | Path, width: int, height: int, fps: Fraction | float) -> VideoWriter:
    """A writer chosen by ``path``: .y4m, .yuv, .mp4/.mkv/.mov/.webm/.avi (PyAV), or a PNG frame folder for a
    path ending in "/", an existing folder or a path without suffix; a device or FIFO without a video suffix
    (``/dev/null``) gets a Y4M stream. ``InputError`` for an unknown suffix,
    a missing encoder, a bad size or rate, or an output that cannot be written."""
    is_folder_path = isinstance(path, str) and path.endswith(("/", os.sep))
    path = Path(path)
    width, height = _int_pair((width, height), "frame size")
    _check_size(width, height, str(path))
    rate = _fraction_fps(fps)
    suffix = path.suffix.lower()
    if is_special_output(path) and suffix not in (".y4m", ".yuv") and suffix not in _AV_WRITERS:
        return _PlanarFileWriter(path, width, height, rate, y4m=True)  # /dev/null, a FIFO: a Y4M stream
    if is_folder_path or path.is_dir() or not suffix:
        return _PngFolderWriter(path, width, height, rate)
    if suffix in (".y4m", ".yuv"):
        return _PlanarFileWriter(path, width, height, rate, y4m=suffix == ".y4m")
    if suffix in _AV_WRITERS:
        return _AvWriter(path, width, height, rate)
    raise _error(f"cannot write {suffix} videos: {path.name} (use .y4m, .yuv, .mp4, .mkv, .mov, .webm, .avi, "
                 "or a folder for PNG frames)")
