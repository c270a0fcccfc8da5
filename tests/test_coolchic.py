"""The overfitted image codec (``coolchic``): exact Laplace tables, real fits of real crops through files on
disk, exact and deterministic decoding, the CLI, the API and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.bitstream import unpack
from neuralcodec.coding import decode_bytes, encode_file
from neuralcodec.entropy.laplace import (
    NUM_TABLES,
    PHASES,
    SCALE_INDEX_MAX,
    SCALE_INDEX_MIN,
    LaplaceTables,
    decode_laplace,
    encode_laplace,
    laplace_freqs,
    table_id,
)
from neuralcodec.entropy.rans import RansDecoder, RansEncoder
from neuralcodec.entropy.tables import TOTAL
from neuralcodec.errors import DecodeError

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS = 40  # a short fit: enough to leave the untrained state, seconds on a small crop


def _crop(path: Path, box: tuple[int, int, int, int], grey: bool = False) -> Image.Image:
    with Image.open(path) as img:
        return img.crop(box).convert("L" if grey else "RGB")


@pytest.fixture(scope="module")
def crops(tmp_path_factory, kodak_dir) -> dict[str, Path]:
    """Real crops of odd sizes, one grayscale."""
    folder = tmp_path_factory.mktemp("coolchic")
    out = {}
    for name, box, grey in (("odd", (101, 203, 101 + 53, 203 + 37), False),
                            ("grey", (300, 100, 300 + 41, 100 + 30), True)):
        out[name] = folder / f"{name}.png"
        _crop(kodak_dir / "kodim23.png", box, grey).save(out[name])
    return out


@pytest.fixture(scope="module")
def coded(crops) -> dict[str, tuple[bytes, torch.Tensor]]:
    """Each crop fitted for a few iterations: (file bytes, the reconstruction the encoder promises)."""
    out = {}
    for name, path in crops.items():
        enc = encode_file(path, "coolchic", quality=2, options={"iterations": ITERATIONS})
        out[name] = (enc.data, enc.reconstruction)
    return out


# --- the exact Laplace tables -----------------------------------------------------------------------------------
def test_every_laplace_table_is_a_valid_distribution_and_phase_zero_is_symmetric():
    for j in (SCALE_INDEX_MIN, -20, -5, 0, 7, 20, SCALE_INDEX_MAX):
        for phase in range(PHASES):
            freqs, radius = laplace_freqs(j, phase)
            assert sum(freqs) == TOTAL and min(freqs) >= 1 and len(freqs) == 2 * radius + 3
        freqs, radius = laplace_freqs(j, 0)
        body = freqs[:-1]  # -R … R+1: symmetric around 0 over -R … R
        assert body[: 2 * radius + 1] == body[2 * radius :: -1]
    # a larger scale spreads the mass: the most probable value gets less of it
    assert max(laplace_freqs(-8, 0)[0]) > max(laplace_freqs(0, 0)[0]) > max(laplace_freqs(8, 0)[0])


def test_laplace_coding_round_trips_with_escapes_and_many_tables():
    rng = np.random.default_rng(1)
    encoder, tables, steps = RansEncoder(), LaplaceTables(), []
    for _ in range(50):
        n = int(rng.integers(1, 200))
        j = rng.integers(SCALE_INDEX_MIN - 3, SCALE_INDEX_MAX + 3, n)
        phase = rng.integers(0, PHASES, n)
        means = rng.integers(-30, 30, n)
        values = means + np.round(rng.laplace(0, np.exp(np.clip(j, SCALE_INDEX_MIN, SCALE_INDEX_MAX) / 8))).astype(
            np.int64)
        values[rng.random(n) < 0.02] += 100_000  # far outside any table: escapes
        ids = table_id(j, phase)
        assert ids.min() >= 0 and ids.max() < NUM_TABLES
        steps.append((values, means, ids))
        encode_laplace(encoder, tables, values, means, ids)
    data = encoder.finish()
    decoder, fresh = RansDecoder(data), LaplaceTables()  # the decoder builds its own tables
    for values, means, ids in steps:
        np.testing.assert_array_equal(decode_laplace(decoder, fresh, means, ids), values)
    decoder.finish()


# --- real fits through files -------------------------------------------------------------------------------------
def test_fitted_crops_decode_to_exactly_the_promised_pixels(coded, crops, tmp_path):
    for name, (data, promised) in coded.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        image, header = decode_bytes(path.read_bytes())
        assert torch.equal(image, promised)
        original = np.asarray(Image.open(crops[name]).convert("RGB"), dtype=np.float64)
        mse = np.mean((image.permute(1, 2, 0).numpy().astype(np.float64) - original) ** 2)
        assert 10 * np.log10(255**2 / mse) > 18  # a real fit, not an untrained model (≈ 10 dB)
        assert (header.width, header.height) == Image.open(crops[name]).size
        assert header.channels == (1 if name == "grey" else 3)


def test_upsampling_and_synthesis_in_bands_equal_one_pass(coded):
    from neuralcodec.codecs.coolchic.codec import read_tiles
    from neuralcodec.codecs.coolchic.exact import synthesize, upsample
    from neuralcodec.codecs.registry import get_family

    data, _ = coded["odd"]
    header, chunks = unpack(data)
    _, model = next(read_tiles(get_family("coolchic").streams_from_chunks(chunks), header.height, header.width))
    features = upsample(model.grids, model.modules["upsampling"])
    whole = synthesize(features, model.modules["synthesis"], model.arch.synthesis_residual, band=10**6)
    for band in (1, 2, 5, 16):
        np.testing.assert_array_equal(synthesize(features, model.modules["synthesis"],
                                                 model.arch.synthesis_residual, band=band), whole)


def test_decoding_is_immune_to_last_bit_noise_in_every_matrix_product(coded, monkeypatch):
    """Another BLAS, CPU or GPU might return each product's sums a few ULPs off: with ±4 ULPs of noise on every
    matrix product of the entropy model and synthesis, the file decodes to exactly the same pixels."""
    from neuralcodec.codecs.coolchic import exact

    data, promised = coded["odd"]
    rng = np.random.default_rng(0)

    def noisy_numpy(a, b):
        out = np.matmul(a, b)
        return out + rng.integers(-4, 5, out.shape) * np.spacing(out)

    def noisy_torch(a, b):
        out = torch.matmul(a, b)
        return out + torch.from_numpy(rng.integers(-4, 5, tuple(out.shape)) * np.spacing(out.numpy()))

    monkeypatch.setattr(exact, "numpy_products", noisy_numpy)
    monkeypatch.setattr(exact, "torch_products", noisy_torch)
    image, _ = decode_bytes(data)
    assert torch.equal(image, promised)


def test_decoding_is_identical_in_fresh_processes_with_one_and_two_threads(coded, tmp_path):
    data, promised = coded["odd"]
    path = tmp_path / "odd.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(promised.numpy().tobytes()).hexdigest()
    script = ("import hashlib, sys, torch; torch.set_num_threads(int(sys.argv[2])); "
              "from neuralcodec.coding import decode_bytes; "
              "img, _ = decode_bytes(open(sys.argv[1], 'rb').read()); "
              "print(hashlib.sha256(img.numpy().tobytes()).hexdigest())")
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", script, str(path), threads], capture_output=True, text=True,
                             env=env, cwd=ROOT, check=True).stdout.strip()
        assert out == expected


def test_damaged_files_are_refused_in_one_error(coded):
    data, _ = coded["odd"]
    header, chunks = unpack(data)
    # flip bytes inside the latents stream, then fix the CRC so the damage reaches the decoder
    import zlib

    body = bytearray(data[:-4])
    start = len(body) - len(chunks[2])
    for i in range(start + 3, len(body), 17):
        body[i] ^= 0x5A
    damaged = bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "big")
    with pytest.raises(DecodeError):
        decode_bytes(damaged)
    with pytest.raises(DecodeError):
        decode_bytes(data[:-9] + data[-4:])


def test_api_encodes_and_decodes_a_fitted_image(crops):
    import neuralcodec

    image = Image.open(crops["grey"])
    data = neuralcodec.encode(np.asarray(image), codec="coolchic", quality=0, iterations=10)
    decoded = neuralcodec.decode(data)
    assert decoded.mode == "L" and decoded.size == image.size
    with pytest.raises(Exception, match="no model file"):
        neuralcodec.encode(np.asarray(image), codec="coolchic", model="x.pt")


def test_cli_encode_decode_info_and_bad_flags(crops, tmp_path, run_cli):
    out = tmp_path / "odd.bin"
    proc = run_cli("encode", crops["odd"], "-o", out, "--codec", "coolchic", "--quality", "1", "--iterations", "12",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "coolchic q1" in proc.stdout and not Path(str(out) + ".fit.ckpt").exists()
    assert "GPU available" not in proc.stderr and "litlogger" not in proc.stderr
    info = run_cli("info", out)
    assert "fit iterations: 12" in info.stdout and "latent grids: 7" in info.stdout
    png = tmp_path / "odd.png"
    assert run_cli("decode", out, "-o", png).returncode == 0
    assert Image.open(png).size == (53, 37)
    for flags, message in ((["--quality", "9"], "quality must be one of"),
                           (["--model", "x.pt"], "takes no --model"),
                           (["--preset", "ultra"], "invalid choice"),
                           (["--iterations", "0"], "at least 1")):
        proc = run_cli("encode", crops["odd"], "-o", tmp_path / "x.bin", "--codec", "coolchic", *flags)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert message in proc.stderr.strip().splitlines()[-1]  # one error line (argparse prints usage first)
    proc = run_cli("encode", crops["odd"], "-o", tmp_path / "x.bin", "--preset", "fast")  # not hyperprior's
    assert proc.returncode != 0 and "--preset is an option of coolchic" in proc.stderr


def test_evaluation_keeps_files_and_resumes_without_encoding_again(crops, tmp_path):
    from neuralcodec.eval.run import eval_codec, evaluate

    codec = eval_codec("coolchic", encode_options={"iterations": 8})
    first = evaluate(codec, [crops["odd"]], tmp_path, qualities=[0])
    kept = tmp_path / "odd-q0.bin"
    record = tmp_path / "odd-q0.json"
    assert kept.is_file() and record.is_file()
    stamp = kept.stat().st_mtime_ns
    second = evaluate(codec, [crops["odd"]], tmp_path, qualities=[0])  # resumes: decodes, does not fit again
    assert kept.stat().st_mtime_ns == stamp
    for key in ("bpp", "psnr-rgb", "encoding_time"):
        assert second["results"][key] == first["results"][key]
    assert second["results"]["bpp"][0] == pytest.approx(8 * kept.stat().st_size / (53 * 37))
    other = eval_codec("coolchic", encode_options={"iterations": 9})  # other settings: fitted again
    evaluate(other, [crops["odd"]], tmp_path, qualities=[0])
    assert kept.stat().st_mtime_ns != stamp and "(9 iterations)" in json.loads(record.read_text())["codec"]


def test_avif444_anchor_codes_a_real_image(crops):
    from neuralcodec.eval.run import eval_codec
    from neuralcodec.image_io import read_image

    codec = eval_codec("avif444")
    image, _ = read_image(crops["odd"])
    data = codec.encode(image, 50)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and (decoded.float() - image.float()).abs().mean() < 12


def test_a_large_image_is_fitted_and_decoded_tile_by_tile(kodak_dir):
    from neuralcodec.codecs.coolchic.codec import CoolChicDecoder, read_model
    from neuralcodec.training.coolchic_fit import encode_image

    image = torch.from_numpy(np.array(_crop(kodak_dir / "kodim23.png", (10, 20, 310, 290)))).permute(2, 0, 1)
    fitted = encode_image(image.contiguous(), quality=1, iterations=4, tile=256)  # 300×270: 2×2 tiles
    tile, headers = read_model(fitted.streams, 270, 300)
    assert tile == 256 and [h.box for h in headers] == [(0, 0, 256, 256), (0, 256, 256, 44), (256, 0, 14, 256),
                                                        (256, 256, 14, 44)]
    assert torch.equal(CoolChicDecoder(fitted.streams, 270, 300).decompress(), fitted.reconstruction)
    with pytest.raises(ValueError, match="tile size"):
        encode_image(image.contiguous(), quality=1, iterations=1, tile=64)


def test_an_interrupted_fit_resumes_from_its_checkpoint(crops, tmp_path):
    from neuralcodec.codecs.coolchic.net import CoolChicArch
    from neuralcodec.image_io import read_image
    from neuralcodec.training.coolchic_fit import fit_image

    image, _ = read_image(crops["odd"])
    checkpoint = tmp_path / "odd.bin.fit.ckpt"
    # stopped after 4 of 10 iterations (as by an interrupt), with its checkpoint written
    _, seconds, done = fit_image(image, CoolChicArch(), 0.004, 10, checkpoint=checkpoint,
                                 trainer_args={"max_steps": 4})
    assert done == 4 and torch.load(checkpoint, weights_only=True)["global_step"] == 4
    _, total, done = fit_image(image, CoolChicArch(), 0.004, 10, checkpoint=checkpoint)
    assert done == 10 and total >= seconds  # the first run's seconds carried over
    reports = []  # a finished fit's checkpoint: a rerun takes no step at all
    _, _, done = fit_image(image, CoolChicArch(), 0.004, 10, checkpoint=checkpoint, report=reports.append)
    assert done == 10 and reports == []
    other = tmp_path / "other.ckpt"  # a checkpoint of other settings is not resumed from
    fit_image(image, CoolChicArch(), 0.004, 3, checkpoint=other)
    _, _, done = fit_image(image, CoolChicArch(), 0.008, 3, checkpoint=other)
    assert done == 3


def test_laplace_tables_do_not_depend_on_the_callers_decimal_context():
    import decimal

    expected = [laplace_freqs(j, phase) for j in (-30, 0, 25) for phase in (0, 5, 8, 13)]
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, decimal.ROUND_FLOOR
        assert [laplace_freqs(j, phase) for j in (-30, 0, 25) for phase in (0, 5, 8, 13)] == expected
