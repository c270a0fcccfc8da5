"""``codec eval-video``: real frames coded by the live anchors, hyperprior-intra and nerv; metrics, JSON, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BASKETBALL
from PIL import Image

from neuralcodec.errors import InputError
from neuralcodec.eval.curves import bd_metrics, load_curve, plot_curves
from neuralcodec.eval.metrics import psnr_rgb
from neuralcodec.eval.video import (
    FRAME_METRICS,
    average_results,
    evaluate_clip,
    find_clips,
    load_clip,
    psnr_yuv,
    video_codec,
    video_metrics,
)
from neuralcodec.video_io import open_writer, rgb_to_yuv420

CRFS = [27, 42]


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """The first 4 BasketballPass frames, cropped to 64×48 (players and floor: texture and motion)."""
    if not BASKETBALL.is_dir():
        pytest.skip("../shared/datasets/video is absent (project data for tests and benchmarks)")
    full = np.stack([np.asarray(Image.open(BASKETBALL / f"f{i:03d}.png").convert("RGB")) for i in range(1, 5)])
    return np.ascontiguousarray(full[:, 100:148, 150:214])


def _write_y4m(path: Path, frames: np.ndarray) -> Path:
    with open_writer(path, frames.shape[2], frames.shape[1], 50) as writer:
        for frame in frames:
            writer.write_rgb(np.ascontiguousarray(frame))
    return path


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory, frames) -> Path:
    """Two Y4M clips: 64×48, and 63×47 (odd: x264 / x265 need padding)."""
    folder = tmp_path_factory.mktemp("clips")
    _write_y4m(folder / "court_64x48.y4m", frames)
    _write_y4m(folder / "court_63x47.y4m", frames[:, :47, :63])
    return folder


@pytest.fixture(scope="module")
def clip(clips_dir):
    return load_clip(clips_dir / "court_64x48.y4m")


@pytest.fixture(scope="module")
def results(clip) -> dict[str, dict]:
    """Every codec configuration's results on the 64×48 clip (the expensive part, once)."""
    return {
        "x264-medium": evaluate_clip(video_codec("x264-medium", CRFS), clip),
        "x265-medium": evaluate_clip(video_codec("x265-medium", CRFS), clip),
        "hyperprior-intra": evaluate_clip(video_codec("hyperprior-intra", [0]), clip),
        "nerv": evaluate_clip(video_codec("nerv", [0], epochs=4), clip),
    }


def test_clip_keeps_the_source_planes(clip, clips_dir):
    assert clip.source_format == "y4m" and clip.rgb.shape == (4, 48, 64, 3) and clip.fps == 50
    with open(clips_dir / "court_64x48.y4m", "rb") as f:  # the reference YUV is the file's own planes
        data = f.read()
    first = data.index(b"FRAME\n") + len(b"FRAME\n")
    assert np.array_equal(np.frombuffer(data[first:first + 64 * 48], np.uint8).reshape(48, 64), clip.yuv[0][0])


@pytest.mark.parametrize("name", ["x264-medium", "x265-medium"])
def test_classical_anchors_gain_quality_with_rate(results, name):
    r = results[name]["results"]
    assert r["crf"] == CRFS
    assert all(b > 0 for b in r["bpp"]) and r["bpp"][0] > r["bpp"][1]  # CRF 27 spends more than CRF 42
    for key in ("psnr-yuv", "psnr-y", "psnr-rgb"):
        assert r[key][0] > r[key][1] > 20
    assert r["bpp"][0] == pytest.approx(8 * r["bytes"][0] / (64 * 48 * 4))
    assert r["bitrate"][0] == pytest.approx(8 * r["bytes"][0] * 50 / 4 / 1000)
    assert all(s > 0 for s in r["encode_seconds"]) and all(f > 0 for f in r["decode_fps"])
    removed = results[name]["extra"][str(CRFS[0])]["sei_bytes_removed"]
    assert removed > 100 if name.startswith("x264") else removed == 0  # x264's version string; x265 runs info=0


def test_learned_codecs_are_measured_from_their_bytes(results):
    for name in ("hyperprior-intra", "nerv"):
        r = results[name]["results"]
        assert r["quality"] == [0] and r["bpp"][0] > 0 and r["decode_fps"][0] > 0
        assert 15 < r["psnr-rgb"][0] < 60 and 15 < r["psnr-yuv"][0] < 60
    assert results["nerv"]["extra"]["0"]["fit_seconds"] > 0


def test_psnr_yuv_is_the_weighted_mean_of_the_recorded_planes(results):
    for blob in results.values():
        r = blob["results"]
        for i, point in enumerate(r["crf" if "crf" in r else "quality"]):
            assert r["psnr-yuv"][i] == pytest.approx(psnr_yuv(r["psnr-y"][i], r["psnr-u"][i], r["psnr-v"][i]))
            frames = blob["per_frame"][str(point)]
            assert len(frames["psnr-y"]) == 4 and frames["ms-ssim-rgb"] == [None] * 4  # MS-SSIM needs ≥ 161 px
            for y, u, v, yuv in zip(frames["psnr-y"], frames["psnr-u"], frames["psnr-v"], frames["psnr-yuv"],
                                    strict=True):
                assert yuv == pytest.approx((6 * y + u + v) / 8)
            assert r["psnr-rgb"][i] == pytest.approx(np.mean(frames["psnr-rgb"]))


