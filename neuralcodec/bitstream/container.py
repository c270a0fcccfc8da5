"""neuralcodec's binary container (format versions 1 to 4, specified in ``docs/bitstream.md``).

Knows no networks: it stores who made a stream (codec family, model, weights hash, rate point), what
the original image or video was (size, channels, bit depth, from version 2 its ICC colour profile, from
version 3 a video's frame count, frame rate and colour format), the codec's chunks, and a CRC32 over it all.
Parsing checks every length and limit before anything is allocated and raises only ``DecodeError``.
Version 2 differs from version 1 only by its flags: bit 0 says an ICC profile (varint length, then the bytes)
follows the chunk lengths; a version-2 file without a profile has exactly version 1's size. Version 3 adds
flags bit 1: the video fields follow (after the ICC profile, if any); a version-3 image file has exactly
version 2's layout. Version 4 adds flags bit 2: the original's alpha plane, coded losslessly (the bytes are the
caller's: :mod:`neuralcodec.image_io` stores a greyscale PNG), follows as a varint length and the bytes; a
version-4 file without alpha has exactly version 3's layout.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from neuralcodec.errors import DecodeError

MAGIC = b"NCDC"
FORMAT_VERSION = 4  # what this build writes
READABLE_VERSIONS = (1, 2, 3, 4)  # every version any build wrote: each keeps its reader
FLAG_ICC_PROFILE = 0x01  # version 2: an ICC profile follows the chunk lengths
FLAG_VIDEO = 0x02  # version 3: frame count, frame rate and colour format follow (after the ICC profile)
FLAG_ALPHA = 0x04  # version 4: an image's losslessly coded alpha plane follows (after the ICC profile)
KNOWN_FLAGS = {1: 0, 2: FLAG_ICC_PROFILE, 3: FLAG_ICC_PROFILE | FLAG_VIDEO,
               4: FLAG_ICC_PROFILE | FLAG_VIDEO | FLAG_ALPHA}  # per version (1 ignores flags)
MAX_FRAMES = 1 << 16  # 65,536 frames (18 min at 60 fps)
MAX_VIDEO_SAMPLES = 1 << 36  # frames × height × width: a decode's work is bounded before it starts
MAX_FPS_TERM = 1 << 20  # frame-rate numerator and denominator
COLOUR_FORMATS = {0: "rgb", 1: "yuv420"}  # the source's colour format (what a decoder writes back by default)
MAX_ICC_BYTES = 1 << 20  # ICC profiles are kilobytes; a larger claim is damage
MAX_CHUNKS = 16
MAX_SIDE = 1 << 15  # 32768 pixels per side
MAX_PIXELS = 1 << 26  # 67 megapixels
ALLOWED_CHANNELS = (1, 3, 4)
ALLOWED_BIT_DEPTHS = (8, 16)
_CRC_SIZE = 4


@dataclass(frozen=True)
class Header:
    """Every field of the container except the chunk payloads."""

    family_id: int  # codec family (its registered id: neuralcodec.codecs.registry)
    model_id: int  # architecture/variant within the family
    rate_point: int  # quality index within the model
    weights_hash: bytes  # first 4 bytes of the SHA-256 of the model's weights
    height: int  # original image size, before any padding
    width: int
    channels: int  # of the original image: 1 (grey), 3 (RGB) or 4 (RGBA; alpha coded from version 4)
    bit_depth: int  # of the original image: 8 or 16 (coded at 8 bits)
    flags: int = 0  # derived on writing (bit 0: ICC profile present); version 1 wrote 0 and never read it
    version: int = field(default=FORMAT_VERSION)
    icc_profile: bytes = b""  # the original's ICC colour profile (version 2), empty if none
    frames: int = 0  # version 3 video: frame count (0: an image)
    fps_num: int = 0  # video frame rate as a fraction fps_num / fps_den
    fps_den: int = 0
    colour_format: int = 0  # video source colour format (COLOUR_FORMATS)
    alpha: bytes = b""  # version 4: the original's alpha plane, coded losslessly; empty if it had none

    @property
    def is_video(self) -> bool:
        return self.frames > 0

    def check(self) -> None:
        """Raise ``DecodeError`` if any field is outside what its version allows."""
        for name in ("family_id", "model_id", "rate_point", "channels", "bit_depth", "flags"):
            if not 0 <= getattr(self, name) <= 255:
                raise DecodeError(f"header field {name} out of range")
        if len(self.weights_hash) != 4:
            raise DecodeError("weights hash must be 4 bytes")
        if not (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE):
            raise DecodeError(f"image size {self.width}×{self.height} outside 1…{MAX_SIDE} per side")
        if self.height * self.width > MAX_PIXELS:
            raise DecodeError(f"image of {self.width}×{self.height} exceeds {MAX_PIXELS} pixels")
        if self.channels not in ALLOWED_CHANNELS:
            raise DecodeError(f"unsupported channel count {self.channels}")
        if self.bit_depth not in ALLOWED_BIT_DEPTHS:
            raise DecodeError(f"unsupported bit depth {self.bit_depth}")
        if len(self.icc_profile) > MAX_ICC_BYTES:
            raise DecodeError(f"ICC profile of {len(self.icc_profile)} bytes exceeds {MAX_ICC_BYTES}")
        if len(self.alpha) > max_alpha_bytes(self.height, self.width):
            raise DecodeError(f"alpha plane of {len(self.alpha)} bytes exceeds what a {self.width}×{self.height} "
                              "plane can take")
        if self.frames:
            if self.alpha:
                raise DecodeError("a video carries no alpha plane")
            if not 1 <= self.frames <= MAX_FRAMES:
                raise DecodeError(f"frame count {self.frames} outside 1…{MAX_FRAMES}")
            if self.frames * self.height * self.width > MAX_VIDEO_SAMPLES:
                raise DecodeError(f"video of {self.frames} frames of {self.width}×{self.height} exceeds "
                                  f"{MAX_VIDEO_SAMPLES} pixels in all")
            if not (1 <= self.fps_num <= MAX_FPS_TERM and 1 <= self.fps_den <= MAX_FPS_TERM):
                raise DecodeError(f"frame rate {self.fps_num}/{self.fps_den} outside 1…{MAX_FPS_TERM} per term")
            if self.colour_format not in COLOUR_FORMATS:
                raise DecodeError(f"unknown colour format {self.colour_format}")
            if (self.channels, self.bit_depth) != (3, 8):
                raise DecodeError("a video is coded as 8-bit colour (3 channels, bit depth 8)")


def max_alpha_bytes(height: int, width: int) -> int:
    """The most a losslessly coded alpha plane may take: the raw plane with a byte per row, plus 1 % and 4 kB
    (a compressor's worst case stays below; a larger claim is damage)."""
    raw = height * (width + 1)
    return raw + raw // 100 + 4096


def encode_varint(value: int) -> bytes:
    """LEB128: 7 bits per byte, least significant first, high bit set on every byte but the last."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class ByteReader:
    """Bounds-checked reads from the bytes before the CRC."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"truncated bitstream (reading {what})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        value = 0
        for shift in range(0, 35, 7):  # at most 5 bytes: values < 2**35
            byte = self.u8(what)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise DecodeError(f"malformed length field ({what})")


def pack(header: Header, chunks: list[bytes]) -> bytes:
    """Serialize a header and its chunks, with the trailing CRC32 (always the current format version)."""
    header.check()
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"at most {MAX_CHUNKS} chunks")
    flags = ((FLAG_ICC_PROFILE if header.icc_profile else 0) | (FLAG_VIDEO if header.frames else 0)
             | (FLAG_ALPHA if header.alpha else 0))
    head = bytearray(MAGIC)
    head += bytes([FORMAT_VERSION, header.family_id, header.model_id, header.rate_point])
    head += header.weights_hash
    head += encode_varint(header.height) + encode_varint(header.width)
    head += bytes([header.channels, header.bit_depth, flags, len(chunks)])
    for chunk in chunks:
        head += encode_varint(len(chunk))
    if header.icc_profile:
        head += encode_varint(len(header.icc_profile)) + header.icc_profile
    if header.frames:
        head += encode_varint(header.frames) + encode_varint(header.fps_num) + encode_varint(header.fps_den)
        head.append(header.colour_format)
    if header.alpha:
        head += encode_varint(len(header.alpha)) + header.alpha
    body = bytes(head) + b"".join(chunks)
    return body + zlib.crc32(body).to_bytes(_CRC_SIZE, "big")


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parse and verify a container; raises ``DecodeError`` on anything malformed."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise DecodeError("not a neuralcodec bitstream (wrong magic)")
    if len(data) < len(MAGIC) + 1 + _CRC_SIZE:
        raise DecodeError("truncated bitstream")
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise DecodeError(f"unsupported format version {version} (this build reads {readable})")
    body, crc = data[:-_CRC_SIZE], int.from_bytes(data[-_CRC_SIZE:], "big")
    if zlib.crc32(body) != crc:
        raise DecodeError("bitstream is corrupted or truncated (CRC32 mismatch)")
    r = ByteReader(body)
    r.take(len(MAGIC) + 1, "magic")
    family_id, model_id, rate_point = r.u8("family"), r.u8("model id"), r.u8("rate point")
    weights_hash = r.take(4, "weights hash")
    height, width = r.varint("height"), r.varint("width")
    channels, bit_depth, flags, count = (r.u8(n) for n in ("channels", "bit depth", "flags", "chunk count"))
    if count > MAX_CHUNKS:
        raise DecodeError(f"chunk count {count} exceeds {MAX_CHUNKS}")
    lengths = [r.varint("chunk length") for _ in range(count)]
    icc_profile, video, alpha = b"", (0, 0, 0, 0), b""
    if version >= 2:  # version 1 wrote flags as 0 and never read them
        if flags & ~KNOWN_FLAGS[version]:
            raise DecodeError(f"unknown header flags 0x{flags:02x}")
        if flags & FLAG_ICC_PROFILE:
            size = r.varint("ICC profile length")
            if not 0 < size <= MAX_ICC_BYTES:
                raise DecodeError(f"ICC profile length {size} outside 1…{MAX_ICC_BYTES}")
            icc_profile = r.take(size, "ICC profile")
        if flags & FLAG_VIDEO:
            video = (r.varint("frame count"), r.varint("frame rate"), r.varint("frame rate"),
                     r.u8("colour format"))
            if video[0] == 0:
                raise DecodeError("video with 0 frames")
        if flags & FLAG_ALPHA:
            size = r.varint("alpha length")
            if not 0 < size <= max_alpha_bytes(min(height, MAX_SIDE), min(width, MAX_SIDE)):
                raise DecodeError(f"alpha plane length {size} out of range")
            alpha = r.take(size, "alpha plane")
    header = Header(family_id, model_id, rate_point, weights_hash, height, width, channels, bit_depth,
                    flags=flags, version=version, icc_profile=icc_profile, frames=video[0], fps_num=video[1],
                    fps_den=video[2], colour_format=video[3], alpha=alpha)
    header.check()
    if sum(lengths) != len(body) - r.pos:
        raise DecodeError("chunk lengths do not match the bitstream size")
    chunks = [r.take(n, "chunk") for n in lengths]
    return header, chunks


def overhead(header: Header, num_chunks: int, chunk_lengths: list[int] | None = None) -> int:
    """Bytes the container adds around the payload (for reporting the fixed overhead)."""
    lengths = chunk_lengths or [0] * num_chunks
    return len(pack(header, [b"\0" * n for n in lengths])) - sum(lengths)
