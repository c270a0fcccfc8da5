"""Every file this project ever wrote keeps decoding: the golden bitstreams decode bit-identically.

The files under ``tests/data/golden/`` were made by earlier builds (``scripts/make_golden.py`` only ever adds
files). Entropy-decoded symbols must match on every machine, and so must the decoded pixels of every family whose
decoder is exact (``exact_pixels``: the file's record has no CPU key). Files whose decoder has a float part would
record the CPU kernel set their pixels were made with, and be compared only there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodec.bitstream import unpack
from neuralcodec.coding import decode_bytes, load_codec_for
from neuralcodec.cpu_kernels import cpu_kernels
from neuralcodec.image_io import to_pil

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
ALL = json.loads((GOLDEN / "golden.json").read_text())["files"]
INDEX = {name: rec for name, rec in ALL.items() if rec.get("media", "image") == "image" and not rec.get("fitted")}
FITTED = {name: rec for name, rec in ALL.items() if rec.get("fitted")}
VIDEOS = {name: rec for name, rec in ALL.items() if rec.get("media") == "video"}


def test_golden_set_covers_every_shipped_rate_point():
    from neuralcodec.codecs.registry import file_family_names, get_family, shipped_qualities

    recorded = {(rec["family"], rec["quality"]) for rec in INDEX.values()}
    for family in file_family_names():
        for q in shipped_qualities(family):
            assert (family, q) in recorded, f"no golden file for {family} q{q}: run scripts/make_golden.py"
    videos = {rec["family"] for rec in VIDEOS.values()}
    fitted = {rec["family"] for rec in FITTED.values()}
    for family in file_family_names():
        if get_family(family).media == "video":
            assert family in videos, f"no golden file for the video family {family}: run scripts/make_golden.py"
        elif get_family(family).kind == "fitted":
            assert family in fitted, f"no golden file for the fitted family {family}: run scripts/make_golden.py"


def _golden_bytes(name: str, rec: dict) -> bytes:
    """A golden file's bytes, checked against the hash recorded when it was written."""
    data = (GOLDEN / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == rec["bin_sha256"], "a golden file was changed in place"
    return data


@pytest.mark.parametrize("name", sorted(INDEX))
def test_golden_file_decodes_bit_identically(name):
    rec = INDEX[name]
    data = _golden_bytes(name, rec)
    header, streams = unpack(data)
    codec = load_codec_for(header)
    symbols = codec.decode_symbols(codec.family.streams_from_chunks(streams), header.height, header.width)
    h = hashlib.sha256()
    for stream in codec.family.stream_names:
        h.update(np.ascontiguousarray(symbols[stream], dtype=np.int32).tobytes())
    assert h.hexdigest() == rec["symbols_sha256"]
    assert header.version == rec.get("format_version", 1)
    if header.version >= 2:  # the input's colour profile is kept
        from PIL import Image

        assert header.icc_profile == (Image.open(GOLDEN / rec["input"]).info.get("icc_profile") or b"")
    image, header = decode_bytes(data)
    pixels = hashlib.sha256(np.asarray(to_pil(image, header.channels)).tobytes()).hexdigest()
    if codec.exact_pixels:  # the same pixels on every machine
        assert "cpu_capability" not in rec
        assert pixels == rec["pixels_sha256"]
    elif cpu_kernels() == rec["cpu_capability"]:  # float synthesis: exact on the same kernel set
        assert pixels == rec["pixels_sha256"]


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_golden_video_decodes_bit_identically(name):
    """Video files decode to exactly the recorded frames on every machine (the decoder is fixed point)."""
    from neuralcodec.video_coding import decode_video

    rec = VIDEOS[name]
    data = _golden_bytes(name, rec)
    header, frames = decode_video(data)
    assert header.version == rec["format_version"] and header.is_video
    assert hashlib.sha256(torch.stack(list(frames)).numpy().tobytes()).hexdigest() == rec["frames_sha256"]


@pytest.mark.parametrize("name", sorted(FITTED))
def test_golden_fitted_image_decodes_to_the_recorded_pixels_everywhere(name):
    """Fitted image files decode to exactly the recorded pixels on every machine (the decoder is integer)."""
    rec = FITTED[name]
    data = _golden_bytes(name, rec)
    image, header = decode_bytes(data)
    assert header.version == rec["format_version"]
    assert hashlib.sha256(np.asarray(to_pil(image, header.channels)).tobytes()).hexdigest() == rec["pixels_sha256"]
    if "alpha_sha256" in rec:  # version 4: the original's alpha plane, restored exactly
        from PIL import Image

        alpha = np.asarray(to_pil(image, header.channels, header.icc_profile, header.alpha).getchannel("A"))
        assert hashlib.sha256(alpha.tobytes()).hexdigest() == rec["alpha_sha256"]
        assert np.array_equal(alpha, np.asarray(Image.open(GOLDEN / rec["input"]).getchannel("A")))
