"""Real coding with the shipped models: bit-exact symbols, files on disk, every input kind Pillow reads."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.bitstream import FORMAT_VERSION, unpack
from neuralcodec.codecs.model_file import load_model_file, save_model_file
from neuralcodec.codecs.registry import load_codec, model_path, shipped_qualities
from neuralcodec.coding import decode_bytes, encode_file, encode_tensor
from neuralcodec.errors import DecodeError, InputError, ModelError
from neuralcodec.image_io import read_image

QUALITIES = shipped_qualities("hyperprior")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return 10 * math.log10(255**2 / mse)


def test_a_default_model_is_shipped():
    assert QUALITIES, "no shipped hyperprior model"
    assert model_path("hyperprior", 3).stat().st_size <= 12e6


@pytest.mark.parametrize("quality", QUALITIES)
def test_shipped_rate_point_roundtrip_through_a_file(quality, sample_path, tmp_path):
    codec = load_codec("hyperprior", quality)
    enc = encode_file(sample_path, "hyperprior", quality, reconstruct=True)
    path = tmp_path / "sample.bin"
    path.write_bytes(enc.data)
    data = path.read_bytes()
    header, chunks = unpack(data)
    image, _ = read_image(sample_path)
    # symbols decode bit-exactly
    sent = codec.analyse(image)
    got = codec.decode_latents(codec.family.streams_from_chunks(chunks), header.height, header.width)
    assert torch.equal(sent.z_symbols, got.z_symbols) and torch.equal(sent.y_symbols, got.y_symbols)
    assert torch.equal(sent.means, got.means) and np.array_equal(sent.indexes, got.indexes)
    # the decoded file equals the encoder's reconstruction and matches the in-memory rounded pass
    decoded, _ = decode_bytes(data)
    assert torch.equal(decoded, enc.reconstruction)
    # the exact synthesis stays within 0.02 dB of the float one (measured on Kodak in docs/results.md)
    assert abs(psnr(decoded, image) - psnr(codec.forward_rounded(image), image)) < 0.02
    assert psnr(decoded, image) > 20


@pytest.mark.parametrize("quality", QUALITIES)
def test_every_shipped_rate_point_fits_the_size_budget(quality):
    assert model_path("hyperprior", quality).stat().st_size <= 12e6


def test_bpp_and_psnr_increase_with_the_quality_index(sample_path):
    image, info = read_image(sample_path)
    points = []
    for quality in QUALITIES:
        data = encode_tensor(image, info, load_codec("hyperprior", quality)).data
        decoded, _ = decode_bytes(data)
        points.append((len(data), psnr(decoded, image)))
    sizes, psnrs = zip(*points, strict=True)
    assert list(sizes) == sorted(sizes) and len(set(sizes)) == len(sizes), points
    assert list(psnrs) == sorted(psnrs), points


@pytest.mark.parametrize("size", [(1, 1), (61, 97), (64, 64), (130, 67)])
def test_any_image_size(size, default_codec):
    h, w = size
    rng = np.random.default_rng(h * w)
    image = torch.from_numpy(rng.integers(0, 256, size=(3, h, w), dtype=np.uint8))
    from neuralcodec.image_io import ImageInfo

    enc = encode_tensor(image, ImageInfo(3, 8), default_codec, reconstruct=True)
    decoded, header = decode_bytes(enc.data)
    assert decoded.shape == (3, h, w) and (header.height, header.width) == (h, w)
    assert torch.equal(decoded, enc.reconstruction)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,suffix,mode,channels,bit_depth", [
    ("PNG", ".png", "RGB", 3, 8), ("JPEG", ".jpg", "RGB", 3, 8), ("PPM", ".ppm", "RGB", 3, 8),
    ("BMP", ".bmp", "RGB", 3, 8), ("TIFF", ".tif", "RGB", 3, 8), ("WEBP", ".webp", "RGB", 3, 8),
    ("PNG", ".png", "L", 1, 8), ("PNG", ".png", "P", 3, 8), ("PNG", ".png", "RGBA", 4, 8),
    ("PNG", ".png", "I;16", 1, 16), ("PNG", ".png", "LA", 1, 8),
])
def test_input_formats_and_conversion_rule(fmt, suffix, mode, channels, bit_depth, sample_path, tmp_path):
    base = Image.open(sample_path).convert("RGB").crop((0, 0, 96, 80))
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    elif mode == "P":
        img = base.quantize(64)
    else:
        img = base.convert(mode)
    path = tmp_path / f"in{suffix}"
    path.write_bytes(_save(img, fmt))
    image, info = read_image(path)
    assert image.dtype == torch.uint8 and image.shape == (3, 80, 96)
    assert (info.channels, info.bit_depth) == (channels, bit_depth)
    if channels == 1:
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    enc = encode_file(path)
    decoded, header = decode_bytes(enc.data)
    assert (header.channels, header.bit_depth) == (channels, bit_depth)
    assert psnr(decoded, image) > 18


def test_unreadable_inputs(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    for name in ["empty.png", "text.png", "missing.png"]:
        with pytest.raises(InputError):
            read_image(tmp_path / name)


def test_decoding_with_other_weights_is_refused(sample_path, tmp_path):
    blob = load_model_file(model_path("hyperprior", QUALITIES[0]))
    key = next(k for k in blob["weights"] if k.startswith("g_s.") and k.endswith("weight"))
    blob["weights"][key] = blob["weights"][key] * 1.01
    other = tmp_path / "other.pt"
    save_model_file(blob, other)
    enc = encode_file(sample_path, model_file=other, reconstruct=True)
    with pytest.raises(DecodeError, match="weights"):
        decode_bytes(enc.data)
    decoded, _ = decode_bytes(enc.data, model_file=other)
    assert torch.equal(decoded, enc.reconstruction)


def test_a_missing_model_file_is_named_exactly(sample_path, tmp_path, monkeypatch):
    """A bitstream whose model is not installed says which file it needs (never another rate point's)."""
    import neuralcodec.codecs.registry as registry

    enc = encode_file(sample_path, "hyperprior", QUALITIES[0])
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)  # an install that lacks the model
    with pytest.raises(ModelError, match=rf"needs model file hyperprior-q{QUALITIES[0]}\.pt .*weights "
                       rf"{enc.header.weights_hash.hex()}"):
        decode_bytes(enc.data)


