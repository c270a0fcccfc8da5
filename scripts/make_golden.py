"""Add golden files: bitstreams of small real crops at every shipped rate point, with their decoded hashes.

    python scripts/make_golden.py            # writes only the files that are not there yet

Golden files are append-only: a file once committed is never regenerated, because it stands for every file
users already hold. ``tests/test_golden.py`` decodes them all and compares, per file:

- ``symbols_sha256``: SHA-256 of the entropy-decoded symbols (int32, stream by stream) — exact on any machine;
- ``pixels_sha256``: SHA-256 of the decoded image's pixels as the PNG stores them (uint8, H×W for a grey
  original, H×W×3 otherwise). Exact on every machine for a family whose decoder is exact (``exact_pixels``);
  for a family whose synthesis still runs in float32, exact for the CPU kernel set recorded in ``cpu_capability``
  (:func:`neuralcodec.cpu_kernels.cpu_kernels`: oneDNN picks its kernels by ISA, AMX included). The pixel hashes
  of the hyperprior, checkerboard, acgc and vq files were re-recorded once, when their synthesis (and vq q0–q2's
  member draw) became exact (2026-12-07); symbols and bitstreams are unchanged.

Fitted image files (``"fitted": true``, coolchic): a short fit of a crop; ``pixels_sha256`` is exact on every
machine (the whole decoder runs in integers), so they carry no CPU key.

Fitted files with ``alpha_sha256`` (container version 4): an RGBA crop whose alpha plane (made, lossless) the
decoder restores exactly.

Video files (``"media": "video"``, container version 3): a short fit of each video family to a tiny real clip;
``frames_sha256`` is the SHA-256 of every decoded frame (uint8 T×3×H×W), exact on any machine (the whole
decoder runs in fixed point).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuralcodec.codecs.registry import file_family_names, load_codec, shipped_qualities  # noqa: E402
from neuralcodec.coding import decode_bytes, encode_tensor  # noqa: E402
from neuralcodec.cpu_kernels import cpu_kernels  # noqa: E402
from neuralcodec.image_io import read_image, to_pil  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden"
DATASETS = ROOT.parent / "shared" / "datasets"
# (name, source image, left, top, width, height, grey, with an sRGB ICC profile)
CROPS = [
    ("kodim19-333x517", "kodak/kodim19.png", 100, 200, 333, 517, False, False),
    ("bsds101085-grey-150x97", "bsds500/val/101085.jpg", 40, 60, 150, 97, True, False),
    ("bsds102061-200x131", "bsds500/val/102061.jpg", 90, 30, 200, 131, False, False),
    ("bsds103070-icc-120x88", "bsds500/val/103070.jpg", 10, 20, 120, 88, False, True),  # container version 2
]
# fitted image families: (crop name from CROPS, family, quality, iterations, tile size or None for the default)
FITTED = [
    ("bsds102061-200x131", "coolchic", 2, 60, None),
    ("bsds101085-grey-150x97", "coolchic", 4, 60, None),
    ("kodim19-333x517", "coolchic", 3, 30, 256),  # 2×3 tiles of at most 256×256
]
# fitted crops with a made alpha plane (container version 4): (name, source image, left, top, width, height,
# family, quality, iterations)
ALPHA = [
    ("bsds102061-alpha-96x64", "bsds500/val/102061.jpg", 90, 30, 96, 64, "coolchic", 2, 60),
]
# (name, clip folder of PNG frames, left, top, width, height, frames, family, quality, epochs)
CLIPS = [
    ("basketballpass-40x32x4", "video/basketballpass_416x240", 180, 100, 40, 32, 4, "nerv", 0, 30),  # version 3
]


def crop_source(name: str, source: str, left: int, top: int, width: int, height: int, grey: bool,
                icc: bool) -> Path:
    """The crop as a PNG input file under the golden folder (kept, so the inputs are in git too)."""
    out = GOLDEN / "inputs" / f"{name}.png"
    if not out.is_file():
        with Image.open(DATASETS / source) as img:
            img = img.crop((left, top, left + width, top + height))
            extra = {}
            if icc:
                from PIL import ImageCms

                extra["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
            (img.convert("L") if grey else img.convert("RGB")).save(out, **extra)
    return out


def alpha_source(name: str, source: str, left: int, top: int, width: int, height: int) -> Path:
    """An RGBA crop whose alpha is a made pattern: opaque left half, a 97 square, a ramp along the bottom rows."""
    out = GOLDEN / "inputs" / f"{name}.png"
    if not out.is_file():
        with Image.open(DATASETS / source) as img:
            rgba = img.crop((left, top, left + width, top + height)).convert("RGBA")
        alpha = np.zeros((height, width), np.uint8)
        alpha[:, : width // 2] = 255
        alpha[8:24, width // 2 + 8 : width // 2 + 24] = 97
        alpha[-4:] = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)
        rgba.putalpha(Image.fromarray(alpha))
        rgba.save(out)
    return out


def pixels_sha256(image: torch.Tensor, channels: int) -> str:
    return hashlib.sha256(np.asarray(to_pil(image, channels)).tobytes()).hexdigest()


def decoded_symbols_sha256(data: bytes) -> str:
    """SHA-256 of the entropy-decoded symbols of every stream, in stream order (z, then y)."""
    from neuralcodec.bitstream import unpack
    from neuralcodec.codecs.registry import family_name_of_id

    header, chunks = unpack(data)
    codec = load_codec(family_name_of_id(header.family_id), header.rate_point)
    symbols = codec.decode_symbols(codec.family.streams_from_chunks(chunks), header.height, header.width)
    h = hashlib.sha256()
    for stream in codec.family.stream_names:
        h.update(np.ascontiguousarray(symbols[stream], dtype=np.int32).tobytes())
    return h.hexdigest()


def encode_fitted(image: torch.Tensor, info, family: str, quality: int, iterations: int, tile: int | None) -> bytes:
    """A short fit of a fitted image family, in its container (a tile size other than the default: through the
    fitter directly)."""
    from neuralcodec.bitstream import Header, pack
    from neuralcodec.codecs.registry import get_family
    from neuralcodec.coding import encode_fitted_tensor
    from neuralcodec.training.coolchic_fit import encode_image

    if tile is None:
        return encode_fitted_tensor(image, info, family, quality, {"iterations": iterations}).data
    declared = get_family(family)
    fitted = encode_image(image, quality=quality, iterations=iterations, tile=tile)
    header = Header(family_id=declared.family_id, model_id=0, rate_point=quality,
                    weights_hash=declared.streams_hash(fitted.streams), height=image.shape[1], width=image.shape[2],
                    channels=info.channels, bit_depth=info.bit_depth, icc_profile=info.icc_profile)
    return pack(header, declared.chunks_from_streams(fitted.streams))


def main() -> None:
    (GOLDEN / "inputs").mkdir(parents=True, exist_ok=True)
    index_path = GOLDEN / "golden.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"files": {}}
    for spec in CROPS:
        src = crop_source(*spec)
        image, info = read_image(src)
        for family in file_family_names():
            for q in shipped_qualities(family):
                name = f"{spec[0]}-{family}-q{q}.bin"
                if name in index["files"]:
                    continue
                codec = load_codec(family, q)
                data = encode_tensor(image, info, codec).data
                (GOLDEN / name).write_bytes(data)
                decoded, header = decode_bytes(data)
                index["files"][name] = {
                    "input": f"inputs/{src.name}", "family": family, "quality": q,
                    "bin_sha256": hashlib.sha256(data).hexdigest(),
                    "symbols_sha256": decoded_symbols_sha256(data),
                    "pixels_sha256": pixels_sha256(decoded, header.channels),
                    "format_version": header.version,
                }
                if not codec.exact_pixels:  # a float part: pixels exact on this kernel set only
                    index["files"][name]["cpu_capability"] = cpu_kernels()
                print(f"wrote {name}: {len(data)} bytes")
    for crop, family, quality, iterations, tile in FITTED:
        name = f"{crop}-{family}-q{quality}.bin"
        if name in index["files"]:
            continue
        spec = next(c for c in CROPS if c[0] == crop)
        src = crop_source(*spec)
        image, info = read_image(src)
        data = encode_fitted(image, info, family, quality, iterations, tile)
        (GOLDEN / name).write_bytes(data)
        decoded, header = decode_bytes(data)
        index["files"][name] = {
            "input": f"inputs/{src.name}", "family": family, "quality": quality, "fitted": True,
            "bin_sha256": hashlib.sha256(data).hexdigest(),
            "pixels_sha256": pixels_sha256(decoded, header.channels),  # exact on every machine: no CPU key
            "format_version": header.version,
        }
        print(f"wrote {name}: {len(data)} bytes")
    for crop, source, left, top, width, height, family, quality, iterations in ALPHA:
        name = f"{crop}-{family}-q{quality}.bin"
        if name in index["files"]:
            continue
        src = alpha_source(crop, source, left, top, width, height)
        image, info = read_image(src)
        data = encode_fitted(image, info, family, quality, iterations, None)
        (GOLDEN / name).write_bytes(data)
        decoded, header = decode_bytes(data)
        restored = to_pil(decoded, header.channels, header.icc_profile, header.alpha)
        index["files"][name] = {
            "input": f"inputs/{src.name}", "family": family, "quality": quality, "fitted": True,
            "bin_sha256": hashlib.sha256(data).hexdigest(),
            "pixels_sha256": pixels_sha256(decoded, header.channels),  # exact on every machine: no CPU key
            "alpha_sha256": hashlib.sha256(np.asarray(restored.getchannel("A")).tobytes()).hexdigest(),
            "format_version": header.version,
        }
        print(f"wrote {name}: {len(data)} bytes")
    for name, source, left, top, width, height, count, family, quality, epochs in CLIPS:
        name = f"{name}-{family}-q{quality}.bin"
        if name in index["files"]:
            continue
        from neuralcodec.video_coding import decode_video, encode_frames
        from neuralcodec.video_io import read_video_rgb

        frames, info = read_video_rgb(DATASETS / source, max_frames=count)
        clip = np.ascontiguousarray(frames[:, top : top + height, left : left + width])
        data = encode_frames(clip, info.fps, quality=quality, epochs=epochs).data
        (GOLDEN / name).write_bytes(data)
        header, decoded = decode_video(data)
        index["files"][name] = {
            "input": f"{source} frames 1-{count}, crop {width}x{height} at ({left}, {top})", "family": family,
            "quality": quality, "media": "video", "bin_sha256": hashlib.sha256(data).hexdigest(),
            "frames_sha256": hashlib.sha256(torch.stack(list(decoded)).numpy().tobytes()).hexdigest(),
            "format_version": header.version,
        }
        print(f"wrote {name}: {len(data)} bytes")
    index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
