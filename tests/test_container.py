"""Container: every field round-trips; malformed bytes raise only DecodeError, before any allocation."""

from __future__ import annotations

import zlib

import pytest

from neuralcodec.bitstream import FORMAT_VERSION, MAX_PIXELS, Header, pack, unpack
from neuralcodec.bitstream.container import encode_varint
from neuralcodec.errors import DecodeError

HEADER = Header(family_id=1, model_id=0, rate_point=3, weights_hash=b"\x01\x02\x03\x04", height=512, width=768,
                channels=3, bit_depth=8)
CHUNKS = [b"z" * 900, b"y" * 30000]


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "big")


def test_roundtrip_every_field():
    header = Header(family_id=7, model_id=2, rate_point=9, weights_hash=b"\xaa\xbb\xcc\xdd", height=1, width=32768,
                    channels=1, bit_depth=16, flags=0)
    got, chunks = unpack(pack(header, [b"", b"abc", b"\x00" * 300]))
    assert got == header and chunks == [b"", b"abc", b"\x00" * 300]


def test_fixed_overhead_at_most_32_bytes_for_kodak():
    data = pack(HEADER, CHUNKS)
    assert len(data) - sum(map(len, CHUNKS)) <= 32


def test_every_truncation_is_refused():
    data = pack(HEADER, [b"z" * 20, b"y" * 50])
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            unpack(data[:n])


def test_every_bit_flip_is_refused():
    data = pack(HEADER, [b"z" * 20, b"y" * 50])
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            with pytest.raises(DecodeError):
                unpack(bytes(flipped))


def test_wrong_magic_and_version():
    data = pack(HEADER, CHUNKS)
    with pytest.raises(DecodeError, match="magic"):
        unpack(b"\x89PNG" + data[4:])
    with pytest.raises(DecodeError, match="version"):
        unpack(with_crc(data[:4] + b"\x09" + data[5:-4]))
    with pytest.raises(DecodeError):
        unpack(b"")


def _body(height: int, width: int, count: int, lengths: list[int], payload: bytes, channels: int = 3,
          flags: int = 0, version: int = 1, icc: bytes = b"") -> bytes:
    """A container written field by field (version 1 unless asked), with a valid CRC."""
    head = b"NCDC" + bytes([version, 1, 0, 3]) + b"\x01\x02\x03\x04" + encode_varint(height) + encode_varint(width)
    head += bytes([channels, 8, flags, count]) + b"".join(encode_varint(n) for n in lengths) + icc
    return with_crc(head + payload)


def test_absurd_dimensions_refused_with_valid_crc():
    for h, w in [(100000, 100000), (0, 10), (20000, 20000), (2**34, 1)]:
        with pytest.raises(DecodeError):
            unpack(_body(h, w, 1, [3], b"abc"))
    assert 20000 * 20000 > MAX_PIXELS


def test_inflated_lengths_and_counts_refused_with_valid_crc():
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 1, [2**30], b"abc"))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 2, [1, 1], b"abc"))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 200, [1], b"a"))
    with pytest.raises(DecodeError):  # a varint that never ends
        unpack(with_crc(b"NCDC" + bytes([1, 1, 0, 3]) + b"abcd" + b"\xff" * 12))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 1, [3], b"abc", channels=2))


def test_icc_profile_round_trips_in_versions_2_and_3():
    profile = bytes(range(256)) * 3
    header = Header(family_id=1, model_id=0, rate_point=3, weights_hash=b"\x01\x02\x03\x04", height=5, width=7,
                    channels=3, bit_depth=8, icc_profile=profile)
    data = pack(header, CHUNKS)
    got, chunks = unpack(data)
    assert got.icc_profile == profile and got.flags == 1 and got.version == FORMAT_VERSION and chunks == CHUNKS
    plain = pack(HEADER, CHUNKS)  # an image file without a profile is as long as version 1's
    assert unpack(plain)[0].flags == 0 and len(plain) == len(_body(512, 768, 2, [900, 30000], b"".join(CHUNKS)))


def test_version_1_files_keep_reading():
    """A version-1 file (this layout was written until 2026-11-30) parses; its flags byte is not read."""
    header, chunks = unpack(_body(16, 24, 2, [1, 2], b"abc"))
    assert header.version == 1 and header.icc_profile == b"" and chunks == [b"a", b"bc"]
    header, _ = unpack(_body(16, 24, 1, [3], b"abc", flags=0x80))
    assert header.version == 1