def test_quality_and_model_file_exclude_each_other(sample_path):
    with pytest.raises(ModelError, match="either a quality or a model file"):
        encode_file(sample_path, "hyperprior", QUALITIES[0], model_file=model_path("hyperprior", QUALITIES[0]))


def test_exif_orientation_is_applied_and_extra_frames_warn(sample_path, tmp_path):
    from neuralcodec.image_io import InputWarning

    upright = Image.open(sample_path).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate it 90° clockwise
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif, quality=98)
    image, _ = read_image(tmp_path / "phone.jpg")
    assert image.shape[1:] == (upright.height, upright.width)
    diff = np.abs(image.permute(1, 2, 0).numpy().astype(int) - np.asarray(upright, dtype=int)).mean()
    assert diff < 4  # the JPEG round trip only
    frames = [upright, upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(InputWarning, match="2 frames"):
        read_image(tmp_path / "anim.gif")


def _write_rgb16_png(path, rgb16: np.ndarray) -> None:
    """A 16-bit RGB PNG written byte by byte (Pillow writes no 16-bit RGB PNGs)."""
    import struct
    import zlib

    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_sixteen_bit_rgb_is_recorded_as_sixteen_bit(sample_path, tmp_path):
    rgb8 = np.asarray(Image.open(sample_path).convert("RGB"))[:48, :80]
    _write_rgb16_png(tmp_path / "deep.png", rgb8.astype(np.uint16) * 257)
    image, info = read_image(tmp_path / "deep.png")
    assert (info.channels, info.bit_depth) == (3, 16)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), rgb8)  # v·257 keeps its high byte v
    enc = encode_file(tmp_path / "deep.png", "hyperprior", QUALITIES[0])
    assert unpack(enc.data)[0].bit_depth == 16


def test_icc_profile_survives_the_round_trip(run_cli, sample_path, tmp_path):
    """The original's colour profile is stored in the container and written into every decoded format."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any real, non-sRGB profile
    crop = Image.open(sample_path).convert("RGB").crop((0, 0, 96, 64))
    crop.save(tmp_path / "tagged.png", icc_profile=profile)
    assert run_cli("encode", str(tmp_path / "tagged.png"), "-o", str(tmp_path / "tagged.bin")).returncode == 0
    header, _ = unpack((tmp_path / "tagged.bin").read_bytes())
    assert header.icc_profile == profile and header.version == FORMAT_VERSION
    info = run_cli("info", str(tmp_path / "tagged.bin"))
    assert f"{len(profile)} bytes" in info.stdout
    for suffix in (".png", ".tif", ".jpg", ".webp"):
        out = tmp_path / f"decoded{suffix}"
        proc = run_cli("decode", str(tmp_path / "tagged.bin"), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert Image.open(out).info.get("icc_profile") == profile, suffix
    crop.save(tmp_path / "plain.png")  # no profile: none stored, none written, version-1 size
    plain = encode_file(tmp_path / "plain.png", "hyperprior", QUALITIES[0])
    assert plain.header.icc_profile == b"" and unpack(plain.data)[0].flags == 0
    from neuralcodec.api import decode

    decoded = decode(plain.data)
    assert "icc_profile" not in decoded.info


def test_float_and_32_bit_grayscale_follow_the_documented_rule(tmp_path):
    """Float grey is taken as 0…255 values (clipped, rounded); 32-bit integer grey as 16-bit samples (clipped)."""
    values = np.array([[-5.0, 0.4, 127.5, 300.0]], dtype=np.float32)
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    image, info = read_image(tmp_path / "float.tif")
    assert (info.channels, info.bit_depth) == (1, 8)
    assert image[0].tolist() == [[0, 0, 128, 255]] and torch.equal(image[0], image[2])
    deep = np.array([[0, 65535, 70000, 32768]], dtype=np.int32)
    Image.fromarray(deep, mode="I").save(tmp_path / "int32.tif")
    image, info = read_image(tmp_path / "int32.tif")
    assert (info.channels, info.bit_depth) == (1, 16)
    assert image[0].tolist() == [[0, 255, 255, 128]]
