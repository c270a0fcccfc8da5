"""Shared by the context-model tests: real crops of odd sizes and model files with random context networks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neuralcodec.codecs.model_file import load_model_file, save_model_file
from neuralcodec.codecs.registry import get_family, model_path
from neuralcodec.image_io import ImageInfo, read_image

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"


def assert_bands_equal_one_pass(model_file: Path, band_channels: int, monkeypatch) -> None:  # noqa: ANN001
    """Forcing a context codec to run its passes in bands of 1, 2 and 3 latent rows (``band_channels``: the
    channels its ``band_rows`` counts per row) changes no symbol, table, mean or byte, and the file decodes to the
    same image in bands."""
    from neuralcodec.codecs.registry import load_codec
    from neuralcodec.coding import decode_bytes, encode_tensor

    codec = load_codec(model_file=model_file)
    image, _ = odd_crops()[0]
    whole = codec.analyse(image)
    data = encode_tensor(image, ImageInfo(3, 8), codec).data
    decoded = decode_bytes(data, model_file=model_file)[0]
    assert load_codec(model_file=model_file) is codec  # so the decoder below runs in bands too
    for rows in (1, 2, 3):
        monkeypatch.setattr(codec, "context_band_elements", rows * band_channels * whole.y_symbols.shape[3])
        banded = codec.analyse(image)
        assert torch.equal(banded.y_symbols, whole.y_symbols) and torch.equal(banded.means, whole.means)
        assert np.array_equal(banded.indexes, whole.indexes)
        assert encode_tensor(image, ImageInfo(3, 8), codec).data == data
        assert torch.equal(decode_bytes(data, model_file=model_file)[0], decoded)


def odd_crops() -> list[tuple[torch.Tensor, ImageInfo]]:
    """Crops of the bundled sample: 333×217, 65×128, a grayscale 97×150 and 1×1."""
    image, info = read_image(ROOT / "samples" / "parrots.png")
    grey = image[:1].expand(3, -1, -1)
    return [(image[:, :333, :217].contiguous(), info), (image[:, 5:70, 3:131].contiguous(), info),
            (grey[:, :97, :150].contiguous(), ImageInfo(1, 8)), (image[:, :1, :1].contiguous(), info)]


def context_model_file(family_name: str, folder: Path, randomize: Callable[[torch.nn.Module], None]) -> Path:
    """A full model file of ``family_name`` on the shipped hyperprior q0, its context networks set by
    ``randomize`` (an untrained context model would code exactly like the hyperprior)."""
    family = get_family(family_name)
    blob = load_model_file(model_path("hyperprior", 0))
    net = family.build_net(**blob["arch"])
    net.load_state_dict(get_family("hyperprior").float_state_dict(blob), strict=False)
    randomize(net)
    path = folder / f"{family_name}-q0.pt"
    save_model_file(family.export(net, 0, {"test": "random context"}), path)
    return path


DECODE_WORKER = """
import hashlib, json, sys, warnings
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
from neuralcodec.coding import decode_bytes
model, paths = sys.argv[1], sys.argv[2:]
print(json.dumps({p: hashlib.sha256(decode_bytes(open(p, "rb").read(), model)[0].numpy().tobytes()).hexdigest()
                  for p in paths}))
"""


def random_crops(count: int, seed: int) -> list[torch.Tensor]:
    files = sorted(KODAK.glob("*.png"))[:6] or [ROOT / "samples" / "parrots.png"]
    rng = np.random.default_rng(seed)
    images = [read_image(f)[0] for f in files]
    out = []
    for _ in range(count):
        img = images[rng.integers(len(images))]
        h, w = int(rng.integers(1, 161)), int(rng.integers(1, 161))
        top, left = int(rng.integers(0, img.shape[1] - h + 1)), int(rng.integers(0, img.shape[2] - w + 1))
        out.append(img[:, top : top + h, left : left + w].contiguous())
    return out


def fresh_process_decodes(model_file: Path, paths: list[str]) -> dict[str, str]:
    """SHA-256 of each file's decoded pixels, decoded with one thread in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", DECODE_WORKER, str(model_file), *paths], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
