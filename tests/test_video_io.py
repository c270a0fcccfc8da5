"""Video IO: Y4M, raw YUV, PNG folders and PyAV containers round-trip real frames; bad inputs fail in one line."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import BASKETBALL, BUNNY
from PIL import Image

from neuralcodec.errors import InputError
from neuralcodec.video_io import (
    UVG_SEQUENCES,
    VideoInfo,
    find_uvg_sequences,
    is_video_path,
    open_video,
    open_writer,
    parse_yuv_name,
    read_video_rgb,
    rgb_to_yuv420,
    yuv420_to_rgb,
)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def basketball() -> np.ndarray:
    """The first 4 BasketballPass frames, (4, 240, 416, 3) uint8."""
    if not BASKETBALL.is_dir():
        pytest.skip("../shared/datasets/video is absent (project data for tests and benchmarks)")
    return np.stack([np.asarray(Image.open(BASKETBALL / f"f{i:03d}.png").convert("RGB")) for i in range(1, 5)])


@pytest.fixture(scope="module")
def bunny_frame() -> np.ndarray:
    if not BUNNY.is_dir():
        pytest.skip("../shared/datasets/video is absent (project data for tests and benchmarks)")
    return np.asarray(Image.open(BUNNY / "f00001.png").convert("RGB"))


@pytest.fixture
def png_folder(tmp_path: Path, basketball: np.ndarray) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(basketball, start=1):
        Image.fromarray(frame).save(folder / f"f{i:03d}.png")
    return folder


def _write(path: Path | str, frames: np.ndarray, fps: Fraction | float = Fraction(50)) -> None:
    with open_writer(path, frames.shape[2], frames.shape[1], fps) as writer:
        for frame in frames:
            writer.write_rgb(frame)


def _one_line_error(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def test_png_folder_to_y4m_keeps_the_planes_of_the_frames(png_folder: Path, basketball: np.ndarray,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "clip.y4m"
    with open_video(png_folder) as reader:
        assert reader.info == VideoInfo(416, 240, Fraction(30), 4, "png")
        with open_writer(out, reader.info.width, reader.info.height, Fraction(50)) as writer:
            for planes in reader.frames_yuv420():
                writer.write_yuv420(*planes)
    assert out.read_bytes().startswith(b"YUV4MPEG2 W416 H240 F50:1 Ip A1:1 C420jpeg\n")
    with open_video(out) as reader:
        assert reader.info == VideoInfo(416, 240, Fraction(50), 4, "y4m")
        got = list(reader.frames_yuv420())
    assert len(got) == 4
    for frame, planes in zip(basketball, got, strict=True):
        for want, plane in zip(rgb_to_yuv420(frame), planes, strict=True):
            np.testing.assert_array_equal(plane, want)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_yuv_size_and_rate_come_from_a_uvg_name(basketball: np.ndarray, tmp_path: Path) -> None:
    named = tmp_path / "Basket_416x240_50fps_420_8bit_YUV.yuv"
    _write(named, basketball)
    assert named.stat().st_size == 4 * (416 * 240 * 3 // 2)
    with open_video(named) as reader:
        assert reader.info == VideoInfo(416, 240, Fraction(50), 4, "yuv")
        planes = list(reader.frames_yuv420())
    for frame, got in zip(basketball, planes, strict=True):
        for want, plane in zip(rgb_to_yuv420(frame), got, strict=True):
            np.testing.assert_array_equal(plane, want)
    # an unnamed file needs the size; its rate defaults to 30 without an error
    unnamed = tmp_path / "clip.yuv"
    unnamed.write_bytes(named.read_bytes())
    with open_video(unnamed, size=(416, 240)) as reader:
        assert reader.info == VideoInfo(416, 240, Fraction(30), 4, "yuv")
        for got, want in zip(reader.frames_yuv420(), planes, strict=True):
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
    video, info = read_video_rgb(unnamed, size=(416, 240), fps=25, max_frames=2)
    assert video.shape == (2, 240, 416, 3) and info.fps == 25 and info.frame_count == 2


def test_png_folder_round_trip_is_bit_identical(basketball: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(str(out) + "/", basketball[:3])
    assert sorted(p.name for p in out.iterdir()) == ["f00001.png", "f00002.png", "f00003.png"]
    video, info = read_video_rgb(out)
    np.testing.assert_array_equal(video, basketball[:3])
    assert info == VideoInfo(416, 240, Fraction(30), 3, "png")
    # an existing frame folder is replaced as a whole: no frame of the longer old clip is left
    _write(out, basketball[3:])
    video, _ = read_video_rgb(out)
    np.testing.assert_array_equal(video, basketball[3:])
    assert not list(tmp_path.glob(".*"))


def test_mp4_round_trip_is_near_lossless(basketball: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    _write(out, basketball[:3])
    with open_video(out) as reader:
        assert (reader.info.width, reader.info.height, reader.info.fps) == (416, 240, Fraction(50))
        assert reader.info.source_format == "av" and reader.info.frame_count == 3
        frames = list(reader.frames_yuv420())
    assert len(frames) == 3
    for frame, planes in zip(basketball[:3], frames, strict=True):
        for want, plane in zip(rgb_to_yuv420(frame), planes, strict=True):
            assert _psnr(plane, want) > 50  # libx264 crf 0: lossless in YUV
    video, _ = read_video_rgb(out)
    assert video.shape == (3, 240, 416, 3) and _psnr(video, basketball[:3]) > 35


def test_writer_leaves_nothing_when_the_block_raises(basketball: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "clip.y4m"
    with pytest.raises(RuntimeError), open_writer(out, 416, 240, 50) as writer:
        writer.write_rgb(basketball[0])
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_yuv_rgb_conversion_on_real_frames(basketball: np.ndarray, bunny_frame: np.ndarray) -> None:
    for frame in (basketball[0], bunny_frame[:360, :640]):
        y, u, v = rgb_to_yuv420(frame)
        assert y.shape == frame.shape[:2] and u.shape == v.shape == (frame.shape[0] // 2, frame.shape[1] // 2)
        assert 16 <= y.min() and y.max() <= 235
        assert _psnr(yuv420_to_rgb(y, u, v), frame) > 35
    odd = basketball[0, :239, :415]
    y, u, v = rgb_to_yuv420(odd)
    assert y.shape == (239, 415) and u.shape == v.shape == (120, 208)
    back = yuv420_to_rgb(y, u, v)
    assert back.shape == odd.shape and _psnr(back, odd) > 35


def test_odd_size_y4m_round_trip(basketball: np.ndarray, tmp_path: Path) -> None:
    odd = np.ascontiguousarray(basketball[:2, :239, :415])
    _write(tmp_path / "odd.y4m", odd)
    with open_video(tmp_path / "odd.y4m") as reader:
        assert (reader.info.width, reader.info.height, reader.info.frame_count) == (415, 239, 2)
        for frame, planes in zip(odd, reader.frames_yuv420(), strict=True):
            for want, plane in zip(rgb_to_yuv420(frame), planes, strict=True):
                np.testing.assert_array_equal(plane, want)


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    frame = 416 * 240 * 3 // 2
    truncated = tmp_path / "Clip_416x240_50.yuv"
    truncated.write_bytes(bytes(2 * frame + 100))
    with pytest.raises(InputError) as excinfo:
        open_video(truncated)
    assert "100 bytes left over after 2 frames" in _one_line_error(excinfo)

    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"YUV4MPEG2 Wabc H240 F50:1\nFRAME\n" + bytes(frame))
    with pytest.raises(InputError) as excinfo:
        open_video(bad)
    assert "Wabc" in _one_line_error(excinfo)

    bad.write_bytes(b"not a y4m file at all\n")
    with pytest.raises(InputError) as excinfo:
        open_video(bad)
    assert "YUV4MPEG2" in _one_line_error(excinfo)

    c444 = tmp_path / "c444.y4m"
    c444.write_bytes(b"YUV4MPEG2 W4 H4 F25:1 C444\nFRAME\n" + bytes(48))
    with pytest.raises(InputError) as excinfo:
        open_video(c444)
    assert "C444" in _one_line_error(excinfo)

    cut = tmp_path / "cut.y4m"
    cut.write_bytes(b"YUV4MPEG2 W4 H4 F25:1\nFRAME\n" + bytes(24) + b"FRAME\n" + bytes(10))
    with pytest.raises(InputError) as excinfo:
        open_video(cut)
    assert "truncated" in _one_line_error(excinfo)

    unknown = tmp_path / "clip.yuv"
    unknown.write_bytes(bytes(frame))
    with pytest.raises(InputError) as excinfo:
        open_video(unknown)
    assert "cannot infer the frame size" in _one_line_error(excinfo)

    ten_bit = tmp_path / "Beauty_416x240_120fps_420_10bit_YUV.yuv"
    ten_bit.write_bytes(bytes(2 * frame))
    with pytest.raises(InputError) as excinfo:
        open_video(ten_bit)
    assert "10-bit" in _one_line_error(excinfo)

    with pytest.raises(InputError) as excinfo:
        open_video(tmp_path / "missing.y4m")
    assert "not found" in _one_line_error(excinfo)

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as excinfo:
        open_video(tmp_path / "empty")
    assert "no PNG frames" in _one_line_error(excinfo)

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 this is not a video container " * 20)
    with pytest.raises(InputError) as excinfo:
        open_video(junk)
    _one_line_error(excinfo)

    with pytest.raises(InputError) as excinfo:
        open_writer(tmp_path / "clip.gif", 416, 240, 50)
    _one_line_error(excinfo)
    with pytest.raises(InputError) as excinfo:
        open_writer(tmp_path / "clip.mp4", 415, 240, 50)
    _one_line_error(excinfo)
    with pytest.raises(InputError) as excinfo:
        open_writer(tmp_path / "huge.y4m", 40000, 2, 50)
    _one_line_error(excinfo)


def test_png_frames_of_different_sizes_are_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 6)).save(tmp_path / "f1.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "f2.png")
    with pytest.raises(InputError) as excinfo:
        open_video(tmp_path)
    assert "differ in size" in _one_line_error(excinfo)


@pytest.mark.parametrize(("name", "expected"), [
    ("Beauty_1920x1080_120fps_420_8bit_YUV.yuv", (1920, 1080, Fraction(120))),
    ("BasketballPass_416x240_50.yuv", (416, 240, Fraction(50))),
    ("Traffic_2560x1600_30_crop.yuv", (2560, 1600, Fraction(30))),
    ("clip_1280x720_29.97fps.yuv", (1280, 720, Fraction(30000, 1001))),
    ("Name_1920x1080_420_8bit.yuv", (1920, 1080, Fraction(30))),  # 420 is the chroma layout, not a rate
    ("/data/uvg/Jockey_1920x1080_120fps_420_8bit_YUV.yuv", (1920, 1080, Fraction(120))),
    ("clip.yuv", None),
    ("Beauty_120fps.yuv", None),
])
def test_parse_yuv_name(name: str, expected: tuple[int, int, Fraction] | None) -> None:
    assert parse_yuv_name(name) == expected


def test_find_uvg_sequences(tmp_path: Path) -> None:
    for name in ("Beauty_1920x1080_120fps_420_8bit_YUV.yuv", "jockey_1920x1080_120fps_420_8bit_YUV.y4m",
                 "YachtRide_1920x1080_120fps_420_10bit_YUV.yuv", "YachtRide_1920x1080_120fps_420_8bit_YUV.yuv",
                 "BeautyAndTheBeast_1920x1080.yuv", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = find_uvg_sequences(tmp_path)
    assert found == {"Beauty": tmp_path / "Beauty_1920x1080_120fps_420_8bit_YUV.yuv",
                     "Jockey": tmp_path / "jockey_1920x1080_120fps_420_8bit_YUV.y4m",
                     "YachtRide": tmp_path / "YachtRide_1920x1080_120fps_420_8bit_YUV.yuv"}
    assert set(found) <= set(UVG_SEQUENCES)
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError) as excinfo:
        find_uvg_sequences(tmp_path / "none")
    _one_line_error(excinfo)


def test_is_video_path(tmp_path: Path) -> None:
    assert is_video_path("a/b/Beauty.yuv") and is_video_path("clip.MP4") and not is_video_path("photo.png")
    assert not is_video_path(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "f1.png")
    assert is_video_path(tmp_path)


def test_reading_streams_one_frame_at_a_time(tmp_path: Path) -> None:
    """A 10-frame 1080p file (31 MB, sparse zeros) is read with a peak of about one frame."""
    path = tmp_path / "Big_1920x1080_50fps_420_8bit_YUV.yuv"
    frame = 1920 * 1080 * 3 // 2
    with open(path, "wb") as f:
        f.truncate(10 * frame)
    with open_video(path) as reader:
        assert reader.info.frame_count == 10
        tracemalloc.start()
        try:
            count = sum(1 for _ in reader.frames_yuv420())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 10
    assert peak < 3 * frame  # ≪ the file's 10 frames
