"""The ``codec`` command end to end in subprocesses, including every bad-input case."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralcodec.bitstream import Header, pack, unpack

ROOT = Path(__file__).resolve().parent.parent


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
    assert "decoding: exact: the same pixels on every machine" in info.stdout  # the hyperprior's exact synthesis
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


# --- Unix habits: '-' for stdin / stdout, literal paths, '-o DIR/', --max-pixels on encode -----------------------


def run_binary(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """``codec ARGS`` in a fresh process with binary stdin / stdout (the run_cli fixture is text mode)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def small_png(tmp_path_factory, sample_path):
    """A 96×80 crop of the sample, and its bitstream written the ordinary way (file to file)."""
    folder = tmp_path_factory.mktemp("small")
    png = folder / "small.png"
    Image.open(sample_path).convert("RGB").crop((64, 32, 160, 112)).save(png)
    proc = run_binary("encode", png, "-o", folder / "small.bin")
    assert proc.returncode == 0, proc.stderr
    return png


def test_encode_from_stdin_and_to_stdout_matches_the_file_result(small_png, tmp_path):
    reference = small_png.with_suffix(".bin").read_bytes()
    proc = run_binary("encode", "-", "-o", tmp_path / "in.bin", stdin=small_png.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "in.bin").read_bytes() == reference
    assert proc.stdout.decode().startswith("<stdin> -> ")
    proc = run_binary("encode", small_png, "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reference  # only the bitstream: the status line went to stderr
    assert f"{small_png} -> <stdout>: 96x80" in proc.stderr.decode()


def test_decode_and_info_from_stdin_and_to_stdout_match_the_file_result(small_png, tmp_path):
    bitstream = small_png.with_suffix(".bin")
    proc = run_binary("decode", bitstream, "-o", tmp_path / "ref.png")
    assert proc.returncode == 0, proc.stderr
    reference = (tmp_path / "ref.png").read_bytes()
    proc = run_binary("decode", "-", "-o", tmp_path / "in.png", stdin=bitstream.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "in.png").read_bytes() == reference
    proc = run_binary("decode", bitstream, "-o", "-")  # PNG: --format's default
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reference and "-> <stdout>: 96x80" in proc.stderr.decode()
    proc = run_binary("info", "-", stdin=bitstream.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert "<stdin>" in proc.stdout.decode() and f"{bitstream.stat().st_size} bytes" in proc.stdout.decode()


def test_a_failure_with_output_to_stdout_writes_nothing_there(small_png, tmp_path):
    # a bitstream made by other weights fails only once the model has loaded, i.e. late
    bad = tmp_path / "hash.bin"
    bad.write_bytes(_rewrite_header(small_png.with_suffix(".bin").read_bytes(), weights_hash=b"\0\0\0\0"))
    for proc in [run_binary("decode", bad, "-o", "-"),
                 run_binary("decode", "-", "-o", "-", stdin=bad.read_bytes()[:-3]),
                 run_binary("encode", "-", "-o", "-", stdin=b"this is text, not an image\n")]:
        assert proc.returncode == 1 and proc.stdout == b""
        lines = proc.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("codec: error: "), lines
    assert not list(tmp_path.glob(".*.part"))


def test_a_file_named_like_a_glob_is_taken_literally(tmp_path, sample_path):
    base = Image.open(sample_path).convert("RGB")
    base.crop((0, 0, 64, 48)).save(tmp_path / "a[1].png")
    base.crop((0, 0, 80, 64)).save(tmp_path / "a1.png")  # what the pattern a[1].png would match
    out = tmp_path / "literal.bin"
    proc = run_binary("encode", tmp_path / "a[1].png", "-o", out)
    assert proc.returncode == 0, proc.stderr
    header, _ = unpack(out.read_bytes())
    assert (header.width, header.height) == (64, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a1.png", "a[1].png", "literal.bin"]


def test_output_to_a_folder_takes_the_input_name(run_cli, small_png, tmp_path):
    proc = run_cli("encode", small_png, "-o", f"{tmp_path / 'new' / 'bins'}/")  # created, like batch mode
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "new" / "bins").iterdir()] == ["small.bin"]
    assert f"-> {tmp_path / 'new' / 'bins' / 'small.bin'}:" in proc.stdout
    (tmp_path / "pngs").mkdir()
    proc = run_cli("decode", small_png.with_suffix(".bin"), "-o", tmp_path / "pngs")  # existing: no slash needed
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "pngs" / "small.png").size == (96, 80)
    # a failure leaves no folder behind
    assert_clean_failure(run_cli("encode", tmp_path / "missing.png", "-o", f"{tmp_path / 'gone' / 'sub'}/"))
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("args", [
    ["encode", "-", "-o", "{tmp}/folder/"],  # stdin has no name to give the output
    ["encode", "{tmp}", "-o", "-"],  # a batch cannot go to stdout
    ["encode", "{tmp}/*.png", "-o", "-"],
    ["encode", "{sample}", "-o", "{tmp}/out.png"],  # encode writes bitstreams, not images
    ["encode", "{sample}", "-o", "{tmp}/file.txt/"],  # a file where a folder is asked for
    ["decode", "{tmp}/x.bin", "-o", "-", "--format", "xyz"],  # a format no writer handles
    ["encode", "-", "-o", "{tmp}/out.bin"],  # run_cli's stdin is empty
], ids=["stdin-to-folder", "folder-to-stdout", "glob-to-stdout", "image-suffix", "file-as-folder", "stdout-format",
        "empty-stdin"])