def test_video_metrics_definitions(frames):
    original = frames[:2]
    rng = np.random.default_rng(0)
    decoded = np.clip(original.astype(int) + rng.integers(-6, 7, original.shape), 0, 255).astype(np.uint8)
    m = video_metrics(original, decoded)
    for i in range(2):
        planes = {}
        for name, a, b in zip("yuv", rgb_to_yuv420(original[i]), rgb_to_yuv420(decoded[i]), strict=True):
            planes[name] = 10 * math.log10(255**2 / np.mean((a.astype(float) - b) ** 2))
            assert m["per_frame"][f"psnr-{name}"][i] == pytest.approx(planes[name])
        assert m["per_frame"]["psnr-yuv"][i] == pytest.approx((6 * planes["y"] + planes["u"] + planes["v"]) / 8)
        rgb = psnr_rgb(torch.from_numpy(decoded[i]).permute(2, 0, 1), torch.from_numpy(original[i]).permute(2, 0, 1))
        assert m["per_frame"]["psnr-rgb"][i] == pytest.approx(rgb)
    assert set(m["mean"]) == set(FRAME_METRICS)
    assert m["mean"]["psnr-yuv"] == pytest.approx(np.mean(m["per_frame"]["psnr-yuv"]))
    assert video_metrics(original, original)["mean"]["psnr-yuv"] == math.inf


def test_odd_sizes_are_padded_for_the_classical_anchors(clips_dir):
    odd = load_clip(clips_dir / "court_63x47.y4m")
    r = evaluate_clip(video_codec("x265-medium", [32]), odd)["results"]
    assert r["bpp"][0] == pytest.approx(8 * r["bytes"][0] / (63 * 47 * 4)) and r["psnr-yuv"][0] > 25


def test_json_loads_as_curves_plots_and_compares(results, tmp_path):
    files = {}
    for name, blob in results.items():
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(blob))
    x264, x265 = load_curve(str(files["x264-medium"])), load_curve(str(files["x265-medium"]))
    assert x264.dataset == "court_64x48" and x264.bpp.shape == (2,) and x264.metric("psnr-yuv") is not None
    assert x264.rate("kbps") is not None  # a video file carries CompressAI's bitrate too
    assert load_curve(str(files["nerv"])).bpp.shape == (1,)
    assert bd_metrics(x264, x265, "psnr-yuv")["metric"] == "psnr-yuv"
    plot_curves([load_curve(str(f)) for f in files.values()], tmp_path / "rd.png", "court")
    assert (tmp_path / "rd.png").stat().st_size > 0


def test_averaging_over_clips(results):
    blob = results["x264-medium"]
    other = json.loads(json.dumps(blob))
    other["dataset"], other["results"]["bpp"] = "other", [2 * b for b in blob["results"]["bpp"]]
    avg = average_results([blob, other], "both")
    assert avg["clips"] == ["court_64x48", "other"] and avg["results"]["crf"] == CRFS
    assert avg["results"]["bpp"] == pytest.approx([1.5 * b for b in blob["results"]["bpp"]])
    assert avg["results"]["psnr-yuv"] == pytest.approx(blob["results"]["psnr-yuv"])


def test_finding_clips(clips_dir, tmp_path):
    clip_file = clips_dir / "court_64x48.y4m"
    assert find_clips(clip_file) == [clip_file]
    assert find_clips(BASKETBALL) == [BASKETBALL]  # a PNG-frame folder is one clip
    assert find_clips(clips_dir) == sorted(clips_dir.glob("*.y4m"))
    uvg = tmp_path / "uvg"
    uvg.mkdir()
    for name in ("Beauty_64x48_120fps_420_8bit_YUV.yuv", "Beauty_64x48_120fps_420_10bit_YUV.yuv",
                 "Jockey_64x48_120fps_420_8bit_YUV.yuv", "notes.txt"):
        (uvg / name).write_bytes(bytes(64 * 48 * 3 // 2))
    assert [p.name for p in find_clips(uvg)] == ["Beauty_64x48_120fps_420_8bit_YUV.yuv",
                                                  "Jockey_64x48_120fps_420_8bit_YUV.yuv"]
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing.y4m", tmp_path / "empty", uvg / "notes.txt"):
        with pytest.raises(InputError):
            find_clips(bad)
    with pytest.raises(InputError):
        video_codec("x264-medium", [60])
    with pytest.raises(InputError):
        video_codec("nerv", [9])


def test_cli_writes_json_per_clip_and_the_average(run_cli, clips_dir, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("eval-video", clips_dir, "--codecs", "x264-medium,hyperprior-intra", "--crfs", "27,42",
                   "--hyperprior-qualities", "0", "-o", out, "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for clip_name in ("court_63x47", "court_64x48"):
        for codec in ("x264-medium", "hyperprior-intra"):
            blob = json.loads((out / clip_name / f"{codec}.json").read_text())
            assert blob["name"] == codec and blob["dataset"] == clip_name and blob["frames"] == 4
    avg = json.loads((out / "x264-medium.json").read_text())
    assert avg["clips"] == ["court_63x47", "court_64x48"] and len(avg["results"]["bpp"]) == 2
    assert "mean of 2 clips" in proc.stdout and "crf27" in proc.stdout and "PSNR-YUV" in proc.stdout
    compare = run_cli("compare", out / "x264-medium.json", out / "court_64x48" / "x264-medium.json")
    assert compare.returncode == 0 and "psnr-rgb" in compare.stdout, compare.stderr


@pytest.mark.parametrize("case", ["missing", "empty", "codec"])
def test_cli_bad_input_is_one_line(run_cli, clips_dir, tmp_path, case):
    (tmp_path / "empty").mkdir()
    source = {"missing": tmp_path / "missing.y4m", "empty": tmp_path / "empty", "codec": clips_dir}[case]
    extra = ["--codecs", "x266"] if case == "codec" else []
    proc = run_cli("eval-video", source, "-o", tmp_path / "out", *extra)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codec: error:"), proc.stderr
    assert not (tmp_path / "out").exists()
