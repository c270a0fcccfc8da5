"""The library API (``neuralcodec.encode`` / ``decode`` / ``load_codec``) and what inference imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import neuralcodec
from neuralcodec.bitstream import unpack

ROOT = Path(__file__).resolve().parent.parent


def test_every_image_form_encodes_to_the_same_bytes(sample_path):
    pil = Image.open(sample_path).convert("RGB")
    array = np.asarray(pil)
    forms = [sample_path, str(sample_path), pil, array, torch.from_numpy(array).permute(2, 0, 1).contiguous()]
    streams = {neuralcodec.encode(form, quality=1) for form in forms}
    assert len(streams) == 1
    data = streams.pop()
    header, _ = unpack(data)
    assert (header.rate_point, header.width, header.height) == (1, pil.width, pil.height)
    decoded = neuralcodec.decode(data)
    assert isinstance(decoded, Image.Image) and decoded.size == pil.size and decoded.mode == "RGB"
    psnr = 10 * np.log10(255**2 / np.mean((np.asarray(decoded, np.float64) - array) ** 2))
    assert psnr > 20


def test_files_bytes_file_objects_floats_and_both_layouts_encode_alike(sample_path, tmp_path):
    pil = Image.open(sample_path).convert("RGB").crop((0, 0, 96, 64))
    png = tmp_path / "crop.png"
    pil.save(png)
    array = np.asarray(pil)
    tensor = torch.from_numpy(array)
    with open(png, "rb") as file:
        from_file_object = neuralcodec.encode(file, quality=1)
    forms = [png.read_bytes(), array.astype(np.float32) / 255, tensor, tensor.permute(2, 0, 1).float() / 255,
             np.moveaxis(array, -1, 0)]
    assert {neuralcodec.encode(form, quality=1) for form in forms} == {from_file_object}
    bin_path = tmp_path / "crop.bin"
    bin_path.write_bytes(from_file_object)
    with open(bin_path, "rb") as file:
        decoded = [neuralcodec.decode(bin_path), neuralcodec.decode(str(bin_path)), neuralcodec.decode(file)]
    assert all(np.array_equal(np.asarray(d), np.asarray(decoded[0])) for d in decoded)
    square = np.zeros((3, 8, 3), np.uint8)  # C×H×W or H×W×C? the caller says
    with pytest.raises(neuralcodec.InputError, match="layout="):
        neuralcodec.encode(square)
    assert unpack(neuralcodec.encode(square, layout="hwc"))[0].width == 8
    assert unpack(neuralcodec.encode(square, layout="chw"))[0].width == 3


@pytest.mark.parametrize("call, words", [
    (lambda data: neuralcodec.decode(data, steps=2), "steps need decoder diffusion"),
    (lambda data: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), codec="coolchic", bogus=1), "bogus: not an option"),
    (lambda data: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), codec="diffusion"), "decode(data, decoder="),
    (lambda data: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), codec="acgc",
                                     model=ROOT / "neuralcodec" / "weights" / "hyperprior-q2.pt"),
     "holds a hyperprior model, not acgc"),
])
def test_errors_speak_to_python_callers(call, words, sample_path):
    data = neuralcodec.encode(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(neuralcodec.NeuralCodecError) as caught:
        call(data)
    assert words in str(caught.value) and "--" not in str(caught.value)


def test_grayscale_array_comes_back_grayscale(sample_path):
    grey = np.asarray(Image.open(sample_path).convert("L"))
    decoded = neuralcodec.decode(neuralcodec.encode(grey))
    assert decoded.mode == "L" and decoded.size == (grey.shape[1], grey.shape[0])


def test_load_codec_and_model_file(sample_path):
    codec = neuralcodec.load_codec("hyperprior", 2)
    assert codec.quality == 2 and codec.family.name == "hyperprior"
    model = ROOT / "neuralcodec" / "weights" / "hyperprior-q2.pt"
    assert neuralcodec.encode(sample_path, model=model) == neuralcodec.encode(sample_path, quality=2)


@pytest.mark.parametrize("call, error", [
    (lambda: neuralcodec.encode(np.full((4, 4), 2.0, np.float32)), neuralcodec.InputError),
    (lambda: neuralcodec.encode(np.zeros((4, 4), np.int32)), neuralcodec.InputError),
    (lambda: neuralcodec.encode(42), neuralcodec.InputError),
    (lambda: neuralcodec.encode("missing.png"), neuralcodec.InputError),
    (lambda: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), codec="nope"), neuralcodec.ModelError),
    (lambda: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), quality=99), neuralcodec.ModelError),
    (lambda: neuralcodec.encode(np.zeros((8, 8, 3), np.uint8), quality=1, model="x.pt"), neuralcodec.InputError),
    (lambda: neuralcodec.decode(b"not a bitstream"), neuralcodec.DecodeError),
    (lambda: neuralcodec.decode("a path"), neuralcodec.InputError),
])
def test_documented_exceptions(call, error):
    with pytest.raises(error):
        call()


LIGHT_DECODE = """
import json, sys
from neuralcodec.cli import main
code = main(["decode", sys.argv[1], "-o", sys.argv[2]])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pytorch_lightning", "lightning", "lightning_fabric",
                                                             "compressai", "scipy", "torch_geometric")
               or m.startswith("neuralcodec.training") or m.startswith("neuralcodec.datasets"))
print(json.dumps({"code": code, "heavy": heavy}))
"""


@pytest.mark.parametrize("command", ["decode", "encode"])
def test_inference_never_imports_lightning_or_training(command, sample_path, tmp_path):
    data = tmp_path / "s.bin"
    data.write_bytes(neuralcodec.encode(sample_path, quality=0))
    script = LIGHT_DECODE if command == "decode" else LIGHT_DECODE.replace('"decode"', '"encode"')
    src, dst = (data, tmp_path / "s.png") if command == "decode" else (sample_path, tmp_path / "t.bin")
    proc = subprocess.run([sys.executable, "-c", script, str(src), str(dst)], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONWARNINGS="ignore"), timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and dst.is_file()
    assert result["heavy"] == [], f"{command} imported {result['heavy']}"


@pytest.mark.parametrize("args", [["info", "tests/data/golden/bsds102061-200x131-hyperprior-q3.bin"], ["list"],
                                  ["--help"], ["encode", "--help"]])
def test_info_list_and_help_do_not_import_torch(args):
    script = (f"import sys\nfrom neuralcodec.cli import main\ntry:\n    code = main({args!r})\n"
              "except SystemExit as exc:\n    code = exc.code\n"
              "print('torch' in sys.modules, code, 'numpy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    torch_loaded, code, numpy_loaded = proc.stdout.strip().splitlines()[-1].split()
    assert (torch_loaded, code) == ("False", "0"), proc.stdout + proc.stderr
    if args[0] == "info":  # parsing a header needs neither numpy nor Pillow (≈ 0.1 s)
        assert numpy_loaded == "False"