def test_version_2_refuses_unknown_flags_and_bad_profile_lengths():
    with pytest.raises(DecodeError, match="flags"):
        unpack(_body(16, 24, 1, [3], b"abc", flags=0x02, version=2))
    for claimed in (0, 2**21, 50):  # empty, over the limit, longer than the file
        with pytest.raises(DecodeError):
            unpack(_body(16, 24, 1, [3], b"abc", flags=0x01, version=2, icc=encode_varint(claimed) + b"\x00" * 10))


VIDEO = Header(family_id=4, model_id=0, rate_point=1, weights_hash=b"\x01\x02\x03\x04", height=240, width=416,
               channels=3, bit_depth=8, frames=100, fps_num=50, fps_den=1, colour_format=1)


def test_video_fields_round_trip_from_version_3_on():
    for header in (VIDEO, Header(**{**VIDEO.__dict__, "icc_profile": b"icc!", "fps_num": 30000, "fps_den": 1001})):
        got, chunks = unpack(pack(header, CHUNKS))
        assert got.is_video and chunks == CHUNKS and got.version == FORMAT_VERSION  # version 3's layout
        assert (got.frames, got.fps_num, got.fps_den, got.colour_format, got.icc_profile) == (
            header.frames, header.fps_num, header.fps_den, header.colour_format, header.icc_profile)
    assert not unpack(pack(HEADER, CHUNKS))[0].is_video


def _video_body(frames: int, fps_num: int, fps_den: int, colour: int, height: int = 240, width: int = 416,
                version: int = 3) -> bytes:
    tail = encode_varint(frames) + encode_varint(fps_num) + encode_varint(fps_den) + bytes([colour])
    return _body(height, width, 1, [3], b"abc", flags=0x02, version=version, icc=tail)


def test_video_fields_checked_before_any_allocation():
    assert unpack(_video_body(100, 50, 1, 1))[0].frames == 100
    bad = [(0, 50, 1, 1), (1 << 17, 50, 1, 1), (10, 0, 1, 1), (10, 50, 0, 1), (10, 1 << 21, 1, 1), (10, 50, 1, 7)]
    for fields in bad:
        with pytest.raises(DecodeError):
            unpack(_video_body(*fields))
    with pytest.raises(DecodeError, match="pixels in all"):  # every frame allowed, the total is not
        unpack(_video_body(65536, 50, 1, 0, height=8192, width=8192))
    with pytest.raises(DecodeError, match="flags"):  # version 2 never had video
        unpack(_video_body(100, 50, 1, 1, version=2))
    tail = encode_varint(100) + encode_varint(50) + encode_varint(1) + bytes([1])
    for n in range(len(tail)):  # video fields cut short (valid CRC): no chunk bytes may be read as them
        with pytest.raises(DecodeError):
            unpack(_body(240, 416, 1, [0], b"", flags=0x02, version=3, icc=tail[:n]))


def test_alpha_plane_round_trips_in_version_4_and_older_versions_refuse_its_flag():
    alpha = b"\x89PNG-like lossless plane"
    header = Header(**{**HEADER.__dict__, "channels": 4, "alpha": alpha, "icc_profile": b"icc"})
    got, chunks = unpack(pack(header, CHUNKS))
    assert got.alpha == alpha and got.icc_profile == b"icc" and got.flags == 0x05 and chunks == CHUNKS
    assert FORMAT_VERSION == 4
    plain = pack(HEADER, CHUNKS)  # without alpha: version 3's layout, byte for byte but the version
    old = bytearray(plain[:-4])
    old[4] = 3
    assert unpack(bytes(old) + zlib.crc32(bytes(old)).to_bytes(4, "big"))[0].version == 3
    with pytest.raises(DecodeError, match="flags"):
        unpack(_body(16, 24, 1, [3], b"abc", flags=0x04, version=3, icc=encode_varint(3) + b"xyz"))
    for claimed in (0, 16 * 25 + 16 * 25 // 100 + 4097, 50):  # empty, over what the plane can take, past the end
        with pytest.raises(DecodeError):
            unpack(_body(16, 24, 1, [3], b"abc", flags=0x04, version=4, icc=encode_varint(claimed) + b"\x00" * 10))
    with pytest.raises(DecodeError, match="video"):
        pack(Header(**{**VIDEO.__dict__, "alpha": b"a"}), CHUNKS)
