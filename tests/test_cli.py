"""The ``codec`` command end to end in subprocesses, including every bad-input case."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neuralcodec.bitstream import Header, pack, unpack


def assert_clean_failure(proc, *absent_outputs):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codec: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for path in absent_outputs:
        assert not path.exists(), f"partial output {path} left behind"
        assert not list(path.parent.glob(f".{path.name}.*")), "temporary file left behind"


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, sample_path):
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("enc") / "sample.bin"
    proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "encode", str(sample_path), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_encode_decode_info_list_end_to_end(run_cli, encoded, sample_path, tmp_path):
    out_png = tmp_path / "decoded.png"
    proc = run_cli("decode", encoded, "-o", out_png)
    assert proc.returncode == 0, proc.stderr
    a = np.asarray(Image.open(sample_path).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(out_png), dtype=np.float64)
    assert a.shape == b.shape
    assert 10 * np.log10(255**2 / np.mean((a - b) ** 2)) > 20
    info = run_cli("info", encoded)
    assert info.returncode == 0
    for field in ["format version", "codec family", "model id", "weights hash", "rate point", "height", "width",
                  "channels", "bit depth", "chunks", "crc32"]:
        assert field in info.stdout
    header, _ = unpack(encoded.read_bytes())
    assert f"{header.weights_hash.hex()}" in info.stdout and "512" in info.stdout
    listing = run_cli("list")
    assert listing.returncode == 0 and "hyperprior" in listing.stdout
    assert run_cli("--help").returncode == 0 and "encode" in run_cli("--help").stdout


def test_bad_inputs_to_encode(run_cli, tmp_path, sample_path):
    out = tmp_path / "out.bin"
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is text, not an image\n")
    assert_clean_failure(run_cli("encode", tmp_path / "missing.png", "-o", out), out)
    assert_clean_failure(run_cli("encode", tmp_path / "empty.png", "-o", out), out)
    assert_clean_failure(run_cli("encode", tmp_path / "notes.png", "-o", out), out)
    assert_clean_failure(run_cli("encode", sample_path, "-o", out, "--codec", "nope"), out)
    assert_clean_failure(run_cli("encode", sample_path, "-o", out, "--quality", "42"), out)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert_clean_failure(run_cli("encode", sample_path, "-o", blocker / "out.bin"))
    assert_clean_failure(run_cli("encode", sample_path, "-o", tmp_path / "no" / "such" / "dir.bin"))
    assert_clean_failure(run_cli("encode", sample_path, "-o", sample_path))  # never overwrite the input


def _rewrite_header(data: bytes, **changes) -> bytes:
    header, chunks = unpack(data)
    fields = {k: getattr(header, k) for k in Header.__dataclass_fields__}
    fields.update(changes)
    return pack(Header(**fields), chunks)


def test_bad_bitstreams_to_decode(run_cli, encoded, tmp_path):
    data = encoded.read_bytes()
    out = tmp_path / "out.png"
    cases = {
        "zero.bin": b"",
        "truncated.bin": data[: len(data) // 2],
        "flipped.bin": data[:100] + bytes([data[100] ^ 0x10]) + data[101:],
        "magic.bin": b"\x89PNG" + data[4:],
        "family.bin": _rewrite_header(data, family_id=99),
        "quality.bin": _rewrite_header(data, rate_point=42),
        "hash.bin": _rewrite_header(data, weights_hash=b"\0\0\0\0"),
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        assert_clean_failure(run_cli("decode", tmp_path / name, "-o", out), out)
    assert_clean_failure(run_cli("decode", tmp_path / "missing.bin", "-o", out), out)
    assert_clean_failure(run_cli("info", tmp_path / "truncated.bin"))
    assert_clean_failure(run_cli("decode", encoded, "-o", tmp_path / "missing_dir" / "x.png"))


def test_existing_output_replaced_only_by_a_complete_file(run_cli, encoded, tmp_path):
    out = tmp_path / "keep.png"
    out.write_bytes(b"previous content")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(encoded.read_bytes()[:-7])
    assert run_cli("decode", bad, "-o", out).returncode != 0
    assert out.read_bytes() == b"previous content"
    assert run_cli("decode", encoded, "-o", out).returncode == 0
    assert Image.open(out).size == (512, 384)


def test_quality_with_model_is_refused(run_cli, sample_path, tmp_path):
    out = tmp_path / "x.bin"
    model = "neuralcodec/weights/hyperprior-q2.pt"
    proc = run_cli("encode", sample_path, "-o", out, "--quality", "2", "--model", model)
    assert_clean_failure(proc, out)
    assert "--quality and --model" in proc.stderr


def test_export_of_a_non_checkpoint_fails_cleanly(run_cli, sample_path, tmp_path):
    out = tmp_path / "m.pt"
    proc = run_cli("export", sample_path, "-o", out)
    assert_clean_failure(proc, out)


@pytest.mark.parametrize("args", [
    ["plot", "docs/results/jpeg-kodak.json", "-o", "{tmp}/plot.xyz"],
    ["eval", "--codec", "hyperprior", "--quality", "9", "--dataset", "samples", "--out", "{tmp}/e.json"],
    ["eval", "--codec", "webp", "--quality", "-5", "--dataset", "samples", "--out", "{tmp}/e.json"],
    ["eval", "--codec", "jpeg", "--quality", "150", "--dataset", "samples", "--out", "{tmp}/e.json"],
    ["compare", "docs/results/jpeg-kodak.json"],
    ["compare", "docs/results/jpeg-kodak.json", "{tmp}/one-point.json"],
    ["train", "--config", "{tmp}/missing.yaml"],
], ids=["plot-suffix", "eval-quality-9", "webp-negative", "jpeg-150", "compare-one-curve", "compare-one-point",
        "train-missing-config"])
def test_bad_arguments_fail_in_one_line(run_cli, tmp_path, args):
    import json

    (tmp_path / "one-point.json").write_text(json.dumps({"name": "one", "results": {"bpp": [0.5], "psnr-rgb": [30]}}))
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert_clean_failure(proc, tmp_path / "plot.xyz", tmp_path / "e.json")


def test_plot_without_suffix_writes_png_titled_by_dataset(run_cli, tmp_path):
    proc = run_cli("plot", "docs/results/jpeg-kodak.json", "-o", tmp_path / "rd")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rd.png").is_file() and "rd.png" in proc.stderr


def test_an_unwritable_output_suffix_fails_before_decoding(run_cli, encoded, tmp_path):
    proc = run_cli("decode", encoded, "-o", tmp_path / "out.xyz")
    assert_clean_failure(proc, tmp_path / "out.xyz")
    assert ".xyz" in proc.stderr
    proc = run_cli("decode", encoded.parent, "-o", tmp_path / "outdir", "--format", "xyz")
    assert_clean_failure(proc)