def test_bad_stdio_and_folder_arguments_fail_in_one_line(run_cli, tmp_path, sample_path, args):
    import shutil

    shutil.copy(sample_path, tmp_path / "a.png")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "x.bin").write_bytes(b"not read")
    proc = run_cli(*[a.format(tmp=tmp_path, sample=sample_path) for a in args])
    assert_clean_failure(proc, tmp_path / "out.png", tmp_path / "out.bin", tmp_path / "folder")
    assert proc.stdout == ""


def test_encode_max_pixels(run_cli, small_png, tmp_path):
    out = tmp_path / "out.bin"
    proc = run_cli("encode", small_png, "-o", out, "--max-pixels", 96 * 80 - 1)
    assert_clean_failure(proc, out)
    assert "96×80" in proc.stderr and "--max-pixels 7679" in proc.stderr
    assert "--max-pixels" in run_cli("encode", "--help").stdout
    from neuralcodec.coding import encode_file
    from neuralcodec.errors import InputError

    assert encode_file(small_png, max_pixels=96 * 80).header.width == 96  # the limit itself is allowed
    with pytest.raises(InputError, match="exceeds the limit of 7679 pixels"):
        encode_file(small_png.read_bytes(), max_pixels=96 * 80 - 1)


def test_binary_data_is_not_read_from_or_written_to_a_terminal(small_png, tmp_path):
    import pty

    controller, terminal = pty.openpty()
    try:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        for args, stdin, stdout in [(["encode", small_png, "-o", "-"], subprocess.DEVNULL, terminal),
                                    (["encode", "-", "-o", tmp_path / "x.bin"], terminal, subprocess.PIPE)]:
            proc = subprocess.run([sys.executable, "-m", "neuralcodec.cli", *map(str, args)], stdin=stdin,
                                  stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, env=env, cwd=ROOT)
            assert proc.returncode == 1 and "terminal" in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1
    finally:
        os.close(controller)
        os.close(terminal)
    assert not (tmp_path / "x.bin").exists()


def test_an_image_from_bytes_reads_like_the_file(sample_path, tmp_path):
    from neuralcodec.image_io import InputWarning, read_image, read_image_bytes

    upright = Image.open(sample_path).convert("RGB").crop((0, 0, 96, 64))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the EXIF orientation is applied from bytes too
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif, quality=98)
    from_file, info_file = read_image(tmp_path / "phone.jpg")
    from_bytes, info_bytes = read_image_bytes((tmp_path / "phone.jpg").read_bytes())
    assert from_bytes.shape[1:] == (64, 96) and bool((from_bytes == from_file).all()) and info_bytes == info_file
    upright.save(tmp_path / "anim.gif", save_all=True, append_images=[upright.transpose(Image.Transpose.ROTATE_180)])
    with pytest.warns(InputWarning, match="<stdin> has 2 frames"):
        read_image_bytes((tmp_path / "anim.gif").read_bytes())
    from neuralcodec.errors import InputError

    with pytest.raises(InputError, match="cannot read photo.bytes as an image"):
        read_image_bytes(b"not an image", "photo.bytes")
    with pytest.raises(InputError, match="input is empty: <stdin>"):
        read_image_bytes(b"")
