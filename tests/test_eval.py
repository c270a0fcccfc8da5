"""RD evaluation: JSON from real files, BD metrics, plots, anchors, weight-free metrics, LPIPS plumbing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodec.codecs.registry import model_path, shipped_qualities
from neuralcodec.eval.anchors import anchors
from neuralcodec.eval.curves import Curve, bd_metrics, load_curve, shipped_anchor_names
from neuralcodec.eval.lpips_metric import load_lpips, lpips_distance
from neuralcodec.eval.metrics import PatchSwd, ms_ssim, ms_ssim_db, patch_swd, psnr_rgb, psnr_y
from neuralcodec.eval.rd import interpolate_at_rate
from neuralcodec.image_io import read_image


@pytest.fixture(scope="module")
def two_images(tmp_path_factory, sample_path):
    from PIL import Image

    folder = tmp_path_factory.mktemp("two")
    img = Image.open(sample_path).convert("RGB")
    img.crop((0, 0, 256, 192)).save(folder / "a.png")
    img.crop((256, 192, 512, 384)).save(folder / "b.png")
    return folder


@pytest.mark.parametrize("codec,qualities", [("jpeg", ["30", "70"]), ("hyperprior", [])])
def test_eval_json_bpp_equals_files_on_disk(codec, qualities, two_images, tmp_path, run_cli):
    out, keep = tmp_path / "r.json", tmp_path / "files"
    args = ["eval", "--codec", codec, "--dataset", two_images, "--out", out, "--keep-files", keep]
    if qualities:
        args += ["--quality", *qualities]
    proc = run_cli(*args, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    blob = json.loads(out.read_text())
    res = blob["results"]
    assert blob["name"] == codec and set(res) >= {"bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb", "ms-ssim-db",
                                                    "lpips", "swd", "encoding_time", "decoding_time"}
    assert len(res["bpp"]) == len(res["quality"]) >= 1
    for q, rows in blob["per_image"].items():
        assert [r["image"] for r in rows] == ["a.png", "b.png"]
        for r in rows:
            files = list((keep / codec / f"q{q}").glob(Path(r["image"]).stem + ".*"))
            assert len(files) == 1 and r["bytes"] == files[0].stat().st_size
            assert r["bpp"] == pytest.approx(8 * files[0].stat().st_size / (256 * 192))
        assert res["bpp"][res["quality"].index(int(q))] == pytest.approx(np.mean([r["bpp"] for r in rows]))
    assert blob["lpips_note"] and res["lpips"][0] is None  # no AlexNet weights on this machine
    assert load_curve(str(out)).bpp.shape == (len(res["quality"]),)


def test_eval_of_model_files_matches_the_shipped_sweep(two_images, tmp_path, run_cli):
    """``--model FILE...`` (a fresh training output) codes exactly as the same file shipped as a rate point."""
    shipped, given = tmp_path / "shipped.json", tmp_path / "given.json"
    files = [str(model_path("hyperprior", q)) for q in shipped_qualities("hyperprior")[:2]]
    for args in (["--codec", "hyperprior", "--quality", *map(str, shipped_qualities("hyperprior")[:2]),
                  "--out", shipped], ["--model", *files, "--out", given]):
        proc = run_cli("eval", "--dataset", two_images, "--no-lpips", *args, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = (json.loads(p.read_text())["results"] for p in (shipped, given))
    assert a["quality"] == b["quality"] and a["bpp"] == b["bpp"] and a["psnr-rgb"] == b["psnr-rgb"]
    proc = run_cli("eval", "--dataset", two_images, "--out", tmp_path / "x.json", "--model", files[0], files[0])
    assert proc.returncode != 0 and "both rate point" in proc.stderr and "Traceback" not in proc.stderr


def _curve(name, bpp, psnr):
    return Curve(name, np.asarray(bpp, float), {"psnr-rgb": np.asarray(psnr, float)})


def test_bd_rate_against_itself_is_zero():
    c = load_curve("compressai:bmshj2018-hyperprior")
    r = bd_metrics(c, c, "psnr-rgb")
    assert abs(r["bd_rate"]) < 1e-9 and abs(r["bd_quality"]) < 1e-9


@pytest.mark.parametrize("factor", [0.8, 1.25, 0.5])
def test_known_rate_factor_gives_expected_bd_rate(factor):
    anchor = load_curve("compressai:bmshj2018-hyperprior")
    shifted = Curve("shifted", anchor.bpp * factor, dict(anchor.metrics))
    r = bd_metrics(anchor, shifted, "psnr-rgb")
    assert r["bd_rate"] == pytest.approx(100 * (factor - 1), abs=0.1)


def test_published_bd_rate_example():
    # The FAU-LMS bjontegaard package's example data (x265 presets). The original VCEG-M33 cubic fit gives
    # −4.4205 %, the value an independent implementation of VCEG-M33 also publishes for these points.
    anchor = _curve("a", [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
    test = _curve("t", [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
    assert bd_metrics(anchor, test, "psnr-rgb", method="cubic")["bd_rate"] == pytest.approx(-4.4205, abs=1e-3)
    assert bd_metrics(anchor, test, "psnr-rgb")["bd_rate"] == pytest.approx(-4.42, abs=0.05)  # pchip


def test_interpolation_at_rate_inside_and_beyond_the_curve():
    bpp, psnr = [0.25, 0.5, 1.0], [28.0, 30.0, 33.0]
    # Piecewise linear in log(bpp): halfway in log between 0.5 and 1.0 is sqrt(0.5).
    assert interpolate_at_rate(bpp, psnr, math.sqrt(0.5)) == pytest.approx(31.5)
    with pytest.raises(ValueError, match="outside the curve's range"):
        interpolate_at_rate(bpp, psnr, 2.0)
    # Extrapolation extends the end segments (3 dB per doubling at the top, 2 dB at the bottom).
    assert interpolate_at_rate(bpp, psnr, 2.0, extrapolate=True) == pytest.approx(36.0)
    assert interpolate_at_rate(bpp, psnr, 0.125, extrapolate=True) == pytest.approx(26.0)


def test_non_overlapping_curves_are_reported():
    a, b = _curve("a", [0.1, 0.2, 0.3, 0.4], [26, 28, 30, 31]), _curve("b", [1, 2, 3, 4], [36, 38, 40, 41])
    r = bd_metrics(a, b, "psnr-rgb")
    assert r["bd_rate"] is None and "overlap" in r["note"]


def test_published_curves_ship_with_their_licence():
    names = shipped_anchor_names()
    for needed in ["bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor", "vtm", "bpg"]:
        assert needed in names
        assert len(load_curve(f"compressai:{needed}").bpp) >= 4
    anchor_dir = Path(__file__).resolve().parent.parent / "neuralcodec" / "anchors"
    assert "InterDigital" in (anchor_dir / "LICENSE").read_text()


def test_compare_and_plot_cli(run_cli, tmp_path):
    proc = run_cli("compare", "compressai:jpeg", "compressai:bmshj2018-hyperprior", "compressai:vtm")
    assert proc.returncode == 0, proc.stderr
    assert "bmshj2018-hyperprior" in proc.stdout and "psnr-rgb" in proc.stdout and "ms-ssim-db" in proc.stdout
    png = tmp_path / "rd.png"
    proc = run_cli("plot", "compressai:jpeg", "compressai:bmshj2018-hyperprior", "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "x265"])
def test_live_anchor_roundtrip(name, sample_path):
    image, _ = read_image(sample_path)
    image = image[:, :121, :157].contiguous()  # odd sizes on purpose
    a = anchors()[name]
    low, high = a.qualities[1], a.qualities[-2]
    data_low, data_high = a.encode(image, low), a.encode(image, high)
    dec_low, dec_high = a.decode(data_low), a.decode(data_high)
    assert dec_low.shape == image.shape == dec_high.shape
    assert len(data_high) > len(data_low)
    assert psnr_rgb(dec_high, image) > psnr_rgb(dec_low, image) > 20


@pytest.mark.parametrize("name", ["avif", "x265"])
def test_downscaled_anchor_spends_fewer_bytes_at_the_same_setting(name, sample_path):
    from neuralcodec.eval.anchors import anchor_by_name

    image, _ = read_image(sample_path)
    image = image[:, :121, :157].contiguous()
    full, half = anchor_by_name(name), anchor_by_name(f"{name}@0.5")
    q = full.qualities[len(full.qualities) // 2]
    data_full, data_half = full.encode(image, q), half.encode(image, q)
    decoded = half.decode(data_half)
    assert decoded.shape == image.shape and half.name == f"{name}@0.5"
    assert len(data_half) < len(data_full) and psnr_rgb(decoded, image) > 20
    with pytest.raises(ValueError, match="scale"):
        anchor_by_name(f"{name}@1.5")


def test_weight_free_metrics(sample_path):
    image, _ = read_image(sample_path)
    jpeg = anchors()["jpeg"]
    worse, better = (jpeg.decode(jpeg.encode(image, q)) for q in (10, 80))
    assert patch_swd(image, image) == 0
    assert patch_swd(image, worse) > patch_swd(image, better) > 0
    assert ms_ssim(image, worse) < ms_ssim(image, better) < 1
    assert ms_ssim(image[:, :100, :100], better[:, :100, :100]) is None
    assert math.isinf(psnr_y(image, image)) and psnr_y(image, better) > psnr_y(image, worse)


@pytest.fixture
def one_thread():
    """One torch thread, as evaluation measures (several times faster than two on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name,quality", [("kodim01.png", 95), ("kodim23.png", 40)])
def test_float32_metrics_match_the_float64_reference(name, quality, kodak_dir, one_thread):
    """The fast float32 metrics report what the float64 reference (pytorch_msssim itself for MS-SSIM) does."""
    image, _ = read_image(kodak_dir / name)
    decoded = anchors()["jpeg"].decode(anchors()["jpeg"].encode(image, quality))
    for metric in (psnr_rgb, psnr_y):
        assert metric(decoded, image) == pytest.approx(metric(decoded, image, dtype=torch.float64), abs=1e-3)
    fast, reference = ms_ssim(decoded, image), ms_ssim(decoded, image, dtype=torch.float64)
    assert ms_ssim_db(fast) == pytest.approx(ms_ssim_db(reference), abs=1e-3)
    assert fast == pytest.approx(reference, abs=1e-6)
    swd = PatchSwd(image)
    value = swd(decoded)
    assert value == patch_swd(image, decoded)  # the original's side is only cached
    assert value == pytest.approx(patch_swd(image, decoded, dtype=torch.float64), rel=1e-5)
    assert swd(image) == 0


def _without_times(blob):
    for rows in blob["per_image"].values():
        for row in rows:
            del row["encoding_time"], row["decoding_time"]
    del blob["results"]["encoding_time"], blob["results"]["decoding_time"]
    return blob


def test_eval_in_worker_processes_gives_the_serial_numbers(kodak_dir, tmp_path, run_cli):
    blobs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.json"
        proc = run_cli("eval", "--codec", "jpeg", "--dataset", kodak_dir / "kodim0[12].png", "--quality", "20", "80",
                       "--no-lpips", "--out", out, "--jobs", jobs, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        blobs.append(_without_times(json.loads(out.read_text())))
    assert blobs[0] == blobs[1]  # every number, bit for bit, in the same order
    assert blobs[1]["images"] == ["kodim01.png", "kodim02.png"] and blobs[1]["results"]["quality"] == [20, 80]


def test_a_codec_failing_in_a_worker_is_a_one_line_error(tmp_path, run_cli):
    from PIL import Image

    Image.new("RGB", (20000, 2)).save(tmp_path / "a.png")  # wider than WebP allows
    Image.new("RGB", (64, 64)).save(tmp_path / "b.png")
    out = tmp_path / "r.json"
    proc = run_cli("eval", "--codec", "webp", "--quality", "50", "--dataset", tmp_path, "--no-lpips", "--jobs", "2",
                   "--out", out)
    assert proc.returncode == 1 and not out.exists() and "Traceback" not in proc.stderr
    assert "codec: error: webp cannot code a.png at quality 50" in proc.stderr


def test_patch_swd_of_images_too_small_for_its_pyramid_is_nan():
    image = torch.arange(3 * 2 * 300, dtype=torch.int32).reshape(3, 2, 300).remainder(256).to(torch.uint8)
    assert math.isnan(patch_swd(image, image)) and math.isnan(patch_swd(image[:, :, :8], image[:, :, :8]))


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_eval_jobs_must_be_positive(jobs, two_images, tmp_path, run_cli):
    proc = run_cli("eval", "--codec", "jpeg", "--dataset", two_images, "--out", tmp_path / "r.json", "--jobs", jobs)
    assert proc.returncode != 0 and not (tmp_path / "r.json").exists()
    assert proc.stderr.strip() == f"codec: error: --jobs must be at least 1, not {jobs}"


def test_lpips_plumbing_with_random_backbone_only(sample_path):
    model, note = load_lpips(random_backbone=True)
    assert "plumbing" in note
    image, _ = read_image(sample_path)
    other = torch.flip(image, dims=[2])
    assert lpips_distance(model, image, image) == pytest.approx(0, abs=1e-6)
    assert lpips_distance(model, image, other) > 0
